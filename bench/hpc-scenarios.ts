// What one run does with the SLURM plugins, the same bare and through the bot: submit, check the way the
// monitor agent does (every live worker each cycle), kill and sweep the way the sweeper agent does. Every answer
// is checked: a failed submission or a worker that never ends is an error, never a fast run.
import { setTimeout as sleep } from 'node:timers/promises';
import { killWorkersOf, mapBounded } from '../src/plugins/index.js';
import type { WorkSpec } from '../src/spec/index.js';
import type { Cycle, HpcRun, RunPhase } from './hpc-results.js';
import type { SlurmBenchPlugins } from './hpc-queue.js';
import { ShadowMonitor } from './hpc-shadow.js';
import { submitAll, WorkloadCheckError } from './workload.js';

export type ScenarioMeasures = Omit<HpcRun, 'scenario' | 'mode' | 'harvesterID' | 'remoteCalls' | 'notes'>;

/** What the run child gives a scenario: progress lines, and the phase it enters (remote calls are tagged with it). */
export interface ScenarioHooks {
  readonly progress: (line: string) => void;
  readonly phase: (phase: RunPhase) => void;
}

export interface LifecyclePlan {
  /** Start-to-start time of monitor cycles (the agent's checkInterval). */
  readonly intervalMs: number;
  /** Gives up when the workers are not all final after this long. */
  readonly hangGuardMs: number;
  /** sweepWorker calls in flight at once. */
  readonly sweepConcurrency: number;
}

function tally(workers: readonly WorkSpec[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const w of workers) counts[w.status ?? 'null'] = (counts[w.status ?? 'null'] ?? 0) + 1;
  return counts;
}

async function submit(plugins: SlurmBenchPlugins, workers: WorkSpec[]): Promise<number> {
  const started = performance.now();
  await submitAll(plugins, workers);
  const ms = performance.now() - started;
  const now = new Date();
  for (const w of workers) {
    w.setStatus('submitted', now);
    w.submitTime = now;
  }
  return ms;
}

/** One checkWorkers over `live`; applies the verdicts to the WorkSpecs as the monitor agent does. */
async function check(plugins: SlurmBenchPlugins, live: WorkSpec[]): Promise<Cycle> {
  const started = performance.now();
  const outcome = await plugins.monitor.checkWorkers(plugins.context(), live);
  const ms = performance.now() - started;
  if (outcome.kind !== 'succeeded') return { ms, live: live.length, verdict: false };
  if (outcome.value.length !== live.length) {
    throw new WorkloadCheckError(`checkWorkers answered ${outcome.value.length} verdicts for ${live.length} workers`, plugins.queue.queueName, 'checkWorkers');
  }
  const now = new Date();
  for (const [i, verdict] of outcome.value.entries()) {
    live[i]!.setStatus(verdict.status, now);
    if (live[i]!.isFinalStatus()) live[i]!.diagMessage = verdict.diag;
  }
  return { ms, live: live.length, verdict: true };
}

/** killWorkers for all, one call; every outcome must succeed. */
async function kill(plugins: SlurmBenchPlugins, workers: WorkSpec[]): Promise<number> {
  const started = performance.now();
  const kills = await killWorkersOf(plugins.sweeper, plugins.context(), workers);
  const ms = performance.now() - started;
  const bad = kills.find((o) => o.kind !== 'succeeded');
  if (kills.length !== workers.length || bad !== undefined) {
    throw new WorkloadCheckError(`killWorkers did not kill all ${workers.length}: ${JSON.stringify(bad ?? kills.length)}`, plugins.queue.queueName, 'killWorkers');
  }
  return ms;
}

/** sweepWorker for each worker through a bounded map, as the sweeper agent does for final workers; all must succeed. */
async function sweep(plugins: SlurmBenchPlugins, workers: WorkSpec[], concurrency: number): Promise<number> {
  const started = performance.now();
  const sweeps = await mapBounded(workers, concurrency, (w) => plugins.sweeper.sweepWorker(plugins.context(), w));
  const ms = performance.now() - started;
  const bad = sweeps.find((o) => o?.kind !== 'succeeded');
  if (bad !== undefined) throw new WorkloadCheckError(`sweepWorker did not sweep every worker: ${JSON.stringify(bad ?? 'not run')}`, plugins.queue.queueName, 'sweepWorker');
  return ms;
}

/**
 * One cycle's check of `live`. With a shadow, the bare monitor also checks the same workers (the request is taken
 * before either check changes a status), right before the bot's check in odd cycles and right after in even ones.
 */
async function cycle(plugins: SlurmBenchPlugins, live: WorkSpec[], index: number, shadow: ShadowMonitor | undefined): Promise<Cycle> {
  if (shadow === undefined) return check(plugins, live);
  const request = ShadowMonitor.request(live);
  const shadowFirst = index % 2 === 1;
  const before = shadowFirst ? await shadow.check(request) : undefined;
  const own = await check(plugins, live);
  return { ...own, shadowMs: before ?? (await shadow.check(request)), shadowFirst };
}

/** Checks the live workers every intervalMs (start to start) until all are final; the cycles it took. */
async function monitorUntilFinal(plugins: SlurmBenchPlugins, workers: WorkSpec[], plan: LifecyclePlan): Promise<Cycle[]> {
  const started = performance.now();
  const cycles: Cycle[] = [];
  let live = workers.filter((w) => !w.isFinalStatus());
  while (live.length > 0) {
    if (performance.now() - started > plan.hangGuardMs) {
      throw new WorkloadCheckError(`${live.length} workers still not final after ${plan.hangGuardMs / 1000} s: ${JSON.stringify(tally(live))}`, plugins.queue.queueName, 'monitor');
    }
    const cycleStarted = performance.now();
    cycles.push(await check(plugins, live));
    live = live.filter((w) => !w.isFinalStatus());
    if (live.length > 0) await sleep(Math.max(0, cycleStarted + plan.intervalMs - performance.now()));
  }
  return cycles;
}

/** A cycle over workers that must all stay live (long payloads); throws when one ended or no verdict came. */
async function checkLive(plugins: SlurmBenchPlugins, workers: WorkSpec[], index = 0, shadow?: ShadowMonitor): Promise<Cycle> {
  const checked = await cycle(plugins, workers, index, shadow);
  if (!checked.verdict || workers.some((w) => w.isFinalStatus())) {
    throw new WorkloadCheckError(`a check of ${workers.length} live workers answered ${checked.verdict ? JSON.stringify(tally(workers)) : 'retryLater'}`, plugins.queue.queueName, 'checkWorkers');
  }
  return checked;
}

/**
 * Checks (untimed) every intervalMs until two checks in a row see the same statuses: the jobs that can start have
 * started, and the burst of job launches (slurmstepd, the payloads) no longer shares the CPUs with the checks.
 */
async function settle(plugins: SlurmBenchPlugins, workers: WorkSpec[], plan: LifecyclePlan): Promise<void> {
  const started = performance.now();
  let previous = '';
  for (;;) {
    const cycleStarted = performance.now();
    await checkLive(plugins, workers);
    const statuses = JSON.stringify(tally(workers));
    if (statuses === previous) return;
    previous = statuses;
    if (performance.now() - started > plan.hangGuardMs) throw new WorkloadCheckError(`the statuses still change after ${plan.hangGuardMs / 1000} s: ${statuses}`, plugins.queue.queueName, 'settle');
    await sleep(Math.max(0, cycleStarted + plan.intervalMs - performance.now()));
  }
}

/** Throws unless every worker ended in `status`. */
function expectAll(plugins: SlurmBenchPlugins, workers: readonly WorkSpec[], status: string): void {
  const others = workers.filter((w) => w.status !== status);
  if (others.length === 0) return;
  const sample = others.slice(0, 3).map((w) => `worker ${w.workerID} ${w.status}: ${w.diagMessage ?? ''}`);
  throw new WorkloadCheckError(`${others.length} workers did not end ${status} (${JSON.stringify(tally(others))}); e.g. ${sample.join('; ')}`, plugins.queue.queueName, 'monitor');
}

const batchIDsOf = (workers: readonly WorkSpec[]): string[] => workers.map((w) => w.batchID ?? '');

/** Submit, monitor every intervalMs until all are final (all must have finished), kill and sweep. */
export async function lifecycle(plugins: SlurmBenchPlugins, workers: WorkSpec[], plan: LifecyclePlan, hooks: ScenarioHooks): Promise<ScenarioMeasures> {
  const queue = plugins.queue.queueName;
  const started = performance.now();
  hooks.phase('submit');
  const submitMs = await submit(plugins, workers);
  hooks.progress(`${queue}: ${workers.length} workers submitted in ${(submitMs / 1000).toFixed(2)} s; monitoring`);
  hooks.phase('cycles');
  const monitorStarted = performance.now();
  const cycles = await monitorUntilFinal(plugins, workers, plan);
  const monitorMs = performance.now() - monitorStarted;
  expectAll(plugins, workers, 'finished');
  hooks.progress(`${queue}: all final after ${cycles.length} cycles (${(monitorMs / 1000).toFixed(1)} s); killing and sweeping`);
  hooks.phase('kill');
  const killMs = await kill(plugins, workers);
  hooks.phase('sweep');
  const sweepMs = await sweep(plugins, workers, plan.sweepConcurrency);
  const wholeMs = performance.now() - started;
  return { workers: workers.length, submitMs, cycles, monitorMs, killMs, sweepMs, wholeMs, statuses: tally(workers), batchIDs: batchIDsOf(workers) };
}

/**
 * Submit; once the jobs that can start have started, check all workers `checks` times, intervalMs apart, while
 * they are all live (these checks are the cycles reported; with a shadow, the bare monitor checks them too);
 * kill, monitor until all are cancelled, sweep.
 */
export async function steadyChecks(plugins: SlurmBenchPlugins, workers: WorkSpec[], checks: number, plan: LifecyclePlan, hooks: ScenarioHooks, shadow?: ShadowMonitor): Promise<ScenarioMeasures> {
  const started = performance.now();
  hooks.phase('submit');
  const submitMs = await submit(plugins, workers);
  hooks.phase('settle');
  await settle(plugins, workers, plan);
  hooks.phase('cycles');
  const cycles: Cycle[] = [];
  for (let i = 0; i < checks; i++) {
    const cycleStarted = performance.now();
    cycles.push(await checkLive(plugins, workers, i, shadow));
    if (i < checks - 1) await sleep(Math.max(0, cycleStarted + plan.intervalMs - performance.now()));
  }
  const statuses = tally(workers);
  hooks.phase('kill');
  const killMs = await kill(plugins, workers);
  // A cancelled job may still be writing in its access point: sweep once the monitor has seen it end.
  hooks.phase('until-cancelled');
  await monitorUntilFinal(plugins, workers, plan);
  expectAll(plugins, workers, 'cancelled');
  hooks.phase('sweep');
  const sweepMs = await sweep(plugins, workers, plan.sweepConcurrency);
  return { workers: workers.length, submitMs, cycles, monitorMs: 0, killMs, sweepMs, wholeMs: performance.now() - started, statuses, batchIDs: batchIDsOf(workers) };
}
