// The HPC benchmark's top process (root, any namespace): starts the bot on hpc, runs every measured run as a
// child (the bot mode in hv-core, the bare mode in hv-hpc as the testbed user), alternating the modes so both
// see the same moments of the shared machine, and checks each run against SLURM's accounting.
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { remoteBot } from '../test/support/remote-bot.js';
import type { Cleanups } from './cleanups.js';
import { BenchEnvironmentError, type Testbed } from './environment.js';
import type { HpcPlan } from './hpc-summary.js';
import { hpcModes, parseHpcRun, type CheckedRun, type HpcMode, type HpcScenario } from './hpc-results.js';
import { cancelLeftovers, checkRun, jobsHeld } from './hpc-slurm.js';
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

/** Runs one child to its end; resolves with its stdout (its stderr is ours). */
function runChild(testbed: Testbed, mode: HpcMode, args: readonly string[], cleanups: Cleanups): Promise<string> {
  const node = [process.execPath, '--enable-source-maps', hpcScript, '--role', 'run', '--mode', mode, ...args];
  const child: ChildProcess =
    mode === 'bare'
      ? testbed.inNamespace('hv-hpc', ['runuser', '-u', testbed.user.name, '--', ...node], { stdio: ['ignore', 'pipe', 'inherit'] })
      : testbed.inNamespace('hv-core', node, { stdio: ['ignore', 'pipe', 'inherit'] });
  const forget = cleanups.add(`stop the ${mode} run child`, async () => void child.kill('SIGTERM'));
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  return new Promise((resolve, reject) => {
    child.once('error', (error) => reject(new BenchEnvironmentError(`cannot start the ${mode} run child: ${error.message}`, `child ${args.join(' ')}`)));
    child.once('close', (code, signal) => {
      // It has ended: unregister its stop step (killing an exited child is a no-op).
      void forget();
      if (code === 0) resolve(out);
      else reject(new BenchEnvironmentError(`the ${mode} run child exited with ${code ?? signal}`, `child ${args.join(' ')}`));
    });
  });
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
  return steps;
}

export async function runTop(opts: TopOptions): Promise<CheckedRun[]> {
  const { testbed, plan, cleanups, progress } = opts;
  const roots = new WorkRoots(testbed.user.uid);
  cleanups.add('remove the access-point roots', () => roots.cleanup());
  const bot = remoteBot(testbed, botName, hpcBotPort);
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
    // Short ([A-Za-z0-9]) so the job names carry it as it is: bh<time><l|r><run><a|o>.
    const harvesterID = `bh${stamp}${scenario[0]}${run}${mode[1]}`;
    harvesterIDs.push(harvesterID);
    const root = await roots.make(`${scenario}-${mode}-${run}`);
    const p = plan[scenario];
    const args = [
      '--scenario', scenario,
      '--workers', String(p.workers),
      '--harvester-id', harvesterID,
      '--root', root,
      '--partition', testbed.slurm.partition,
      '--command', p.command,
      '--interval-ms', String(plan.lifecycle.intervalMs),
      '--checks', String(plan.reference.checks),
      '--bot-name', botName,
      '--bot-port', String(hpcBotPort),
    ];
    const jobsHeldAtStart = await jobsHeld(testbed);
    progress(`run ${i + 1}/${steps.length}: ${scenario} #${run + 1}, ${mode} (slurmctld holds ${jobsHeldAtStart} jobs)`);
    const loadAverageAtStart = loadavg()[0]!;
    const before = machineTicks();
    const measured = parseHpcRun(await runChild(testbed, mode, args, cleanups));
    const after = machineTicks();
    const cpuBusyShare = (after.busy - before.busy) / (after.total - before.total);
    const check = await checkRun(testbed, measured, root, scenario === 'lifecycle' ? 'COMPLETED' : 'CANCELLED');
    await roots.remove(root);
    runs.push({ ...measured, check, jobsHeldAtStart, loadAverageAtStart, cpuBusyShare });
    progress(`  submit ${(measured.submitMs / 1000).toFixed(2)} s, ${measured.cycles.length} checks, whole ${(measured.wholeMs / 1000).toFixed(1)} s; CPUs ${(100 * cpuBusyShare).toFixed(0)}% busy; sacct ${JSON.stringify(check.sacctStates)}`);
  }
  return runs;
}
