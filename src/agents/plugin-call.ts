// How an agent calls a plugin: with a deadline (the agent's pluginTimeout), aborted when the agent stops, and
// with the result checked against the contract's shape. Whatever goes wrong comes back as a PluginCallError
// naming the queue, the method and the ids the call was about, so the agent can log it, mark what it must
// and carry on. A plugin that hangs and ignores its AbortSignal is left behind: the agent does not wait.
//
// The one place where an agent learns whether a failed call may have taken effect: PluginCallError's
// callEffect (and mayHaveTakenEffect), derived below from how the call ended and, when the plugin or the
// middleware threw, from the error's own callEffect (src/plugins/call-effect.ts). Agents that must choose
// between "try again" and "ask the resource what happened" read only that.
import type { QueueConfig } from '../config/index.js';
import type { Logger } from '../logging/index.js';
import { DeadlineExceededError } from '../middleware/errors.js';
import { callEffectOf, isOutcome, type CallEffect, type Outcome, type PluginContext, type WorkerCheck } from '../plugins/index.js';
import { WorkSpec } from '../spec/index.js';

/**
 * How the call ended:
 * - threw: the plugin (or the middleware) threw; what it may have done is what the error says;
 * - timeout: no answer within the deadline (the agent's pluginTimeout, or the middleware's call deadline);
 * - malformed: an answer that does not fit the contract (wrong length, not an Outcome, ...): it ran;
 * - stopped: the agent stopped: before the call was made, it was not made ('not-run'); while it was in
 *   flight, the plugin was aborted and its error says what it may have done (one that does not say may have).
 */
export type PluginCallFailure = 'threw' | 'timeout' | 'malformed' | 'stopped';

export class PluginCallError extends Error {
  /** Whether the call may have done something (see call-effect.ts). */
  readonly callEffect: CallEffect;

  constructor(
    readonly failure: PluginCallFailure,
    readonly queueName: string,
    readonly method: string,
    /** What the call was about: "workers 3,4,5", "job 1234". */
    readonly subject: string,
    detail: string,
    options: { readonly callEffect: CallEffect; readonly cause?: unknown },
  ) {
    super(`queue ${queueName}: ${method} for ${subject}: ${detail}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PluginCallError';
    this.callEffect = options.callEffect;
  }

  /** Whether the call may have taken effect although no usable answer came back: never repeat it blindly. */
  get mayHaveTakenEffect(): boolean {
    return this.callEffect === 'may-have-run';
  }
}

/**
 * Whether a failed call's error means it may have taken effect: a PluginCallError says; anything else (which
 * callPlugin never rejects with) is taken as may-have-run.
 */
export function mayHaveTakenEffect(error: unknown): boolean {
  return !(error instanceof PluginCallError) || error.mayHaveTakenEffect;
}

/** Keeps the locks of the rows an agent holds from expiring while a call runs (see lock-keeper.ts). */
export interface LockHolder {
  during<T>(work: () => Promise<T>): Promise<T>;
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
  /** Renews the locks of the rows the agent holds while the call runs (required: every agent holds rows). */
  readonly locks: LockHolder;
  readonly call: (ctx: PluginContext) => Promise<T>;
}

/** Calls a plugin; resolves with its answer or rejects with a PluginCallError (never anything else). */
export async function callPlugin<T>(opts: PluginCallOptions<T>): Promise<T> {
  const fail = (failure: PluginCallFailure, detail: string, callEffect: CallEffect, cause?: unknown): PluginCallError =>
    new PluginCallError(failure, opts.queue.queueName, opts.method, opts.subject, detail, { callEffect, ...(cause === undefined ? {} : { cause }) });
  if (opts.signal.aborted) {
    throw fail('stopped', 'the agent is stopping; the call was not made', 'not-run', opts.signal.reason);
  }
  return opts.locks.during(() => runStarted(opts, fail));
}

type Fail = (failure: PluginCallFailure, detail: string, callEffect: CallEffect, cause?: unknown) => PluginCallError;

/**
 * The call from the moment it is made. The agent's stop aborts the plugin's signal and waits for its answer
 * (a plugin that stops cleanly says exactly what it did, e.g. which workers it did not submit); an error it
 * ends with then says what it may have done. The deadline does not wait: the plugin is left behind, and
 * may still be working.
 */
async function runStarted<T>(opts: PluginCallOptions<T>, fail: Fail): Promise<T> {
  const controller = new AbortController();
  const onStop = (): void => controller.abort(opts.signal.reason);
  opts.signal.addEventListener('abort', onStop, { once: true });
  const ctx: PluginContext = { queue: opts.queue, log: opts.log, signal: controller.signal };
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const error = fail('timeout', `no answer within ${opts.timeout} s (pluginTimeout); the call was aborted`, 'may-have-run');
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
      const detail = error instanceof Error ? error.message : `threw a non-Error: ${String(error)}`;
      const failure: PluginCallFailure = opts.signal.aborted ? 'stopped' : error instanceof DeadlineExceededError ? 'timeout' : 'threw';
      throw fail(failure, detail, callEffectOf(error), error);
    }
    const problem = opts.check?.(value);
    // It answered, so it ran: a malformed answer is as unknown as a lost one.
    if (problem !== undefined) throw fail('malformed', `malformed answer: ${problem}`, 'may-have-run');
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
