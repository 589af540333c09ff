// The measured cases of the core benchmark. Each returns CoreCaseResults and prints nothing but progress;
// every run is checked (all workers submitted, checked, swept; every row claimed), so a fast failure can
// never pass for a fast cycle.
import { lockOwner } from '../src/agents/environment.js';
import type { Logger } from '../src/logging/index.js';
import { monitoredWorkerStatuses, WorkSpec } from '../src/spec/index.js';
import { Monitor } from '../src/agents/monitor.js';
import type { PluginLookup } from '../src/agents/environment.js';
import { timedPlugins } from '../src/cli/instrument.js';
import { HarvesterMetrics } from '../src/metrics/index.js';
import { defaultBatches, openCoreEnvironment, setBatchStatus } from './core-environment.js';
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

/**
 * What metrics cost the agents, measured where noise hurts least: in one environment with `sizes` running
 * workers, a monitor over the plain environment and a monitor over the instrumented one (the wrappers and cycle
 * observer of `harvester run`) take turns, one "no change" cycle over every worker each, order alternating per
 * pair. The monitor's no-change cycle is the agents' hot path with the least plugin work, so the relative cost
 * of the wrappers is largest there. Reports each size's medians and the median of the per-pair ratios.
 */
export async function metricsCostCases(plan: RepeatPlan & { readonly sizes: readonly number[] }, log: Logger, progress: Progress): Promise<CoreCaseResult[]> {
  const results: CoreCaseResult[] = [];
  for (const n of plan.sizes) {
    const core = await openCoreEnvironment({ maxWorkers: n, batches: { submitter: n, monitor: n, sweeper: n }, log, metrics: true });
    try {
      const plainMonitor = new Monitor(core.plain);
      const { settings } = core.env;
      progress(`metrics cost: submitting ${n} workers`);
      const submitted = await core.submitter.runCycle(core.signal);
      if (submitted['submitted'] !== n) throw new CoreBenchCheckError(`submitted ${submitted['submitted'] ?? 0} of ${n}`, 'metrics cost: submit', submitted);
      core.clock.advance(settings.monitor.checkInterval + 1);
      await setBatchStatus(core, ['submitted'], 'running');
      const toRunning = await core.monitor.runCycle(core.signal);
      if (toRunning['running'] !== n) throw new CoreBenchCheckError(`${toRunning['running'] ?? 0} of ${n} running`, 'metrics cost: to running', toRunning);
      const off: number[] = [];
      const on: number[] = [];
      const ratios: number[] = [];
      for (let pair = 0; pair < plan.warmups + plan.runs; pair++) {
        const warm = pair < plan.warmups;
        progress(`metrics cost: monitor cycles over ${n} running workers, off/on pair ${warm ? 'warm-up' : `${pair - plan.warmups + 1} of ${plan.runs}`}`);
        const times: Partial<Record<'off' | 'on', number>> = {};
        for (const mode of pair % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
          core.clock.advance(settings.monitor.checkInterval + 1);
          const monitor = mode === 'on' ? core.monitor : plainMonitor;
          const started = performance.now();
          const report = await monitor.runCycle(core.signal);
          if (mode === 'on') core.env.cycleObserver?.(monitor.name, (performance.now() - started) / 1000, report);
          times[mode] = performance.now() - started;
          if (report['checked'] !== n) throw new CoreBenchCheckError(`checked ${report['checked'] ?? 0} of ${n}`, `metrics cost: no change, ${mode}`, report);
        }
        if (warm) continue;
        off.push(times.off!);
        on.push(times.on!);
        ratios.push(times.on! / times.off!);
      }
      const ratio = round(median(ratios, 'metrics cost ratio'), 3);
      const detail = { workers: n, pairs: plan.runs, medianPairRatio: ratio };
      results.push(coreResult(`metricsCost/monitor-no-change/N=${n}`, `monitor cycle, no change, ${n}: metrics off`, 'ms', plan, off, detail));
      results.push(coreResult(`metricsCost/monitor-no-change/N=${n}@metrics`, `monitor cycle, no change, ${n}: metrics on`, 'ms', plan, on, detail));
    } finally {
      await core.close();
    }
  }
  return results;
}

/**
 * The wrappers' own cost per plugin call, measured without the machine's noise mattering much: `calls` calls
 * of a no-op async plugin method, bare and through the timed-plugins wrapper (proxy, two performance.now(), a
 * histogram observation, an await), in alternating blocks; returns microseconds per call (wrapped minus bare).
 */
export async function wrapperCostUs(queue: Parameters<PluginLookup>[0], calls: number): Promise<number> {
  const bare = { async checkWorkers(): Promise<number> { return 1; } };
  const metrics = new HarvesterMetrics({ version: 'bench' });
  const wrapped = (await timedPlugins((async () => bare) as unknown as PluginLookup, metrics)(queue, 'monitor')) as unknown as typeof bare;
  const block = async (plugin: typeof bare): Promise<number> => {
    const started = performance.now();
    for (let i = 0; i < calls; i++) await plugin.checkWorkers();
    return performance.now() - started;
  };
  const diffs: number[] = [];
  for (let round = 0; round < 7; round++) {
    const b = await block(bare);
    const w = await block(wrapped);
    diffs.push(((w - b) * 1000) / calls);
  }
  return round(median(diffs, 'wrapper cost'), 2);
}
