// The bot on the testbed's hpc host, run as the testbed user (the way an operator runs it on a login node),
// and the "rpc" element that reaches it from hv-core through the jump host.
import { chown, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureBotInstalled } from './bot-install.js';
import type { Testbed } from './testbed.js';

export interface RemoteBot {
  /** Relative to the user's home, as in the "rpc" element's botHome. */
  readonly botHome: string;
  readonly absoluteHome: string;
  readonly port: number;
  readonly pidFile: string;
  /** The command an on-demand launch runs on hpc (remoteCommand): the bot remote-install put there. */
  readonly remoteCommand: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** SIGKILL: no chance to finish anything. */
  kill(): Promise<void>;
  pid(): Promise<number | undefined>;
  /** Lines of the bot's journal that record a call start. */
  journalStarts(): Promise<number>;
  /**
   * The "rpc" element for a queue (password auth through the jump host, the password shared with the jump
   * host, both host keys pinned, unless overridden).
   */
  rpc(extra?: Record<string, unknown>): Record<string, unknown>;
  /** A fresh directory under /tmp the bot's user owns (for access points the bot writes). */
  makeRoot(name: string): Promise<string>;
  /** Removes the bot home and the roots made for this bot. */
  cleanup(): Promise<void>;
}

/** A bot on hpc, installed there first with `harvester remote-install` (see bot-install.ts). */
export async function remoteBot(testbed: Testbed, name: string, port: number): Promise<RemoteBot> {
  const botHome = `.harvester-${name}`;
  const absoluteHome = join(testbed.user.home, botHome);
  const pidFile = join(absoluteHome, 'bot.pid');
  // One folder of roots per bot, removed by cleanup (the roots of every run stayed behind in /tmp).
  const rootsDir = join('/tmp/hv-remote-roots', name);
  const remoteCommand = await ensureBotInstalled(testbed);
  const asUser = async (command: string): Promise<{ code: number | null; stdout: string; stderr: string }> => {
    const result = await testbed.runOnHost('hpc', ['runuser', '-u', testbed.user.name, '--', '/bin/sh', '-c', `umask 022 && cd && ${command}`]);
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
  };
  const pid = async (): Promise<number | undefined> => {
    try {
      const n = Number.parseInt((await readFile(pidFile, 'utf8')).trim(), 10);
      return Number.isInteger(n) ? n : undefined;
    } catch {
      return undefined;
    }
  };
  return {
    botHome,
    absoluteHome,
    port,
    pidFile,
    remoteCommand,
    pid,
    async start() {
      const r = await asUser(`${remoteCommand} --home ${botHome} bot start --port ${port} --pid ${pidFile}`);
      if (r.code !== 0) throw new Error(`starting the bot on hpc failed (exit ${r.code}): ${r.stderr || r.stdout}`);
    },
    async stop() {
      const r = await asUser(`${remoteCommand} --home ${botHome} bot stop --pid ${pidFile}`);
      if (r.code !== 0) throw new Error(`stopping the bot on hpc failed (exit ${r.code}): ${r.stderr || r.stdout}`);
    },
    async kill() {
      const p = await pid();
      if (p === undefined) throw new Error('no bot pid to kill');
      process.kill(p, 'SIGKILL');
      for (let i = 0; i < 100; i++) {
        try {
          process.kill(p, 0);
        } catch {
          return;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`bot pid ${p} survived SIGKILL`);
    },
    async journalStarts() {
      try {
        const text = await readFile(join(absoluteHome, 'bot-journal.jsonl'), 'utf8');
        return text.split('\n').filter((l) => l.includes('"s":"start"')).length;
      } catch {
        return 0;
      }
    },
    rpc(extra = {}) {
      const element: Record<string, unknown> = {
        remoteHost: 'hpc',
        jumpHost: 'jump',
        sshUserName: testbed.user.name,
        sshPassword: { file: testbed.passwordPath },
        // The test user has the same password on both hosts.
        ...('jumpHost' in extra && extra.jumpHost === undefined ? {} : { shareCredentialsWithJump: true }),
        remoteBindPort: port,
        numTunnels: 3,
        botHome,
        remoteCommand,
        callTimeout: 60,
        ...extra,
      };
      return { hostKeys: testbed.pinnedHostKeys(element), ...element };
    },
    async makeRoot(rootName: string) {
      await mkdir(rootsDir, { recursive: true, mode: 0o777 });
      const dir = await mkdtemp(join(rootsDir, `${rootName}-`));
      await chown(dir, testbed.user.uid, -1);
      return dir;
    },
    async cleanup() {
      await rm(absoluteHome, { recursive: true, force: true });
      await rm(rootsDir, { recursive: true, force: true });
    },
  };
}
