// The HPC benchmark's top process (root, any namespace): starts the bot on hpc, runs every measured run as a
// child (the bot mode in hv-core, the bare mode in hv-hpc as the testbed user), alternating the modes so both
// see the same moments of the shared machine, and checks each run against SLURM's accounting.
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { remoteBot } from '../test/support/remote-bot.js';
import type { Cleanups } from './cleanups.js';
import { BenchEnvironmentError, type Testbed } from './environment.js';
import type { HpcPlan } from './hpc-summary.js';
import { hpcModes, parseHpcRun, type CheckedRun, type HpcMode, type HpcScenario } from './hpc-results.js';
import { cancelLeftovers, checkRun, waitForRoom } from './hpc-slurm.js';
import { WorkRoots } from './workload.js';

/** Ports 18950-18959 are the benchmarks'; the middleware benchmark's bot has 18950. */
export const hpcBotPort = 18951;
const botName = 'bench-hpc';

/** The compiled entry point, run again as each child. */
const hpcScript = fileURLToPath(new URL('./hpc.js', import.meta.url));

export interface TopOptions {
  readonly testbed: Testbed;
  readonly plan: HpcPlan;
  readonly cleanups: Cleanups;
  readonly progress: (line: string) => void;
}

interface Child {
  readonly process: ChildProcess;
  /** Its stdout once it exited with 0; rejects on any other end. */
  readonly exit: Promise<string>;
}

/**
 * Starts this script as a child (its stderr is ours): bare ones in hv-hpc as the testbed user, bot ones in
 * hv-core, where the jump host is reachable. A signal to the benchmark stops it (cleanups).
 */
function startChild(testbed: Testbed, mode: HpcMode, args: readonly string[], cleanups: Cleanups): Child {
  const node = [process.execPath, '--enable-source-maps', hpcScript, ...args];
  const stdio: ['pipe', 'pipe', 'inherit'] = ['pipe', 'pipe', 'inherit'];
  const child =
    mode === 'bare'
      ? testbed.inNamespace('hv-hpc', ['runuser', '-u', testbed.user.name, '--', ...node], { stdio })
      : testbed.inNamespace('hv-core', node, { stdio });
  const forget = cleanups.add(`stop the ${mode} child (${args.join(' ')})`, async () => void child.kill('SIGTERM'));
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const exit = new Promise<string>((resolve, reject) => {
    child.once('error', (error) => reject(new BenchEnvironmentError(`cannot start the ${mode} child: ${error.message}`, `child ${args.join(' ')}`)));
    child.once('close', (code, signal) => {
      // It has ended: unregister its stop step (killing an exited child is a no-op).
      void forget();
      if (code === 0) resolve(out);
      else reject(new BenchEnvironmentError(`the ${mode} child exited with ${code ?? signal}`, `child ${args.join(' ')}`));
    });
  });
  return { process: child, exit };
}

/** Starts the bare shadow monitor of a paired run; resolves once it listens on `socket`, with its stop. */
async function startShadow(testbed: Testbed, args: readonly string[], cleanups: Cleanups): Promise<() => Promise<void>> {
  const shadow = startChild(testbed, 'bare', ['--role', 'shadow', ...args], cleanups);
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    shadow.process.stdout?.on('data', (chunk: string) => {
      seen += chunk;
      if (seen.includes('ready\n')) resolve();
    });
    shadow.exit.then(() => reject(new BenchEnvironmentError('the shadow monitor exited before it listened', 'start shadow')), reject);
  });
  // It serves until its stdin closes.
  return async () => {
    shadow.process.stdin?.end();
    await shadow.exit;
  };
}

/** CPU time of the whole machine so far: busy and total, in ticks (the first line of /proc/stat). */
function machineTicks(): { busy: number; total: number } {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((sum, n) => sum + n, 0);
  // idle and iowait
  return { busy: total - (fields[3] ?? 0) - (fields[4] ?? 0), total };
}

interface Step {
  readonly scenario: HpcScenario;
  readonly run: number;
  readonly mode: HpcMode;
}

/**
 * bot, bare, then bare, bot, ...: a drift of the machine's load over a scenario falls on both modes alike. The
 * reference runs first: each lifecycle run leaves 1000 finished jobs in slurmctld for MinJobAge, which slow
 * every bulk squeue after it.
 */
function schedule(plan: HpcPlan): Step[] {
  const steps: Step[] = [];
  for (const scenario of ['reference', 'lifecycle'] as const) {
    for (let run = 0; run < plan[scenario].runs; run++) {
      const modes = run % 2 === 0 ? [...hpcModes].reverse() : hpcModes;
      for (const mode of modes) steps.push({ scenario, run, mode });
    }
  }
  // The paired runs compare the modes inside each cycle: the bot drives, the bare shadow checks alongside.
  for (let run = 0; run < plan.paired.runs; run++) steps.push({ scenario: 'paired', run, mode: 'bot' });
  return steps;
}

export async function runTop(opts: TopOptions): Promise<CheckedRun[]> {
  const { testbed, plan, cleanups, progress } = opts;
  const roots = new WorkRoots(testbed.user.uid);
  cleanups.add('remove the access-point roots', () => roots.cleanup());
  const bot = await remoteBot(testbed, botName, hpcBotPort);
  await bot.cleanup();
  progress(`starting the bot on hpc as ${testbed.user.name} (port ${hpcBotPort})`);
  await bot.start();
  cleanups.add('stop the bot on hpc', async () => {
    await bot.stop();
    await bot.cleanup();
  });
  const harvesterIDs: string[] = [];
  cleanups.add("cancel the runs' leftover SLURM jobs", async () => void (await cancelLeftovers(testbed, harvesterIDs)));

  const stamp = Date.now().toString(36);
  const runs: CheckedRun[] = [];
  const steps = schedule(plan);
  for (const [i, step] of steps.entries()) {
    const { scenario, run, mode } = step;
    // Short ([A-Za-z0-9]) so the job names carry it as it is: bh<time><l|r|p><run><a|o>.
    const harvesterID = `bh${stamp}${scenario[0]}${run}${mode[1]}`;
    harvesterIDs.push(harvesterID);
    const root = await roots.make(`${scenario}-${mode}-${run}`);
    const p = plan[scenario];
    const queueArgs = ['--harvester-id', harvesterID, '--partition', testbed.slurm.partition, '--command', p.command];
    const shadowSocket = scenario === 'paired' ? join(await roots.make('shadow'), 'monitor.sock') : undefined;
    const args = [
      '--role', 'run',
      '--mode', mode,
      '--scenario', scenario,
      '--workers', String(p.workers),
      ...queueArgs,
      '--root', root,
      '--interval-ms', String(plan.lifecycle.intervalMs),
      '--checks', String(scenario === 'paired' ? plan.paired.checks : plan.reference.checks),
      '--bot-name', botName,
      '--bot-port', String(hpcBotPort),
      ...(shadowSocket === undefined ? [] : ['--shadow', shadowSocket]),
    ];
    const jobsHeldAtStart = await waitForRoom(testbed, p.workers, progress);
    progress(`run ${i + 1}/${steps.length}: ${scenario} #${run + 1}, ${mode} (slurmctld holds ${jobsHeldAtStart} jobs)`);
    const loadAverageAtStart = loadavg()[0]!;
    const before = machineTicks();
    const stopShadow = shadowSocket === undefined ? undefined : await startShadow(testbed, [...queueArgs, '--socket', shadowSocket], cleanups);
    let measured;
    try {
      measured = parseHpcRun(await startChild(testbed, mode, args, cleanups).exit);
    } finally {
      await stopShadow?.();
    }
    const after = machineTicks();
    const cpuBusyShare = (after.busy - before.busy) / (after.total - before.total);
    const check = await checkRun(testbed, measured, root, scenario === 'lifecycle' ? 'COMPLETED' : 'CANCELLED');
    await roots.remove(root);
    runs.push({ ...measured, check, jobsHeldAtStart, loadAverageAtStart, cpuBusyShare });
    progress(`  submit ${(measured.submitMs / 1000).toFixed(2)} s, ${measured.cycles.length} checks, whole ${(measured.wholeMs / 1000).toFixed(1)} s; CPUs ${(100 * cpuBusyShare).toFixed(0)}% busy; sacct ${JSON.stringify(check.sacctStates)}`);
  }
  return runs;
}
