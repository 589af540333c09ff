// The HPC benchmark's runs condensed per scenario and mode, and the targets (PASS/MISS). The bot/bare
// ratios are paired: run r of the bot mode against run r of the bare mode (taken back to back, the order
// alternating), as the geometric mean over r. Each run leaves its jobs in slurmctld for MinJobAge, and a bulk
// squeue costs more the more jobs slurmctld holds, so a ratio of medians pooled over all runs would also measure
// which mode happened to run later.
import { callParts } from './cases.js';
import { hpcModes, type CheckedRun, type Cycle, type HpcMode, type RemoteCall } from './hpc-results.js';
import { formatValue, target, type TargetResult } from './report.js';
import { summarize, type Summary } from './stats.js';

/** harvester's own SLURM plugins (one sbatch and one squeue per worker), measured earlier on this machine. */
export const harvesterReference = {
  workers: 200,
  submitMs: 7000,
  checkBareMs: 3100,
  checkMiddlewareMs: 6200,
} as const;

export interface HpcPlan {
  readonly lifecycle: { readonly workers: number; readonly runs: number; readonly command: string; readonly intervalMs: number };
  readonly reference: { readonly workers: number; readonly runs: number; readonly checks: number; readonly command: string };
  /** Runs through the bot with the bare shadow monitor checking alongside. */
  readonly paired: { readonly workers: number; readonly runs: number; readonly checks: number; readonly command: string };
}

/** One run's figures (ms unless named otherwise). */
export interface RunFigures {
  readonly submitMs: number;
  readonly cycleMedianMs: number;
  readonly cycleP90Ms: number;
  readonly firstCycleMs: number;
  readonly cycles: number;
  readonly monitorMs: number;
  readonly killMs: number;
  readonly sweepMs: number;
  readonly wholeMs: number;
  readonly jobsHeldAtStart: number;
  readonly loadAverageAtStart: number;
  readonly cpuBusyShare: number;
}

/** Where the bot mode's calls of one method spent their time (medians over the calls, ms). */
export type CallBreakdown = Record<(typeof callParts)[number] | 'roundTripMs' | 'middlewareMs' | 'callOverPlugin' | 'calls', number>;

export interface ModeSummary {
  readonly workers: number;
  /** In the order they ran; run r of one mode is paired with run r of the other. */
  readonly runs: readonly RunFigures[];
  /** The median over the runs of each figure. */
  readonly median: RunFigures;
  /** Bot mode: the checkWorkers calls of the reported cycles, and the submitWorkers calls. */
  readonly checkCalls?: CallBreakdown;
  readonly submitCalls?: CallBreakdown;
}

/** The paired runs' cycles: the bot's check and the bare shadow's check of the same live workers, back to back. */
export interface PairedCycles {
  readonly runs: number;
  readonly workers: number;
  readonly botMs: Summary;
  readonly bareMs: Summary;
  /** Per cycle, bot / bare. */
  readonly ratio: Summary;
  /** Medians of the per-cycle ratio by which check went first (a difference is the order's, not the mode's). */
  readonly ratioBotFirst: number;
  readonly ratioBareFirst: number;
  /** Where the bot's checks of these cycles spent their time. */
  readonly checkCalls?: CallBreakdown;
}

export interface HpcSummary {
  readonly lifecycle?: Partial<Record<HpcMode, ModeSummary>>;
  readonly reference?: Partial<Record<HpcMode, ModeSummary>>;
  readonly pairedCycles?: PairedCycles;
}

const round2 = (value: number): number => Math.round(value * 100) / 100;
const median = (values: readonly number[], what: string): number => summarize(values, what).median;

/** A remote call's time outside the plugin: herder encode + round trip + herder apply - the plugin's time in the bot. */
const middlewareMsOf = (call: RemoteCall): number => call.parts!.herderEncodeMs + call.roundTripMs + call.parts!.herderApplyMs - call.parts!.botPluginMs;

function breakdown(calls: readonly RemoteCall[], what: string): CallBreakdown | undefined {
  const timed = calls.filter((c) => c.parts !== undefined);
  if (timed.length === 0) return undefined;
  const parts = Object.fromEntries(callParts.map((part) => [part, round2(median(timed.map((c) => c.parts![part]), `${what} ${part}`))])) as Record<(typeof callParts)[number], number>;
  return {
    ...parts,
    roundTripMs: round2(median(timed.map((c) => c.roundTripMs), `${what} round trip`)),
    // What the middleware adds to each call, measured inside the call: free of the drift between runs.
    middlewareMs: round2(median(timed.map(middlewareMsOf), `${what} middleware`)),
    callOverPlugin: round2(median(timed.map((c) => (middlewareMsOf(c) + c.parts!.botPluginMs) / c.parts!.botPluginMs), `${what} call/plugin`)),
    calls: timed.length,
  };
}

function figuresOf(run: CheckedRun): RunFigures {
  const cycles = summarize(run.cycles.map((c) => c.ms), `${run.harvesterID} cycles`);
  return {
    submitMs: run.submitMs,
    cycleMedianMs: cycles.median,
    cycleP90Ms: cycles.p90,
    firstCycleMs: run.cycles[0]!.ms,
    cycles: run.cycles.length,
    monitorMs: run.monitorMs,
    killMs: run.killMs,
    sweepMs: run.sweepMs,
    wholeMs: run.wholeMs,
    jobsHeldAtStart: run.jobsHeldAtStart,
    loadAverageAtStart: run.loadAverageAtStart,
    cpuBusyShare: run.cpuBusyShare,
  };
}

function summarizeMode(runs: readonly CheckedRun[], what: string): ModeSummary {
  const figures = runs.map(figuresOf);
  const keys = Object.keys(figures[0]!) as (keyof RunFigures)[];
  const medians = Object.fromEntries(keys.map((key) => [key, median(figures.map((f) => f[key]), `${what} ${key}`)])) as unknown as RunFigures;
  const calls = (method: string, phase: RemoteCall['phase']): RemoteCall[] => runs.flatMap((r) => r.remoteCalls.filter((c) => c.method === method && c.phase === phase));
  const checkCalls = breakdown(calls('monitor.checkWorkers', 'cycles'), `${what} checkWorkers`);
  const submitCalls = breakdown(calls('submitter.submitWorkers', 'submit'), `${what} submitWorkers`);
  return {
    workers: runs[0]!.workers,
    runs: figures,
    median: medians,
    ...(checkCalls === undefined ? {} : { checkCalls }),
    ...(submitCalls === undefined ? {} : { submitCalls }),
  };
}

function summarizePaired(runs: readonly CheckedRun[]): PairedCycles | undefined {
  const cycles = runs.flatMap((r) => r.cycles.filter((c): c is Cycle & { shadowMs: number } => c.verdict && c.shadowMs !== undefined));
  if (cycles.length === 0) return undefined;
  const ratioOf = (c: Cycle & { shadowMs: number }): number => c.ms / c.shadowMs;
  const medianRatio = (first: boolean): number => {
    const these = cycles.filter((c) => c.shadowFirst === first);
    return these.length === 0 ? Number.NaN : median(these.map(ratioOf), 'paired ratio by order');
  };
  const checkCalls = breakdown(runs.flatMap((r) => r.remoteCalls.filter((c) => c.method === 'monitor.checkWorkers' && c.phase === 'cycles')), 'paired checkWorkers');
  return {
    ...(checkCalls === undefined ? {} : { checkCalls }),
    runs: runs.length,
    workers: runs[0]!.workers,
    botMs: summarize(cycles.map((c) => c.ms), 'paired bot checks'),
    bareMs: summarize(cycles.map((c) => c.shadowMs), 'paired bare checks'),
    ratio: summarize(cycles.map(ratioOf), 'paired ratios'),
    ratioBotFirst: medianRatio(false),
    ratioBareFirst: medianRatio(true),
  };
}

export function summarizeRuns(runs: readonly CheckedRun[]): HpcSummary {
  const byMode = (scenario: 'lifecycle' | 'reference'): Partial<Record<HpcMode, ModeSummary>> | undefined => {
    const modes: Partial<Record<HpcMode, ModeSummary>> = {};
    for (const mode of hpcModes) {
      const these = runs.filter((r) => r.scenario === scenario && r.mode === mode);
      if (these.length > 0) modes[mode] = summarizeMode(these, `${scenario} ${mode}`);
    }
    return Object.keys(modes).length === 0 ? undefined : modes;
  };
  const lifecycle = byMode('lifecycle');
  const reference = byMode('reference');
  const pairedCycles = summarizePaired(runs.filter((r) => r.scenario === 'paired'));
  return { ...(lifecycle === undefined ? {} : { lifecycle }), ...(reference === undefined ? {} : { reference }), ...(pairedCycles === undefined ? {} : { pairedCycles }) };
}

/** Geometric mean over r of bot run r / bare run r (over the runs both modes have). */
export function pairedRatio(bot: ModeSummary, bare: ModeSummary, key: keyof RunFigures): number {
  const n = Math.min(bot.runs.length, bare.runs.length);
  let logSum = 0;
  for (let r = 0; r < n; r++) logSum += Math.log(bot.runs[r]![key] / bare.runs[r]![key]);
  return Math.exp(logSum / n);
}

export function evaluateHpcTargets(summary: HpcSummary): TargetResult[] {
  const targets: TargetResult[] = [];
  const ms = (value: number): string => formatValue(value, 'ms');
  const paired = summary.pairedCycles;
  if (paired !== undefined) {
    targets.push(
      target(`monitor cycle, ${paired.workers} workers: bot / bare, same cycle`, paired.ratio.median, '<=', 1.1, 'x', `median of ${paired.ratio.samples.length} per-cycle ratios (bot and bare checks of the same live workers, back to back); medians ${ms(paired.botMs.median)} vs ${ms(paired.bareMs.median)}`),
    );
  }
  const life = summary.lifecycle;
  if (life?.bare !== undefined && life.bot !== undefined) {
    const { bare, bot } = life;
    const pairs = Math.min(bot.runs.length, bare.runs.length);
    targets.push(target(`whole run, ${bot.workers} workers: bot / bare`, pairedRatio(bot, bare, 'wholeMs'), '<=', 1.1, 'x', `separate runs paired over ${pairs} run(s); medians ${ms(bot.median.wholeMs)} vs ${ms(bare.median.wholeMs)}`));
  }
  const ref = summary.reference?.bot;
  if (ref !== undefined) {
    const scale = harvesterReference.workers / ref.workers;
    const scaled = scale === 1 ? '' : ` (ours scaled x${scale.toFixed(2)} to ${harvesterReference.workers} workers)`;
    targets.push(
      target(`submit ${ref.workers}: harvester's / ours via bot`, harvesterReference.submitMs / (ref.median.submitMs * scale), '>=', 3.5, 'x', `${ms(harvesterReference.submitMs)} / ${ms(ref.median.submitMs)}, median of ${ref.runs.length} run(s)${scaled}`),
      target(`check ${ref.workers} live: harvester's middleware / ours via bot`, harvesterReference.checkMiddlewareMs / (ref.median.cycleMedianMs * scale), '>=', 60, 'x', `${ms(harvesterReference.checkMiddlewareMs)} / ${ms(ref.median.cycleMedianMs)}, median of ${ref.runs.length} run(s)${scaled}`),
    );
  }
  return targets;
}
