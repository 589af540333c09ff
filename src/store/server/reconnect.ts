// Riding out a database server that is gone for a while (restarted, failed over, network cut): a
// transaction that failed because the connection was lost before its COMMIT was sent was rolled back by the
// server, so it is run again, until the server answers or reconnectTimeout has passed. A connection lost
// during COMMIT leaves the outcome unknown: that is never retried blindly (the error says so). Deadlocks
// between instances are retried the same way (the engine rolled the victim back).
import { StoreClosedError, StoreCommitUnknownError, StoreConnectionError, StoreError, StoreQueryError } from '../errors.js';
import { serverTarget, type ServerConnectionSettings } from './settings.js';
import { tlsErrorOf } from './tls-failure.js';

export interface ReconnectPolicy {
  /** How long to keep retrying (harvester's [db] reconnectTimeout, seconds); 0: fail at once. */
  readonly reconnectTimeoutSec: number;
  /** Told of each attempt that failed on an unreachable server and will be retried, and of the recovery. */
  readonly onEvent?: (event: ReconnectEvent) => void;
}

export type ReconnectEvent =
  | { readonly kind: 'retrying'; readonly operation: string; readonly reason: string; readonly attempt: number; readonly waitMs: number; readonly remainingMs: number }
  | { readonly kind: 'recovered'; readonly operation: string; readonly attempts: number; readonly downMs: number };

/**
 * How a failed attempt is to be treated. `conflict`: the engine rolled the transaction back to break a
 * deadlock (or a lock wait timed out): retried at once, up to maxConflictRetries times, whatever
 * reconnectTimeout says (the server is there; another transaction was in the way).
 */
export type Failure = { readonly retry: true; readonly reason: string; readonly conflict?: boolean } | { readonly retry: false; readonly error: unknown };

/** Retries of a transaction the engine rolled back to break a deadlock, before the error goes to the caller. */
export const maxConflictRetries = 20;

export async function withReconnect<T>(
  operation: string,
  policy: ReconnectPolicy,
  attempt: () => Promise<T>,
  classify: (error: unknown) => Failure,
  giveUp: (reason: string, cause: unknown, attempts: number) => StoreError,
  giveUpConflict: (reason: string, cause: unknown, attempts: number) => StoreError,
): Promise<T> {
  const started = Date.now();
  let attempts = 0;
  let conflicts = 0;
  let outages = 0;
  for (;;) {
    attempts++;
    try {
      const result = await attempt();
      // Only after waiting for the server: a deadlock retried at once is no outage to report.
      if (outages > 0) policy.onEvent?.({ kind: 'recovered', operation, attempts, downMs: Date.now() - started });
      return result;
    } catch (error) {
      const failure = classify(error);
      if (!failure.retry) throw failure.error;
      if (failure.conflict === true) {
        if (++conflicts > maxConflictRetries) throw giveUpConflict(failure.reason, error, conflicts);
        // A short random pause: the two transactions that met should not meet again in step.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * conflicts));
        continue;
      }
      const remainingMs = started + policy.reconnectTimeoutSec * 1000 - Date.now();
      if (remainingMs <= 0) throw giveUp(failure.reason, error, attempts);
      outages++;
      const waitMs = Math.min(remainingMs, 100 * 2 ** Math.min(outages - 1, 5), 2000);
      policy.onEvent?.({ kind: 'retrying', operation, reason: failure.reason, attempt: outages, waitMs, remainingMs });
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }
}

/** Node's socket errors that mean "the server is not there (now)". */
export const socketErrorCodes: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN', 'ECONNABORTED']);

/** Thrown inside a transaction when COMMIT itself failed on a lost connection: the outcome is unknown. */
export function commitUnknown(database: string, operation: string, step: string, cause: unknown): StoreCommitUnknownError {
  return new StoreCommitUnknownError(database, operation, step, { cause });
}

/** How an engine's driver reads its connector's errors (serverTransaction does the rest). */
export interface EngineFailures {
  /** The connection is gone or cannot be made (the server may come back). */
  isConnectionLoss(error: unknown): boolean;
  /** The server's words for a lost connection, for the log. */
  lossReason(error: unknown): string;
  /** The engine rolled the transaction back to break a deadlock (or a lock wait timed out): the reason, else undefined. */
  conflictReason(error: unknown): string | undefined;
  /** Any other failure as a store error naming the step (log in, open database, a query). */
  translate(error: unknown, operation: string): unknown;
}

export interface ServerTransaction<T> {
  readonly operation: string;
  readonly database: string;
  readonly settings: ServerConnectionSettings;
  /** True once the driver is closed: a transaction still waiting for the server ends (StoreClosedError). */
  readonly closed: () => boolean;
  readonly attempt: () => Promise<T>;
  readonly failures: EngineFailures;
}

/**
 * One transaction of a server driver, both engines: attempts it, waits for and retries an unreachable server
 * (reconnectTimeout) and deadlocks, and turns everything else into a store error. The order of the checks is
 * the point: a store error stands; a closed driver never waits; a refused certificate ends the connection
 * too, but waiting does not fix it, so TLS comes before the connection-loss test.
 */
export function serverTransaction<T>(t: ServerTransaction<T>): Promise<T> {
  const { operation, database, settings, failures } = t;
  const classify = (error: unknown): Failure => {
    if (error instanceof StoreError) return { retry: false, error };
    if (t.closed()) return { retry: false, error: new StoreClosedError(database, operation) };
    const tls = tlsErrorOf(error, database, operation, settings);
    if (tls !== undefined) return { retry: false, error: tls };
    if (failures.isConnectionLoss(error)) return { retry: true, reason: failures.lossReason(error) };
    const conflict = failures.conflictReason(error);
    if (conflict !== undefined) return { retry: true, conflict: true, reason: conflict };
    return { retry: false, error: failures.translate(error, operation) };
  };
  return withReconnect(
    operation,
    settings,
    t.attempt,
    classify,
    (reason, cause, attempts) =>
      new StoreConnectionError(database, operation, `connect to ${serverTarget(settings)}`, `${reason} (gave up after ${attempts} attempts in ${settings.reconnectTimeoutSec} s, reconnectTimeout)`, { cause }),
    (reason, cause, attempts) => new StoreQueryError(database, operation, `${reason} (rolled back ${attempts} times by the server to break lock conflicts; giving up)`, { cause }),
  );
}
