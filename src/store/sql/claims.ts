// A claim's SQL on every engine: which rows it may take (free and due, or locked longer ago than the lock
// interval) and what it writes on the rows it took. How the rows are picked and locked is the engine's:
// SQLite's one writer at a time, the server engines' SELECT ... FOR UPDATE SKIP LOCKED.
import type { ClaimTiming } from '../claim-arguments.js';
import type { LockColumns } from '../lock-columns.js';
import type { Condition } from './conditions.js';
import { quote } from './tables.js';
import type { SqlValue } from './values.js';

/** Free and due, or locked longer ago than the lock interval. Parameters: checkLimit, lockLimit. */
export function claimableCondition(lock: LockColumns): string {
  const [owner, lockTime, due] = [quote(lock.lock), quote(lock.lockTime), quote(lock.due)];
  const isDue = lock.dueRequired ? `(${due} IS NOT NULL AND ${due} <= ?)` : `(${due} IS NULL OR ${due} <= ?)`;
  // A lock without a time (set by hand) counts as expired rather than held for ever.
  return `((${owner} IS NULL AND ${isDue}) OR (${owner} IS NOT NULL AND (${lockTime} IS NULL OR ${lockTime} < ?)))`;
}

/** The rows a claim may take: its conditions and claimableCondition, with the parameters and the claim's limit last (for LIMIT ?). */
export function claimSelection<P>(lock: LockColumns, conditions: readonly Condition<P>[], timing: ClaimTiming): { condition: string; parameters: (P | number)[] } {
  const checkLimit = timing.nowMs - timing.checkIntervalSec * 1000;
  const lockLimit = timing.nowMs - timing.lockIntervalSec * 1000;
  return {
    condition: [...conditions.map((c) => c.sql), claimableCondition(lock)].join(' AND '),
    parameters: [...conditions.flatMap((c) => c.parameters), checkLimit, lockLimit, timing.limit],
  };
}

/** What a claim writes on the rows it took: the owner, and the claim's time as lock time (and due time). */
export function claimStamp(lock: LockColumns, timing: ClaimTiming): [string, SqlValue][] {
  const stamped = [...new Set([lock.lockTime, lock.due])];
  return [[lock.lock, timing.owner], ...stamped.map((column): [string, SqlValue] => [column, timing.nowMs])];
}

/** `"a" = ?, "b" = ?`: the SET list of assignments, whose values follow as parameters. */
export function setList(assignments: ReadonlyArray<readonly [string, SqlValue]>): string {
  return assignments.map(([column]) => `${quote(column)} = ?`).join(', ');
}
