// The shapes the benchmark reports: one CaseResult per measured thing, written to the JSON file as they are
// and condensed into the printed table. The hpc child process sends its CaseResults over stdout as JSON.
import type { Summary } from './stats.js';

/** How the plugin was reached. */
/** ssh-jump is the default transport (auto: the bot's unix socket); the -tcp and -stdio ones are the others. */
export type Transport = 'bare' | 'tcp-loopback' | 'ssh-loopback' | 'ssh-jump' | 'ssh-jump-tcp' | 'ssh-jump-stdio';

export const transportLabels: Record<Transport, string> = {
  bare: 'bare (local plugin)',
  'tcp-loopback': 'middleware, loopback TCP (no SSH)',
  'ssh-loopback': 'middleware, loopback SSH',
  'ssh-jump': 'middleware, via jump host (unix socket)',
  'ssh-jump-tcp': 'middleware, via jump host (TCP port)',
  'ssh-jump-stdio': 'middleware, via jump host (stdio relay, no forwarding)',
};

export type Unit = 'ms' | 'calls/s' | 'MB';

export interface CaseResult extends Summary {
  /** Stable key, e.g. "submitWorkers/N=1000/ssh-jump". */
  readonly id: string;
  /** What is measured, e.g. "submitWorkers N=1000". */
  readonly what: string;
  readonly transport: Transport;
  readonly unit: Unit;
  readonly warmups: number;
  readonly runs: number;
  /** Anything a reader needs to interpret the number (payload size, concurrency, duration). */
  readonly detail?: Record<string, number | string>;
}

export function caseId(what: string, transport: Transport): string {
  return `${what.replaceAll(' ', '/')}/${transport}`;
}

/** Thrown when the hpc child's output is not the list of results it should be. */
export class ChildResultError extends Error {
  constructor(
    message: string,
    readonly step: string,
  ) {
    super(message);
    this.name = 'ChildResultError';
  }
}

/** What the hpc child prints: its cases and anything that disturbed them. */
export interface ChildOutput {
  readonly cases: CaseResult[];
  readonly notes: string[];
}

export function parseChildResults(text: string): ChildOutput {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ChildResultError(`the loopback-SSH child printed no JSON: ${(error as Error).message}: ${text.slice(0, 200)}`, 'parse child output');
  }
  const output = parsed as Partial<ChildOutput> | null;
  const cases = output?.cases;
  const notes = output?.notes;
  const isCase = (r: unknown): boolean => typeof r === 'object' && r !== null && typeof (r as CaseResult).id === 'string' && typeof (r as CaseResult).median === 'number';
  if (!Array.isArray(cases) || !cases.every(isCase) || !Array.isArray(notes) || !notes.every((n) => typeof n === 'string')) {
    throw new ChildResultError('the loopback-SSH child printed JSON that is not {cases, notes}', 'parse child output');
  }
  return { cases, notes };
}
