// The claim: pick the claimable rows and lock them for the owner. Runs inside an immediate transaction
// (SQLite has one writer at a time), so the rows picked cannot be taken by anyone between the pick and the
// lock: two claims never return the same row.
import type { ClaimTiming } from '../claim-arguments.js';
import type { LockColumns } from '../lock-columns.js';
import { quote } from '../sql/tables.js';
import type { Spec } from '../../spec/index.js';
import { inList, type SpecTable } from './spec-table.js';
import type { SqlValue } from '../sql/values.js';

export type { ClaimTiming } from '../claim-arguments.js';

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

/**
 * Reads and locks up to `limit` claimable rows for the owner, most overdue first, in one pass: the rows are
 * read by the same query that picks them (no second lookup of 10,000 ids), then locked by key, and the
 * specs are given the lock values the UPDATE wrote.
 */
export function claimRows<S extends Spec>(table: SpecTable<S>, lock: LockColumns, conditions: readonly Condition[], timing: ClaimTiming): S[] {
  const checkLimit = timing.nowMs - timing.checkIntervalSec * 1000;
  const lockLimit = timing.nowMs - timing.lockIntervalSec * 1000;
  const where = [...conditions.map((c) => c.sql), claimableCondition(lock)].join(' AND ');
  const parameters = [...conditions.flatMap((c) => c.parameters), checkLimit, lockLimit, timing.limit];
  const specs = table.where(where, parameters, `ORDER BY ${quote(lock.due)}, ${quote(table.primaryKey)} LIMIT ?`);
  if (specs.length === 0) return specs;
  const stamped = [...new Set([lock.lockTime, lock.due])];
  const assignments: [string, SqlValue][] = [[lock.lock, timing.owner], ...stamped.map((column): [string, SqlValue] => [column, timing.nowMs])];
  const update = `UPDATE ${quote(table.table)} SET ${assignments.map(([column]) => `${quote(column)} = ?`).join(', ')} WHERE ${inList(table.primaryKey)}`;
  table.statements.get(update).run(...assignments.map(([, value]) => value), JSON.stringify(specs.map((spec) => table.idOf(spec))));
  for (const spec of specs) for (const [column, value] of assignments) table.mirror(spec, column, value);
  return specs;
}
