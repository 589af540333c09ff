// The checks every engine makes on a claim's and an owned update's arguments, before any SQL: one place, so the
// engines refuse the same inputs with the same messages.
import { StoreArgumentError } from './errors.js';
import type { LockColumns } from './lock-columns.js';
import type { OperationContext } from './sql/operation.js';
import type { QueueClaim, QueuedJobTake } from './store.js';

/** The lock columns of an owned update, with their owner and purpose. */
export type OwnedLock = LockColumns & { owner: string; purpose: string };

export interface ClaimTiming {
  readonly owner: string;
  readonly nowMs: number;
  readonly lockIntervalSec: number;
  readonly checkIntervalSec: number;
  readonly limit: number;
}

/** A claim's owner, limit, intervals and clock, checked (StoreArgumentError naming what is wrong). */
export function claimTiming(ctx: OperationContext, claim: { owner: string; lockIntervalSec: number; checkIntervalSec?: number; limit: number; now?: Date }): ClaimTiming {
  const bad = (what: string) => new StoreArgumentError(ctx.database, ctx.operation, what);
  if (typeof claim.owner !== 'string' || claim.owner === '') throw bad('the owner must be a non-empty string');
  if (!Number.isSafeInteger(claim.limit) || claim.limit < 1) throw bad(`the limit must be an integer of at least 1, got ${claim.limit}`);
  if (!(claim.lockIntervalSec >= 0)) throw bad(`lockIntervalSec must be a number of seconds >= 0, got ${claim.lockIntervalSec}`);
  const checkIntervalSec = claim.checkIntervalSec ?? 0;
  if (!(checkIntervalSec >= 0)) throw bad(`checkIntervalSec must be a number of seconds >= 0, got ${checkIntervalSec}`);
  const nowMs = (claim.now ?? new Date()).getTime();
  if (Number.isNaN(nowMs)) throw bad('now is an invalid Date');
  return { owner: claim.owner, nowMs, lockIntervalSec: claim.lockIntervalSec, checkIntervalSec, limit: claim.limit };
}

/** The lock columns an owned update names (undefined for an admin update), or StoreArgumentError. */
export function lockOf(
  ctx: OperationContext,
  options: { lock?: { purpose: string; owner: string }; releaseLock?: boolean },
  table: Readonly<Record<string, LockColumns>>,
): OwnedLock | undefined {
  if (options.lock === undefined) {
    if (options.releaseLock === true) throw new StoreArgumentError(ctx.database, ctx.operation, 'releaseLock needs the lock (purpose and owner) to release');
    return undefined;
  }
  const columns = Object.hasOwn(table, options.lock.purpose) ? table[options.lock.purpose] : undefined;
  if (columns === undefined) throw new StoreArgumentError(ctx.database, ctx.operation, `unknown lock purpose ${JSON.stringify(options.lock.purpose)}`);
  return { ...columns, owner: options.lock.owner, purpose: options.lock.purpose };
}

/** The lock columns of a claim's purpose, or StoreArgumentError for a purpose the table does not have. */
export function claimLockOf(ctx: OperationContext, table: Readonly<Record<string, LockColumns>>, purpose: string): LockColumns {
  const lock = Object.hasOwn(table, purpose) ? table[purpose] : undefined;
  if (lock === undefined) throw new StoreArgumentError(ctx.database, ctx.operation, `unknown purpose ${JSON.stringify(purpose)}`);
  return lock;
}

/** A queue claim's timing: a claim of every queue named (at least one). */
export function queueClaimTiming(ctx: OperationContext, claim: QueueClaim): ClaimTiming {
  return claimTiming(ctx, { ...claim, limit: Math.max(1, claim.queueNames.length) });
}

/** The time an owner renews its locks to, checked as a claim's owner and clock are. */
export function renewalTimeMs(ctx: OperationContext, owner: string, now: Date): number {
  return claimTiming(ctx, { owner, lockIntervalSec: 0, limit: 1, now }).nowMs;
}

/** A take of queued jobs, checked: a claim's timing and a non-empty queue name. */
export function queuedJobTake(ctx: OperationContext, take: QueuedJobTake): ClaimTiming & { readonly queueName: string } {
  const timing = claimTiming(ctx, take);
  if (typeof take.queueName !== 'string' || take.queueName === '') {
    throw new StoreArgumentError(ctx.database, ctx.operation, 'the queueName must be a non-empty string');
  }
  return { ...timing, queueName: take.queueName };
}
