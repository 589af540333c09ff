// The claim on SQLite: pick the claimable rows and lock them for the owner. Runs inside an immediate
// transaction (SQLite has one writer at a time), so the rows picked cannot be taken by anyone between the pick
// and the lock: two claims never return the same row. Which rows are claimable and what a claim writes on
// them is every engine's (sql/claims.ts).
import type { ClaimTiming } from '../claim-arguments.js';
import type { LockColumns } from '../lock-columns.js';
import { claimSelection, claimStamp, setList } from '../sql/claims.js';
import type { Condition } from '../sql/conditions.js';
import { quote } from '../sql/tables.js';
import type { Spec } from '../../spec/index.js';
import { inList, type SpecTable } from './spec-table.js';

/**
 * Reads and locks up to `limit` claimable rows for the owner, most overdue first, in one pass: the rows are
 * read by the same query that picks them (no second lookup of 10,000 ids), then locked by key, and the
 * specs are given the lock values the UPDATE wrote.
 */
export function claimRows<S extends Spec>(table: SpecTable<S>, lock: LockColumns, conditions: readonly Condition[], timing: ClaimTiming): S[] {
  const { condition, parameters } = claimSelection(lock, conditions, timing);
  const specs = table.where(condition, parameters, `ORDER BY ${quote(lock.due)}, ${quote(table.primaryKey)} LIMIT ?`);
  if (specs.length === 0) return specs;
  const assignments = claimStamp(lock, timing);
  const update = `UPDATE ${quote(table.table)} SET ${setList(assignments)} WHERE ${inList(table.primaryKey)}`;
  table.statements.get(update).run(...assignments.map(([, value]) => value), JSON.stringify(specs.map((spec) => table.idOf(spec))));
  for (const spec of specs) for (const [column, value] of assignments) table.mirror(spec, column, value);
  return specs;
}
