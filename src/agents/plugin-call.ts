// How an agent calls a plugin: with a deadline (the agent's pluginTimeout), aborted when the agent stops, and
// with the result checked against the contract's shape. Whatever goes wrong comes back as a PluginCallError
// naming the queue, the method and the ids the call was about, so the agent can log it, mark what it must
// and carry on. A plugin that hangs and ignores its AbortSignal is left behind: the agent does not wait.
import type { QueueConfig } from '../config/index.js';
import type { Logger } from '../logging/index.js';
import { OutcomeUnknownError } from '../middleware/errors.js';
import { isOutcome, type Outcome, type PluginContext, type WorkerCheck } from '../plugins/index.js';
import { WorkSpec } from '../spec/index.js';

/**
 * - threw: the plugin (or the middleware) threw;
 * - timeout: no answer within the deadline;
 * - malformed: an answer that does not fit the contract (wrong length, not an Outcome, ...);
 * - outcome-unknown: the call may or may not have taken effect (the link dropped mid-call, or the deadline
 *   passed while the plugin may still be working): never repeat it blindly.
 */
export type PluginCallFailure = 'threw' | 'timeout' | 'malformed' | 'outcome-unknown';

export class PluginCallError extends Error {
  constructor(
    readonly failure: PluginCallFailure,
    readonly queueName: string,
    readonly method: string,
    /** What the call was about: "workers 3,4,5", "job 1234". */
    readonly subject: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`queue ${queueName}: ${method} for ${subject}: ${detail}`, options);
    this.name = 'PluginCallError';
  }

  /** Whether the call may have taken effect although no answer came back. */
  get mayHaveTakenEffect(): boolean {
    return this.failure === 'outcome-unknown' || this.failure === 'timeout';
  }
}

export interface PluginCallOptions<T> {
  readonly queue: QueueConfig;
  readonly method: string;
  readonly subject: string;
  readonly log: Logger;
  /** Seconds. */
  readonly timeout: number;
  /** The agent's stop signal. */
  readonly signal: AbortSignal;
  /** Returns what is wrong with the answer, or undefined when it fits the contract. */
  readonly check?: (value: unknown) => string | undefined;
  readonly call: (ctx: PluginContext) => Promise<T>;
}

/** Calls a plugin; resolves with its answer or rejects with a PluginCallError (never anything else). */
export async function callPlugin<T>(opts: PluginCallOptions<T>): Promise<T> {
  const controller = new AbortController();
  const onStop = (): void => controller.abort(opts.signal.reason);
  opts.signal.addEventListener('abort', onStop, { once: true });
  if (opts.signal.aborted) onStop();
  const ctx: PluginContext = { queue: opts.queue, log: opts.log, signal: controller.signal };
  const fail = (failure: PluginCallFailure, detail: string, cause?: unknown): PluginCallError =>
    new PluginCallError(failure, opts.queue.queueName, opts.method, opts.subject, detail, cause === undefined ? undefined : { cause });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const error = fail('timeout', `no answer within ${opts.timeout} s (pluginTimeout); the call was aborted`);
      controller.abort(error);
      reject(error);
    }, opts.timeout * 1000);
  });
  try {
    let value: T;
    try {
      value = await Promise.race([opts.call(ctx), deadline]);
    } catch (error) {
      if (error instanceof PluginCallError) throw error;
      if (error instanceof OutcomeUnknownError) throw fail('outcome-unknown', error.message, error);
      throw fail('threw', error instanceof Error ? error.message : `threw a non-Error: ${String(error)}`, error);
    }
    const problem = opts.check?.(value);
    if (problem !== undefined) throw fail('malformed', `malformed answer: ${problem}`);
    return value;
  } finally {
    clearTimeout(timer);
    opts.signal.removeEventListener('abort', onStop);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;
}

/** The answer must be one Outcome. */
export function anOutcome(value: unknown): string | undefined {
  return isOutcome(value) ? undefined : `expected an Outcome ({kind, diag}), got ${describe(value)}`;
}

/** The answer must be n Outcomes, one per item sent. */
export function outcomesFor(n: number): (value: unknown) => string | undefined {
  return (value) => {
    if (!Array.isArray(value)) return `expected ${n} Outcomes, got ${describe(value)}`;
    if (value.length !== n) return `expected ${n} Outcomes (one per item), got ${value.length}`;
    const bad = value.findIndex((o) => !isOutcome(o));
    return bad === -1 ? undefined : `item ${bad} is not an Outcome`;
  };
}

/** The answer of checkWorkers: an Outcome whose value, when it succeeded, holds n WorkerChecks. */
export function workerChecksFor(n: number): (value: unknown) => string | undefined {
  return (value) => {
    const notOutcome = anOutcome(value);
    if (notOutcome !== undefined) return notOutcome;
    const outcome = value as Outcome<unknown>;
    if (outcome.kind !== 'succeeded') return undefined;
    const checks = outcome.value;
    if (!Array.isArray(checks)) return `expected ${n} worker checks, got ${describe(checks)}`;
    if (checks.length !== n) return `expected ${n} worker checks (one per worker), got ${checks.length}`;
    const bad = (checks as unknown[]).findIndex((c) => !isWorkerCheck(c));
    return bad === -1 ? undefined : `check ${bad} is not {status: a worker status, diag: string}`;
  };
}

function isWorkerCheck(value: unknown): value is WorkerCheck {
  if (typeof value !== 'object' || value === null) return false;
  const { status, diag } = value as { status?: unknown; diag?: unknown };
  return WorkSpec.isWorkerStatus(status) && (typeof diag === 'string' || diag === undefined);
}

/** "workers 1,2,3" / "worker 7", shortened for long lists. */
export function workersSubject(workerIDs: readonly (number | null)[]): string {
  return subject('worker', workerIDs);
}

export function jobsSubject(PandaIDs: readonly (number | null)[]): string {
  return subject('job', PandaIDs);
}

function subject(noun: string, ids: readonly (number | null)[]): string {
  const shown = ids.slice(0, 10).map(String).join(',');
  const more = ids.length > 10 ? `,... (${ids.length})` : '';
  return `${noun}${ids.length === 1 ? '' : 's'} ${shown}${more}`;
}
