// The benchmark proper, run in hv-core (or, without root, wherever we are: local cases only). Bare and
// loopback-TCP cases always run; with the testbed it starts the bot and the echo server on hpc, measures
// through the jump host here, has a child in hv-hpc measure over loopback SSH, and reads the bot's memory.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../src/logging/index.js';
import { pingVersusEcho, throughputCase, workloadCases, type BenchPlan } from './cases.js';
import type { Cleanups } from './cleanups.js';
import { loadTestbed, runForOutput, BenchEnvironmentError } from './environment.js';
import { startHpcServices } from './remote-services.js';
import type { BotMemory } from './report.js';
import { parseChildResults, type CaseResult } from './results.js';
import { SshProbe } from './ssh-probe.js';
import { openBare, openSsh, openTcpLoopback, reconnectNote } from './transports.js';
import { cheapCall, WorkRoots } from './workload.js';

export const tunnels = 3;

export interface CoreRunOptions {
  readonly ssh: boolean;
  /** Passed on to the hpc child. */
  readonly quick: boolean;
  readonly plan: BenchPlan;
  readonly log: Logger;
  readonly cleanups: Cleanups;
  readonly progress: (line: string) => void;
}

export interface CoreRun {
  readonly cases: CaseResult[];
  readonly bot: BotMemory | undefined;
  /** What disturbed the measurements (tunnel reconnects). */
  readonly notes: string[];
}


export async function runCore(opts: CoreRunOptions): Promise<CoreRun> {
  const { plan, log, cleanups, progress } = opts;
  const testbed = opts.ssh ? loadTestbed() : undefined;
  if (opts.ssh && testbed === undefined) throw new BenchEnvironmentError('the testbed has no env.json', 'load testbed');
  const roots = new WorkRoots(testbed?.user.uid);
  const removeRoots = cleanups.add('remove work directories', () => roots.cleanup());
  const cases: CaseResult[] = [];
  const notes: string[] = [];

  const bare = await openBare(log);
  cases.push(...(await workloadCases(bare.plugins, 'bare', roots, plan, progress)));
  await bare.close();

  const tcp = await openTcpLoopback(log, tunnels);
  const closeTcp = cleanups.add('stop the in-process bot', () => tcp.close());
  cases.push(...(await workloadCases(tcp.plugins, 'tcp-loopback', roots, plan, progress)));
  cases.push(await throughputCase('getNumJobsPerWorker calls/s, 3 tunnels', 'tcp-loopback', () => cheapCall(tcp.plugins), tunnels, plan, progress));
  notes.push(...reconnectNote(tcp));
  await closeTcp();

  let bot: BotMemory | undefined;
  if (testbed !== undefined) {
    const scratch = await mkdtemp(join(tmpdir(), 'hv-bench-ssh-'));
    const removeScratch = cleanups.add('remove the known_hosts scratch directory', () => rm(scratch, { recursive: true, force: true }));
    progress('starting the bot and an echo server on hpc as the testbed user');
    const services = await startHpcServices(testbed);
    const stopServices = cleanups.add('stop the bot and the echo server on hpc', () => services.stop());
    const atStart = await services.botRssMB();

    const jump = await openSsh('ssh-jump', services.bot.rpc({ numTunnels: tunnels }), scratch, log);
    const closeJump = cleanups.add('close the tunnels through the jump host', () => jump.close());
    cases.push(...(await workloadCases(jump.plugins, 'ssh-jump', roots, plan, progress)));
    cases.push(await throughputCase('getNumJobsPerWorker calls/s, 3 tunnels', 'ssh-jump', () => cheapCall(jump.plugins), tunnels, plan, progress));
    notes.push(...reconnectNote(jump));
    await closeJump();

    const mw = jump.plugins.queue.middlewares['rpc']!;
    const knownHosts = join(scratch, 'known_hosts-probe');
    const probes: SshProbe[] = [];
    const closeProbes = cleanups.add('close the probe links', async () => probes.forEach((p) => p.close()));
    for (let i = 0; i < tunnels; i++) probes.push(await SshProbe.open(mw, services.echo.port, knownHosts, log));
    cases.push(...(await pingVersusEcho(probes[0]!, 'ssh-jump', plan, progress)));
    let next = 0;
    cases.push(await throughputCase('no-op calls/s, 3 tunnels', 'ssh-jump', () => probes[next++ % probes.length]!.ping(), tunnels, plan, progress));
    await closeProbes();

    progress('ssh-loopback: starting the herder in hv-hpc (ssh to 127.0.0.1:22 of hpc)');
    const childArgs = ['--role', 'hpc-loopback', '--echo-port', String(services.echo.port), '--bot-home', services.bot.botHome, '--bot-port', String(services.bot.port)];
    const child = parseChildResults(await runForOutput('hv-hpc', [...childArgs, ...(opts.quick ? ['--quick'] : [])]));
    cases.push(...child.cases);
    notes.push(...child.notes);

    const after = await services.botRssMB();
    bot = { pid: after.pid, rssAtStartMB: atStart.rssMB, rssAfterRunsMB: after.rssMB };
    await stopServices();
    await removeScratch();
  }
  await removeRoots();
  return { cases: orderForTable(cases), bot, notes };
}

const transportOrder = ['bare', 'tcp-loopback', 'ssh-loopback', 'ssh-jump'];

/** Grouped by what was measured (in the order first seen), transports in a fixed order within a group. */
function orderForTable(cases: CaseResult[]): CaseResult[] {
  const whatOrder = [...new Set(cases.map((c) => c.what))];
  return [...cases].sort((a, b) => whatOrder.indexOf(a.what) - whatOrder.indexOf(b.what) || transportOrder.indexOf(a.transport) - transportOrder.indexOf(b.transport));
}
