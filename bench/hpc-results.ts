// The shapes of the HPC benchmark: what one measured run (a child process, bare in hv-hpc or through the bot)
// reports on stdout as JSON, and what the top process adds after checking the run against SLURM's accounting.
import { callParts } from './cases.js';
import { ChildResultError } from './results.js';

/** Where the SLURM plugins ran: bare in hv-hpc as the testbed user, or in the bot reached through the jump host. */
export type HpcMode = 'bare' | 'bot';
export const hpcModes: readonly HpcMode[] = ['bare', 'bot'];

export const hpcModeLabels: Record<HpcMode, string> = {
  bare: 'bare (hv-hpc, as hvuser)',
  bot: 'bot via jump host',
};

/**
 * lifecycle: N workers with a short payload submitted, monitored until all are final, killed and swept.
 * reference: N workers with a long payload submitted and checked while all are live (harvester's measurement).
 * paired: N workers with a long payload through the bot, checked while all are live, each check joined by the
 * bare monitor's (a shadow process in hv-hpc) of the same workers, back to back, which one first alternating.
 */
export type HpcScenario = 'lifecycle' | 'reference' | 'paired';

/** One checkWorkers call of a monitor cycle. */
export interface Cycle {
  readonly ms: number;
  /** Workers checked (the live ones). */
  readonly live: number;
  /** False when the monitor answered retryLater (no verdict this cycle). */
  readonly verdict: boolean;
  /** paired: the bare monitor's check of the same workers, and whether it ran before the bot's. */
  readonly shadowMs?: number;
  readonly shadowFirst?: boolean;
}

/** The parts of one remote call's time (the keys of cases.ts' callParts), from BotClient.onTiming. */
export type CallParts = Record<(typeof callParts)[number], number>;

/** The part of a run a remote call belongs to; the report's call parts come from the 'cycles' ones. */
export type RunPhase = 'submit' | 'settle' | 'cycles' | 'kill' | 'until-cancelled' | 'sweep';

export interface RemoteCall {
  readonly phase: RunPhase;
  readonly method: string;
  readonly specs: number;
  readonly roundTripMs: number;
  /** Undefined when the reply came from the bot's journal (a retried call). */
  readonly parts?: CallParts;
}

/** What a run child prints. */
export interface HpcRun {
  readonly scenario: HpcScenario;
  readonly mode: HpcMode;
  readonly harvesterID: string;
  readonly workers: number;
  readonly submitMs: number;
  /** lifecycle: every monitor cycle until all were final; reference, paired: the checks of all live workers. */
  readonly cycles: readonly Cycle[];
  /** From the end of the submission until every worker was final (lifecycle only; 0 for reference). */
  readonly monitorMs: number;
  readonly killMs: number;
  readonly sweepMs: number;
  /** Submit + monitor until final + kill + sweep. */
  readonly wholeMs: number;
  /** Worker statuses after the last check, by status. */
  readonly statuses: Record<string, number>;
  /** The SLURM job ids the workers got. */
  readonly batchIDs: readonly string[];
  /** The bot's plugin calls other than sweepWorker (bot mode only). */
  readonly remoteCalls: readonly RemoteCall[];
  /** What disturbed the run (tunnel reconnects). */
  readonly notes: readonly string[];
}

/** What the top process found when it checked a run against SLURM and the file system. */
export interface RunCheck {
  /** Jobs in sacct named with the run's identity (hv-<harvesterID>-w...). */
  readonly sacctJobs: number;
  readonly sacctStates: Record<string, number>;
  /** Live jobs of the run left in squeue after it ended, cancelled by the benchmark (should be 0). */
  readonly leftoverJobs: number;
  /** Entries left in the run's access-point root after the sweep (should be 0). */
  readonly accessPointsLeft: number;
}

export interface CheckedRun extends HpcRun {
  readonly check: RunCheck;
  /** Jobs slurmctld held (all users and states) when the run started. */
  readonly jobsHeldAtStart: number;
  /** The machine's 1-minute load average when the run started. */
  readonly loadAverageAtStart: number;
  /** Share of the machine's CPU time busy (not idle or iowait) while the run child ran, 0..1. */
  readonly cpuBusyShare: number;
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Reads a run child's stdout; anything but a whole HpcRun is an error naming what is missing. */
export function parseHpcRun(text: string): HpcRun {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ChildResultError(`the run child printed no JSON: ${(error as Error).message}: ${text.slice(0, 200)}`, 'parse run output');
  }
  const run = parsed as Partial<HpcRun> | null;
  const problems: string[] = [];
  if (run?.scenario !== 'lifecycle' && run?.scenario !== 'reference' && run?.scenario !== 'paired') problems.push('scenario');
  if (run?.mode !== 'bare' && run?.mode !== 'bot') problems.push('mode');
  for (const key of ['workers', 'submitMs', 'monitorMs', 'killMs', 'sweepMs', 'wholeMs'] as const) if (!isNumber(run?.[key])) problems.push(key);
  if (!Array.isArray(run?.cycles) || !run.cycles.every((c) => isNumber(c.ms) && isNumber(c.live))) problems.push('cycles');
  if (!Array.isArray(run?.batchIDs) || !Array.isArray(run.remoteCalls) || !Array.isArray(run.notes)) problems.push('batchIDs/remoteCalls/notes');
  if (problems.length > 0) throw new ChildResultError(`the run child's JSON lacks or mistypes: ${problems.join(', ')}`, 'parse run output');
  return run as HpcRun;
}
