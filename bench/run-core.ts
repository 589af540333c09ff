// The benchmark proper, run in hv-core (or, without root, wherever we are: local cases only). Bare and
// loopback-TCP cases always run; with the testbed it starts the bot and the echo server on hpc, measures
// through the jump host here, has a child in hv-hpc measure over loopback SSH, and reads the bot's memory.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../src/logging/index.js';
import { pingVersusEcho, throughputCase, workloadCases, type BenchPlan } from './cases.js';
import type { Cleanups } from './cleanups.js';
import { processTree, type CpuGroups } from './cpu-usage.js';
import { loadTestbed, runForOutput, BenchEnvironmentError, type Testbed } from './environment.js';
import { startHpcServices, type HpcServices } from './remote-services.js';
import type { BotMemory } from './report.js';
import { parseChildResults, type CaseResult } from './results.js';
import { SshProbe } from './ssh-probe.js';
import { openBare, openSsh, openTcpLoopback, reconnectNote, type OpenTransport } from './transports.js';
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

interface SshSide {
  readonly testbed: Testbed;
  readonly scratch: string;
  readonly services: HpcServices;
  readonly botPid: number;
  readonly rssAtStartMB: number;
  readonly jump: OpenTransport;
  /** The same bot through the jump host by its TCP port, and by the stdio relay (hpc's sshd without forwarding). */
  readonly others: readonly OpenTransport[];
}

async function openSshSide(testbed: Testbed, opts: CoreRunOptions): Promise<SshSide> {
  const { cleanups, progress, log } = opts;
  const scratch = await mkdtemp(join(tmpdir(), 'hv-bench-ssh-'));
  cleanups.add('remove the known_hosts scratch directory', () => rm(scratch, { recursive: true, force: true }));
  progress('starting the bot and an echo server on hpc as the testbed user');
  const services = await startHpcServices(testbed);
  cleanups.add('stop the bot and the echo server on hpc', () => services.stop());
  const atStart = await services.botRssMB();
  const jump = await openSsh('ssh-jump', services.bot.rpc({ numTunnels: tunnels }), scratch, log);
  cleanups.add('close the tunnels through the jump host', () => jump.close());
  const jumpTcp = await openSsh('ssh-jump-tcp', services.bot.rpc({ numTunnels: tunnels, transport: 'tcp' }), scratch, log);
  cleanups.add('close the TCP-port tunnels through the jump host', () => jumpTcp.close());
  const jumpStdio = await openSsh('ssh-jump-stdio', services.bot.rpc({ numTunnels: tunnels, transport: 'stdio', remotePort: testbed.hosts.hpcstrict.port }), scratch, log);
  cleanups.add('close the stdio tunnels through the jump host', () => jumpStdio.close());
  return { testbed, scratch, services, botPid: atStart.pid, rssAtStartMB: atStart.rssMB, jump, others: [jumpTcp, jumpStdio] };
}

/** The processes a call through the jump host keeps busy. */
function sshCpuGroups(side: SshSide): CpuGroups {
  const sshd = (host: 'jump' | 'hpc' | 'hpcstrict') => () => {
    const listener = side.testbed.sshdListenerPid(host);
    return listener === undefined ? [] : processTree(listener);
  };
  // hpcstrict's session processes include the stdio transport's relays (`harvester bot connect`).
  return { herder: 'self', bot: () => [side.botPid], 'sshd jump': sshd('jump'), 'sshd hpc': sshd('hpc'), 'sshd hpcstrict + relays': sshd('hpcstrict') };
}

export async function runCore(opts: CoreRunOptions): Promise<CoreRun> {
  const { plan, log, cleanups, progress } = opts;
  const testbed = opts.ssh ? loadTestbed() : undefined;
  if (opts.ssh && testbed === undefined) throw new BenchEnvironmentError('the testbed has no env.json', 'load testbed');
  const roots = new WorkRoots(testbed?.user.uid);
  cleanups.add('remove work directories', () => roots.cleanup());
  const cases: CaseResult[] = [];
  const notes: string[] = [];

  const bare = await openBare(log);
  const tcp = await openTcpLoopback(log, tunnels);
  const closeTcp = cleanups.add('stop the in-process bot', () => tcp.close());
  const ssh = testbed === undefined ? undefined : await openSshSide(testbed, opts);

  cases.push(...(await workloadCases([bare, tcp, ...(ssh === undefined ? [] : [ssh.jump, ...ssh.others])], roots, plan, true, progress)));
  cases.push(await throughputCase('getNumJobsPerWorker calls/s, 3 tunnels', 'tcp-loopback', () => cheapCall(tcp.plugins), tunnels, plan, progress, { 'herder+bot (one process)': 'self' }));
  notes.push(...reconnectNote(tcp));
  await closeTcp();

  let bot: BotMemory | undefined;
  if (ssh !== undefined) {
    const groups = sshCpuGroups(ssh);
    for (const open of [ssh.jump, ...ssh.others]) {
      cases.push(await throughputCase('getNumJobsPerWorker calls/s, 3 tunnels', open.transport, () => cheapCall(open.plugins), tunnels, plan, progress, groups));
      notes.push(...reconnectNote(open));
      await open.close();
    }

    const mw = ssh.jump.plugins.queue.middlewares['rpc']!;
    const probes: SshProbe[] = [];
    const closeProbes = cleanups.add('close the probe links', async () => probes.forEach((p) => p.close()));
    for (let i = 0; i < tunnels; i++) probes.push(await SshProbe.open(mw, ssh.services.echo.port, join(ssh.scratch, 'known_hosts-probe'), log));
    cases.push(...(await pingVersusEcho(probes[0]!, 'ssh-jump', plan, progress)));
    let next = 0;
    cases.push(await throughputCase('no-op calls/s, 3 tunnels', 'ssh-jump', () => probes[next++ % probes.length]!.ping(), tunnels, plan, progress, groups));
    await closeProbes();

    progress('ssh-loopback: starting the herder in hv-hpc (ssh to 127.0.0.1:22 of hpc)');
    const { bot: remote, echo } = ssh.services;
    const childArgs = ['--role', 'hpc-loopback', '--echo-port', String(echo.port), '--bot-home', remote.botHome, '--bot-port', String(remote.port)];
    const child = parseChildResults(await runForOutput('hv-hpc', [...childArgs, ...(opts.quick ? ['--quick'] : [])]));
    cases.push(...child.cases);
    notes.push(...child.notes);

    const after = await ssh.services.botRssMB();
    bot = { pid: after.pid, rssAtStartMB: ssh.rssAtStartMB, rssAfterRunsMB: after.rssMB };
  }
  await cleanups.runAll();
  return { cases: orderForTable(cases), bot, notes };
}

const transportOrder = ['bare', 'tcp-loopback', 'ssh-loopback', 'ssh-jump', 'ssh-jump-tcp', 'ssh-jump-stdio'];

/** Grouped by what was measured (in the order first seen), transports in a fixed order within a group. */
function orderForTable(cases: CaseResult[]): CaseResult[] {
  const whatOrder = [...new Set(cases.map((c) => c.what))];
  return [...cases].sort((a, b) => whatOrder.indexOf(a.what) - whatOrder.indexOf(b.what) || transportOrder.indexOf(a.transport) - transportOrder.indexOf(b.transport));
}
