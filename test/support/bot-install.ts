// The bot on the testbed's hosts comes from `harvester remote-install`, as on a real site: the test user can
// neither read the repository nor run a Node of its own on hpc. Each test file that needs the bot installs it
// once through the jump host (a no-op after the first file of a run: the same version is already there).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliMain, runCli, type CliResult } from '../cli/support.js';
import type { Testbed, TestbedHostName } from './testbed.js';

/** Where the suite's bot is installed, relative to the test user's home (remote-install's default). */
export const INSTALL_DIR = '.harvester-ts';
const RPC_MODULE = 'pandaharvester.harvestermiddleware.rpc_herder';

/** The remoteCommand of the installed bot (the same path on jump and hpc: they share the user's home). */
export function installedRemoteCommand(testbed: Testbed, dir = INSTALL_DIR): string {
  return `${testbed.user.home}/${dir}/current/bin/harvester`;
}

/** A file of the bundle's examples/ as installed on the hosts (e.g. the SLURM template a queue points to). */
export function installedExample(testbed: Testbed, relative: string, dir = INSTALL_DIR): string {
  return `${testbed.user.home}/${dir}/current/examples/${relative}`;
}

export interface InstallRunOptions {
  /** The host to install on (hpc through jump, or jump directly). */
  readonly host?: TestbedHostName;
  readonly remoteDir?: string;
  /** More arguments for remote-install (--node, --dry-run, --rollback, --start-bot ...). */
  readonly args?: readonly string[];
  /** rpc element overrides (botHome, remoteBindPort, remoteSetup ...). */
  readonly rpc?: Record<string, unknown>;
  readonly timeoutMs?: number;
}

/** Bundles are cached on the core between runs (the Node runtime is ~40 MB): keep the machine's cache. */
export function bundleCacheEnv(): Record<string, string> {
  return { XDG_CACHE_HOME: process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache') };
}

/** The element with the testbed's host keys pinned (harvester refuses unknown ones), unless it pins its own. */
function withPinnedHostKeys(testbed: Testbed, rpc: Record<string, unknown>): Record<string, unknown> {
  return { hostKeys: testbed.pinnedHostKeys(rpc), ...rpc };
}

/** The queue configuration remote-install reads: one queue whose submitter runs through the "rpc" route. */
export function installQueueConfig(testbed: Testbed, opts: InstallRunOptions = {}): Record<string, unknown> {
  const host = opts.host ?? 'hpc';
  return {
    hv_install: {
      queueStatus: 'online',
      mapType: 'OneToOne',
      rpc: withPinnedHostKeys(testbed, {
        name: 'RpcHerder',
        module: RPC_MODULE,
        remoteHost: host,
        // The test user has the same password on both hosts.
        ...(host === 'hpc' ? { jumpHost: 'jump', shareCredentialsWithJump: true } : {}),
        sshUserName: testbed.user.name,
        sshPassword: { file: testbed.passwordPath },
        botHome: '.harvester-install-check',
        remoteBindPort: 18989,
        ...opts.rpc,
      }),
      submitter: { name: 'DummySubmitter', module: 'pandaharvester.harvestersubmitter.dummy_submitter', middleware: 'rpc' },
    },
  };
}

/** Runs `harvester remote-install` on the core (this process's namespace, hv-core) and returns its output. */
export async function runRemoteInstall(testbed: Testbed, opts: InstallRunOptions = {}): Promise<CliResult> {
  const home = await mkdtemp(join(tmpdir(), 'hv-install-'));
  try {
    const queueFile = join(home, 'queues.json');
    await writeFile(queueFile, JSON.stringify(installQueueConfig(testbed, opts)));
    const args = ['remote-install', '--queue', 'hv_install', '--queue-config', queueFile, '--remote-dir', opts.remoteDir ?? INSTALL_DIR, ...(opts.args ?? [])];
    return await runCli(args, { home, env: bundleCacheEnv(), timeoutMs: opts.timeoutMs ?? 240_000 });
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

let suiteInstall: Promise<string> | undefined;

/** Installs the suite's bot on hpc (once per process) and resolves to its remoteCommand. */
export function ensureBotInstalled(testbed: Testbed): Promise<string> {
  suiteInstall ??= runRemoteInstall(testbed).then((result) => {
    if (result.status !== 0) {
      suiteInstall = undefined;
      throw new Error(`harvester remote-install (${cliMain}) failed (exit ${result.status}):\n${result.stdout}\n${result.stderr}`);
    }
    return installedRemoteCommand(testbed);
  });
  return suiteInstall;
}
