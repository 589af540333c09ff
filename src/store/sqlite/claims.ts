// The claim: pick the claimable rows and lock them for the owner. Runs inside an immediate transaction
// (SQLite has one writer at a time), so the rows picked cannot be taken by anyone between the pick and the
// lock: two claims never return the same row.
import type { LockColumns } from '../lock-columns.js';
import { quote } from './schema.js';
import { inList, type StatementCache } from './spec-table.js';
import type { SqlValue } from './values.js';

export interface ClaimTiming {
  readonly owner: string;
  readonly nowMs: number;
  readonly lockIntervalSec: number;
  readonly checkIntervalSec: number;
  readonly limit: number;
}

/** A condition on the table with its `?` parameters, e.g. a status list. */
export interface Condition {
  readonly sql: string;
  readonly parameters: readonly SqlValue[];
}

/** Free and due, or locked longer ago than the lock interval. Parameters: checkLimit, lockLimit. */
export function claimableCondition(lock: LockColumns): string {
  const [owner, lockTime, due] = [quote(lock.lock), quote(lock.lockTime), quote(lock.due)];
  const isDue = lock.dueRequired ? `(${due} IS NOT NULL AND ${due} <= ?)` : `(${due} IS NULL OR ${due} <= ?)`;
  // A lock without a time (set by hand) counts as expired rather than held for ever.
  return `((${owner} IS NULL AND ${isDue}) OR (${owner} IS NOT NULL AND (${lockTime} IS NULL OR ${lockTime} < ?)))`;
}

/** Locks up to `limit` claimable rows for the owner and returns their keys, most overdue first. */
export function lockClaimableRows(
  statements: StatementCache,
  table: string,
  primaryKey: string,
  lock: LockColumns,
  conditions: readonly Condition[],
  timing: ClaimTiming,
): number[] {
  const checkLimit = timing.nowMs - timing.checkIntervalSec * 1000;
  const lockLimit = timing.nowMs - timing.lockIntervalSec * 1000;
  const where = [...conditions.map((c) => c.sql), claimableCondition(lock)].join(' AND ');
  const select = `SELECT ${quote(primaryKey)} AS id FROM ${quote(table)} WHERE ${where} ORDER BY ${quote(lock.due)}, ${quote(primaryKey)} LIMIT ?`;
  const parameters = [...conditions.flatMap((c) => c.parameters), checkLimit, lockLimit, timing.limit];
  const ids = (statements.get(select).all(...parameters) as { id: number }[]).map((r) => r.id);
  if (ids.length === 0) return ids;
  const stamped = [...new Set([lock.lockTime, lock.due])];
  const update = `UPDATE ${quote(table)} SET ${quote(lock.lock)} = ?, ${stamped.map((c) => `${quote(c)} = ?`).join(', ')} WHERE ${inList(primaryKey)}`;
  statements.get(update).run(timing.owner, ...stamped.map(() => timing.nowMs), JSON.stringify(ids));
  return ids;
}
