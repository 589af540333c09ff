// N workers through their whole life with the real agents: submitted, checked until running, checked again
// while nothing changes, checked until finished, swept. Each stage runs its agent's cycles until the cycle
// reports say every worker got there (and fails loudly if they do not: a fast failure must never pass for a
// fast cycle); only the agents' cycles are timed, not the dummy batch system moving the workers along.
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Agent, CycleReport } from '../src/agents/agent-loop.js';
import type { Logger } from '../src/logging/index.js';
import { statusFilePath } from '../src/plugins/builtin/status-file.js';
import { openCoreEnvironment, setBatchStatus, type CoreBatches, type CoreEnvironment } from './core-environment.js';

export const stageNames = ['submit', 'monitor: submitted -> running', 'monitor: running, no change', 'monitor: running -> finished', 'sweep'] as const;
export type StageName = (typeof stageNames)[number];

export interface StageRun {
  readonly stage: StageName;
  /** Time spent in the agent's cycles. */
  readonly ms: number;
  /** Of which in store calls. */
  readonly storeMs: number;
  /** Of which in plugin calls (the dummy plugins: files in the access points). */
  readonly pluginMs: number;
  readonly cycles: number;
  /** Workers the stage's cycle reports counted (what the stage waits for; see StagePlan.mayRepeat). */
  readonly workers: number;
}

export interface LifecycleRun {
  readonly workers: number;
  readonly batches: CoreBatches;
  readonly stages: readonly StageRun[];
  /** Sum of the stages: the agents' time for the whole life of the workers. */
  readonly totalMs: number;
  /** The dummy batch system's time (writing status files), not part of the total. */
  readonly batchSystemMs: number;
  /** Workers of the queue still in the store at the end (0 when all were swept). */
  readonly workersLeft: number;
  /** Access points still holding a dummy batch job (status.txt) at the end (0 when the sweeper removed them all). */
  readonly batchJobsLeft: number;
}

/** Every worker swept: no row left, no dummy batch job left. Throws CoreBenchCheckError otherwise. */
export function checkAllSwept(run: LifecycleRun): void {
  if (run.workersLeft !== 0 || run.batchJobsLeft !== 0) {
    throw new CoreBenchCheckError(`${run.workersLeft} workers left in the store and ${run.batchJobsLeft} dummy batch jobs left after the sweep`, 'sweep', undefined);
  }
}

/** Access points under the home's workdir that still hold a status.txt. */
async function batchJobsLeft(core: CoreEnvironment): Promise<number> {
  const workdir = join(core.home, 'workdir');
  let left = 0;
  for (const entry of await readdir(workdir)) {
    if (existsSync(statusFilePath(join(workdir, entry)))) left += 1;
  }
  return left;
}

/** A stage did not bring every worker where it should, or a cycle reported errors. */
export class CoreBenchCheckError extends Error {
  constructor(
    message: string,
    readonly stage: string,
    readonly report: CycleReport | undefined,
  ) {
    super(`${stage}: ${message}${report === undefined ? '' : ` (last cycle report ${JSON.stringify(report)})`}`);
    this.name = 'CoreBenchCheckError';
  }
}

interface StagePlan {
  readonly stage: StageName;
  readonly agent: Agent;
  /** The cycle report count that says how many workers reached the stage's goal. */
  readonly counts: string;
  /** Seconds the clock moves after each cycle, so what the cycle released is due again. */
  readonly advanceSec: number;
  /**
   * The count may pass the target: a check that changes nothing can fall on a worker twice when the batch does
   * not divide the workers (oldest first, so every worker is checked before any is checked again).
   */
  readonly mayRepeat?: boolean;
}

async function driveStage(core: CoreEnvironment, plan: StagePlan, target: number, maxCycles: number): Promise<StageRun> {
  let done = 0;
  let cycles = 0;
  let ms = 0;
  let report: CycleReport | undefined;
  core.split.take();
  while (done < target) {
    if (cycles >= maxCycles) throw new CoreBenchCheckError(`only ${done} of ${target} workers after ${cycles} cycles`, plan.stage, report);
    const started = performance.now();
    report = await plan.agent.runCycle(core.signal);
    // The agent loop tells its observer (the metrics) about every cycle: part of the cycle's cost.
    core.env.cycleObserver?.(plan.agent.name, (performance.now() - started) / 1000, report);
    ms += performance.now() - started;
    cycles += 1;
    if ((report['errors'] ?? 0) > 0) throw new CoreBenchCheckError('a cycle reported errors', plan.stage, report);
    done += report[plan.counts] ?? 0;
    core.clock.advance(plan.advanceSec);
  }
  if (done !== target && plan.mayRepeat !== true) throw new CoreBenchCheckError(`${done} workers counted, expected ${target}`, plan.stage, report);
  const split = core.split.take();
  // A scrape after each stage, not timed: Prometheus scrapes every 15-60 s, not once per cycle.
  if (core.metrics !== undefined) {
    const scrapeStarted = performance.now();
    await core.metrics.text();
    core.scrapeMs.push(performance.now() - scrapeStarted);
  }
  return { stage: plan.stage, ms, ...split, cycles, workers: done };
}

export interface LifecycleOptions {
  readonly workers: number;
  readonly batches: CoreBatches;
  readonly log: Logger;
  /** Metrics on: the agents report to a registry as in `harvester run`. */
  readonly metrics?: boolean;
  /** Told each untimed scrape's duration (ms), with metrics on. */
  readonly scrapes?: number[];
  /** Told when each stage starts and ends (bench/core-trace.ts counts statements per stage). */
  readonly onStage?: (stage: StageName, moment: 'start' | 'end') => void | Promise<void>;
}

/** Runs `workers` workers through their life in a fresh environment, which it removes at the end. */
export async function runLifecycle(opts: LifecycleOptions): Promise<LifecycleRun> {
  const core = await openCoreEnvironment({ maxWorkers: opts.workers, batches: opts.batches, log: opts.log, ...(opts.metrics === true ? { metrics: true } : {}) });
  try {
    const { settings } = core.env;
    const n = opts.workers;
    // Room for a cycle that handles fewer than its batch (a claim ordered oldest first never starves a row).
    const cyclesFor = (batch: number): number => Math.ceil(n / batch) + 2;
    const stages: StageRun[] = [];
    const drive = async (plan: StagePlan, cycles: number): Promise<void> => {
      await opts.onStage?.(plan.stage, 'start');
      stages.push(await driveStage(core, plan, n, cycles));
      await opts.onStage?.(plan.stage, 'end');
    };
    let batchSystemMs = 0;
    const batch = async (from: string, to: string): Promise<void> => {
      const started = performance.now();
      const moved = await setBatchStatus(core, [from], to);
      batchSystemMs += performance.now() - started;
      if (moved !== n) throw new CoreBenchCheckError(`the batch system found ${moved} ${from} workers, expected ${n}`, `batch system: ${from} -> ${to}`, undefined);
    };
    const monitorStage = (stage: StageName, counts: string): StagePlan => ({
      stage,
      agent: core.monitor,
      counts,
      advanceSec: settings.monitor.checkInterval + 1,
      mayRepeat: counts === 'checked',
    });

    await drive({ stage: 'submit', agent: core.submitter, counts: 'submitted', advanceSec: settings.submitter.checkInterval + 1 }, cyclesFor(opts.batches.submitter));
    await batch('submitted', 'running');
    await drive(monitorStage('monitor: submitted -> running', 'running'), cyclesFor(opts.batches.monitor));
    await drive(monitorStage('monitor: running, no change', 'checked'), cyclesFor(opts.batches.monitor));
    await batch('running', 'finished');
    await drive(monitorStage('monitor: running -> finished', 'finished'), cyclesFor(opts.batches.monitor));
    core.clock.advance(settings.sweeper.keepFinished * 3600);
    await drive({ stage: 'sweep', agent: core.sweeper, counts: 'deleted', advanceSec: settings.sweeper.checkInterval + 1 }, cyclesFor(opts.batches.sweeper));

    const workersLeft = (await core.store.listWorkers({ queueName: core.queue.queueName })).length;
    return { workers: n, batches: opts.batches, stages, totalMs: stages.reduce((sum, s) => sum + s.ms, 0), batchSystemMs, workersLeft, batchJobsLeft: await batchJobsLeft(core) };
  } finally {
    opts.scrapes?.push(...core.scrapeMs);
    await core.close();
  }
}
