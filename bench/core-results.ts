// The shapes the core benchmark reports: one CoreCaseResult per measured thing (the stats module's Summary,
// named and with its plan), written to bench-results/core.json as they are and condensed into the table.
import { summarize, type RepeatPlan, type Summary } from './stats.js';

export type CoreUnit = 'ms' | 'rows/s' | 'MB' | 'x';

export interface CoreCaseResult extends Summary {
  /** Stable key, e.g. "cycle/monitor/checked/N=10000". */
  readonly id: string;
  /** What is measured, as the table shows it. */
  readonly what: string;
  readonly unit: CoreUnit;
  readonly warmups: number;
  readonly runs: number;
  /** Anything a reader needs to interpret the number (workers, cycles, batch sizes, per-worker cost). */
  readonly detail?: Record<string, number | string>;
}

export function coreResult(id: string, what: string, unit: CoreUnit, plan: RepeatPlan, samples: readonly number[], detail?: CoreCaseResult['detail']): CoreCaseResult {
  return { id, what, unit, warmups: plan.warmups, runs: plan.runs, ...summarize(samples, id), ...(detail === undefined ? {} : { detail }) };
}

/** Peak resident set size of this process so far (getrusage's ru_maxrss), in MB. */
export function peakRssMB(): number {
  return process.resourceUsage().maxRSS / 1024;
}
