// Summaries of repeated measurements: median and p90 over the timed runs (warm-ups are discarded), plus the
// raw samples so the JSON keeps everything a reader needs to judge the spread.

export interface Summary {
  readonly median: number;
  /** Nearest-rank 90th percentile of the timed runs. */
  readonly p90: number;
  readonly min: number;
  readonly max: number;
  /** Every timed sample, in the order taken. */
  readonly samples: readonly number[];
}

/** Thrown when a summary is asked of no samples (a case that never ran is a bug, not a zero). */
export class EmptySampleError extends Error {
  constructor(readonly what: string) {
    super(`no samples to summarize for ${what}`);
    this.name = 'EmptySampleError';
  }
}

export function summarize(samples: readonly number[], what: string): Summary {
  if (samples.length === 0) throw new EmptySampleError(what);
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  const p90 = sorted[Math.min(sorted.length - 1, Math.ceil(0.9 * sorted.length) - 1)]!;
  return { median, p90, min: sorted[0]!, max: sorted[sorted.length - 1]!, samples: [...samples] };
}

export interface RepeatPlan {
  readonly warmups: number;
  readonly runs: number;
}

/**
 * Runs `prepare` (untimed) then `timed` warmups + runs times; returns the timed durations in ms.
 * `prepare` builds fresh inputs for each run so no run sees another's leftovers.
 */
export async function repeatTimed<T>(plan: RepeatPlan, prepare: (run: number) => Promise<T>, timed: (input: T) => Promise<void>): Promise<number[]> {
  const samples: number[] = [];
  for (let run = 0; run < plan.warmups + plan.runs; run++) {
    const input = await prepare(run);
    const started = performance.now();
    await timed(input);
    const elapsed = performance.now() - started;
    if (run >= plan.warmups) samples.push(elapsed);
  }
  return samples;
}
