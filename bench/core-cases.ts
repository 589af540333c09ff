// The measured cases of the core benchmark. Each returns CoreCaseResults and prints nothing but progress;
// every run is checked (all workers submitted, checked, swept; every row claimed), so a fast failure can
// never pass for a fast cycle.
import { monitoredWorkerStatuses } from '../src/agents/monitor.js';
import { lockOwner } from '../src/agents/environment.js';
import type { Logger } from '../src/logging/index.js';
import { WorkSpec } from '../src/spec/index.js';
import { defaultBatches, openCoreEnvironment } from './core-environment.js';
import { checkAllSwept, CoreBenchCheckError, runLifecycle, stageNames, type LifecycleRun, type StageName } from './core-lifecycle.js';
import { coreResult, type CoreCaseResult } from './core-results.js';
import { summarize, type RepeatPlan } from './stats.js';

export interface CorePlan {
  /** Workers through their whole life with the default batch sizes (what `harvester run` does). */
  readonly lifecycle: RepeatPlan & { readonly workers: number };
  /** One cycle per stage over all live workers, at a small and a large number of workers. */
  readonly cycles: RepeatPlan & { readonly small: number; readonly large: number };
  /** store.claimWorkers for the monitor, in batches, over a table of rows. */
  readonly claims: RepeatPlan & { readonly rows: number; readonly batch: number };
}

export const defaultCorePlan: CorePlan = {
  lifecycle: { workers: 10_000, warmups: 0, runs: 3 },
  cycles: { small: 1_000, large: 10_000, warmups: 1, runs: 3 },
  claims: { rows: 10_000, batch: 1_000, warmups: 1, runs: 7 },
};

/** The same cases, small: checks that everything works (CI smoke); the numbers are not worth keeping. */
export const quickCorePlan: CorePlan = {
  lifecycle: { workers: 500, warmups: 0, runs: 1 },
  cycles: { small: 100, large: 1_000, warmups: 0, runs: 1 },
  claims: { rows: 1_000, batch: 100, warmups: 0, runs: 2 },
};

type Progress = (line: string) => void;

/** Whether the agents report to a metrics registry, as in `harvester run` (bench:core --metrics). */
export type MetricsMode = 'off' | 'on';

/** Case ids with metrics on carry this suffix; those with metrics off keep the ids the targets use. */
export function withMetricsId(id: string, mode: MetricsMode): string {
  return mode === 'on' ? `${id}@metrics` : id;
}

/** The modes of run `run`, alternating which goes first so drift of a noisy machine falls on both alike. */
function modeOrder(modes: readonly MetricsMode[], run: number): readonly MetricsMode[] {
  return run % 2 === 0 ? modes : [...modes].reverse();
}

const median = (values: readonly number[], what: string): number => summarize(values, what).median;
const round = (value: number, digits = 1): number => Number(value.toFixed(digits));

function stageOf(run: LifecycleRun, stage: StageName): LifecycleRun['stages'][number] {
  const found = run.stages.find((s) => s.stage === stage);
  if (found === undefined) throw new CoreBenchCheckError('the run has no such stage', stage, undefined);
  return found;
}

/** Median split of a stage over the runs: store, plugins, and the agent itself (the rest). */
function splitDetail(runs: readonly LifecycleRun[], stage: StageName, workers: number): Record<string, number> {
  const stages = runs.map((r) => stageOf(r, stage));
  const ms = median(stages.map((s) => s.ms), stage);
  return {
    workers,
    cycles: median(stages.map((s) => s.cycles), stage),
    perWorkerUs: round((ms * 1000) / workers),
    storeMs: round(median(stages.map((s) => s.storeMs), stage)),
    pluginMs: round(median(stages.map((s) => s.pluginMs), stage)),
    agentMs: round(median(stages.map((s) => s.ms - s.storeMs - s.pluginMs), stage)),
  };
}

/** Runs the lifecycle warmups + runs times (each in a fresh environment) and checks every run swept all. */
async function repeatLifecycle(
  plan: RepeatPlan,
  workers: number,
  batches: LifecycleRun['batches'],
  log: Logger,
  progress: Progress,
  label: string,
  modes: readonly MetricsMode[],
  scrapes: number[],
): Promise<Map<MetricsMode, LifecycleRun[]>> {
  const runs = new Map<MetricsMode, LifecycleRun[]>(modes.map((m) => [m, []]));
  for (let run = 0; run < plan.warmups + plan.runs; run++) {
    const warm = run < plan.warmups;
    for (const mode of modeOrder(modes, run)) {
      progress(`${label}${modes.length > 1 ? `, metrics ${mode}` : ''}: ${warm ? 'warm-up' : `run ${run - plan.warmups + 1} of ${plan.runs}`}`);
      const result = await runLifecycle({ workers, batches, log, metrics: mode === 'on', scrapes });
      checkAllSwept(result);
      if (!warm) runs.get(mode)!.push(result);
    }
  }
  return runs;
}

/** `workers` workers submitted, monitored and swept with the default batch sizes: total and per stage. */
export async function lifecycleCases(
  plan: CorePlan['lifecycle'],
  log: Logger,
  progress: Progress,
  modes: readonly MetricsMode[] = ['off'],
  scrapes: number[] = [],
): Promise<CoreCaseResult[]> {
  const n = plan.workers;
  const byMode = await repeatLifecycle(plan, n, defaultBatches, log, progress, `lifecycle of ${n} workers (batches ${defaultBatches.submitter}/${defaultBatches.monitor}/${defaultBatches.sweeper})`, modes, scrapes);
  const results: CoreCaseResult[] = [];
  for (const [mode, runs] of byMode) {
    const totals = runs.map((r) => r.totalMs);
    const on = mode === 'on' ? ', metrics on' : '';
    results.push(
      coreResult(withMetricsId(`lifecycle/total/N=${n}`, mode), `lifecycle of ${n} workers: all stages${on}`, 'ms', plan, totals, {
        workers: n,
        perWorkerUs: round((median(totals, 'lifecycle total') * 1000) / n),
        batchSystemMs: round(median(runs.map((r) => r.batchSystemMs), 'batch system')),
        ...defaultBatchDetail(),
      }),
    );
    for (const stage of stageNames) {
      results.push(coreResult(withMetricsId(`lifecycle/${stage}/N=${n}`, mode), `  ${stage}${on}`, 'ms', plan, runs.map((r) => stageOf(r, stage).ms), splitDetail(runs, stage, n)));
    }
  }
  return results;
}

function defaultBatchDetail(): Record<string, number> {
  return { submitterMaxNewWorkers: defaultBatches.submitter, monitorMaxWorkers: defaultBatches.monitor, sweeperMaxWorkers: defaultBatches.sweeper };
}

/** What one cycle of each stage is called in the table. */
export const cycleLabels: Readonly<Record<StageName, string>> = {
  submit: 'submitter cycle: new workers submitted',
  'monitor: submitted -> running': 'monitor cycle: submitted -> running',
  'monitor: running, no change': 'monitor cycle: running, no change',
  'monitor: running -> finished': 'monitor cycle: running -> finished',
  sweep: 'sweeper cycle: finished workers swept',
};

export function cycleCaseId(stage: StageName, workers: number): string {
  return `cycle/${stage.replaceAll(' ', '')}/N=${workers}`;
}

/**
 * One cycle per stage covering every live worker (batch sizes = the number of workers), at the small and the
 * large size, run by run (small, then large, then the next run), so each large sample has a small one taken
 * moments before it: the per-run ratios of per-worker cost are steadier than a ratio of two medians.
 */
export async function cycleCases(
  plan: CorePlan['cycles'],
  log: Logger,
  progress: Progress,
  modes: readonly MetricsMode[] = ['off'],
  scrapes: number[] = [],
): Promise<CoreCaseResult[]> {
  const sizes = [plan.small, plan.large] as const;
  const key = (n: number, mode: MetricsMode): string => `${n}/${mode}`;
  const runs = new Map<string, LifecycleRun[]>(sizes.flatMap((n) => modes.map((mode) => [key(n, mode), []] as [string, LifecycleRun[]])));
  for (let run = 0; run < plan.warmups + plan.runs; run++) {
    const warm = run < plan.warmups;
    for (const mode of modeOrder(modes, run)) {
      for (const n of sizes) {
        progress(`one cycle per stage over ${n} workers${modes.length > 1 ? `, metrics ${mode}` : ''}: ${warm ? 'warm-up' : `run ${run - plan.warmups + 1} of ${plan.runs}`}`);
        const result = await runLifecycle({ workers: n, batches: { submitter: n, monitor: n, sweeper: n }, log, metrics: mode === 'on', scrapes });
        checkAllSwept(result);
        for (const stage of result.stages) {
          if (stage.cycles !== 1) throw new CoreBenchCheckError(`took ${stage.cycles} cycles; one cycle should cover all ${n} workers`, stage.stage, undefined);
        }
        if (!warm) runs.get(key(n, mode))!.push(result);
      }
    }
  }
  const results: CoreCaseResult[] = [];
  for (const mode of modes) {
    const small = runs.get(key(plan.small, mode))!;
    const large = runs.get(key(plan.large, mode))!;
    for (const stage of stageNames) {
      for (const [n, sized] of [[plan.small, small], [plan.large, large]] as const) {
        const detail: Record<string, number> = splitDetail(sized, stage, n);
        if (n === plan.large) {
          const ratios = large.map((r, i) => stageOf(r, stage).ms / plan.large / (stageOf(small[i]!, stage).ms / plan.small));
          detail['perWorkerRatioToSmall'] = round(median(ratios, `${stage} ratio`), 2);
          detail['smallWorkers'] = plan.small;
        }
        const on = mode === 'on' ? ', metrics on' : '';
        results.push(coreResult(withMetricsId(cycleCaseId(stage, n), mode), `${cycleLabels[stage]}, ${n}${on}`, 'ms', plan, sized.map((r) => stageOf(r, stage).ms), detail));
      }
    }
  }
  return results;
}

/** Rows claimed per second: store.claimWorkers for the monitor, `batch` at a time, until all `rows` are claimed. */
export async function claimCase(plan: CorePlan['claims'], log: Logger, progress: Progress): Promise<CoreCaseResult> {
  const core = await openCoreEnvironment({ maxWorkers: plan.rows, batches: defaultBatches, log });
  try {
    const owner = lockOwner(core.env, 'monitor');
    const settings = core.env.settings.monitor;
    const submitted = new Date(core.clock.now().getTime() - 60_000);
    const workers = Array.from(
      { length: plan.rows },
      () =>
        new WorkSpec({
          queueName: core.queue.queueName,
          computingSite: core.queue.queueName,
          mapType: 'NoJob',
          status: WorkSpec.ST_submitted,
          creationTime: submitted,
          submitTime: submitted,
          modificationTime: submitted,
        }),
    );
    await core.store.insertWorkers(workers);
    const samples: number[] = [];
    for (let run = 0; run < plan.warmups + plan.runs; run++) {
      progress(`claimWorkers('monitor') of ${plan.rows} rows by ${plan.batch}: ${run < plan.warmups ? 'warm-up' : `run ${run - plan.warmups + 1} of ${plan.runs}`}`);
      let claimed = 0;
      const started = performance.now();
      for (;;) {
        const batch = await core.store.claimWorkers({
          purpose: 'monitor',
          owner,
          statuses: monitoredWorkerStatuses,
          queueName: core.queue.queueName,
          lockIntervalSec: settings.lockInterval,
          checkIntervalSec: settings.checkInterval,
          limit: plan.batch,
          now: core.clock.now(),
        });
        if (batch.length === 0) break;
        claimed += batch.length;
      }
      const ms = performance.now() - started;
      if (claimed !== plan.rows) throw new CoreBenchCheckError(`claimed ${claimed} rows, expected ${plan.rows}`, 'claimWorkers', undefined);
      if (run >= plan.warmups) samples.push(plan.rows / (ms / 1000));
      // Free and due again for the next run, as after a monitor cycle and its check interval.
      await core.store.releaseLocks(owner);
      core.clock.advance(settings.checkInterval + 1);
    }
    return coreResult(`claimWorkers/monitor/N=${plan.rows}/batch=${plan.batch}`, `claimWorkers('monitor'), ${plan.rows} rows by ${plan.batch}`, 'rows/s', plan, samples, {
      rows: plan.rows,
      batch: plan.batch,
      claimsPerRun: Math.ceil(plan.rows / plan.batch) + 1,
    });
  } finally {
    await core.close();
  }
}
