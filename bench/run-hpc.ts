// The loopback-SSH cases, run by a child of the benchmark inside hv-hpc: the herder connects to the sshd of
// the very host it runs on (127.0.0.1:22, no jump host), as the testbed user, and reaches the same bot.
// Bare calls run interleaved with it as the pairing reference. Prints {cases, notes} as JSON on stdout.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../src/logging/index.js';
import { pingVersusEcho, workloadCases, type BenchPlan } from './cases.js';
import type { Cleanups } from './cleanups.js';
import { BenchEnvironmentError, loadTestbed } from './environment.js';
import type { CaseResult, ChildOutput } from './results.js';
import { SshProbe } from './ssh-probe.js';
import { openBare, openSsh, reconnectNote } from './transports.js';
import { WorkRoots } from './workload.js';

export interface HpcRunOptions {
  readonly botPort: number;
  readonly botHome: string;
  readonly echoPort: number;
  readonly plan: BenchPlan;
  readonly log: Logger;
  readonly cleanups: Cleanups;
  readonly progress: (line: string) => void;
}

export async function runHpcLoopback(opts: HpcRunOptions): Promise<ChildOutput> {
  const { cleanups, log, plan, progress } = opts;
  const testbed = loadTestbed();
  if (testbed === undefined) throw new BenchEnvironmentError('the testbed has no env.json', 'load testbed in hv-hpc');
  const roots = new WorkRoots(testbed.user.uid);
  cleanups.add('remove work directories', () => roots.cleanup());
  const scratch = await mkdtemp(join(tmpdir(), 'hv-bench-hpc-'));
  cleanups.add('remove the known_hosts scratch directory', () => rm(scratch, { recursive: true, force: true }));
  const rpc = {
    remoteHost: '127.0.0.1',
    remotePort: testbed.hosts.hpc.port,
    sshUserName: testbed.user.name,
    sshPassword: { file: testbed.passwordPath },
    remoteBindPort: opts.botPort,
    numTunnels: 3,
    botHome: opts.botHome,
    callTimeout: 60,
    // 127.0.0.1 in hv-hpc is hpc's own sshd; harvester refuses unknown host keys, so pin the one the testbed recorded.
    hostKeys: { remote: [testbed.hostKeyFingerprint('hpc')] },
  };
  const cases: CaseResult[] = [];
  const bare = await openBare(log);
  const loopback = await openSsh('ssh-loopback', rpc, scratch, log);
  const closeLoopback = cleanups.add('close the loopback tunnels', () => loopback.close());
  cases.push(...(await workloadCases([bare, loopback], roots, plan, false, progress)));
  const notes = reconnectNote(loopback);
  await closeLoopback();

  const probe = await SshProbe.open(loopback.plugins.queue.middlewares['rpc']!, opts.echoPort, join(scratch, 'known_hosts-probe'), log);
  cleanups.add('close the probe link', async () => probe.close());
  cases.push(...(await pingVersusEcho(probe, 'ssh-loopback', plan, progress)));
  await cleanups.runAll();
  return { cases, notes };
}
