// Releasing and renewing all of an owner's locks: the same statements on every engine, run as the engine runs
// them (the server engines first pick the rows to renew with SKIP LOCKED).
import type { LockColumns } from '../lock-columns.js';
import { quote } from './tables.js';
import type { SqlValue } from './values.js';

export interface Statement {
  readonly sql: string;
  readonly parameters: readonly SqlValue[];
}

/** Clears the owner's locks in any lock column of a table. */
export function clearLocksStatement(table: string, lockColumns: readonly string[], owner: string): Statement {
  const set = lockColumns.map((c) => `${quote(c)} = CASE WHEN ${quote(c)} = ? THEN NULL ELSE ${quote(c)} END`).join(', ');
  const where = lockColumns.map((c) => `${quote(c)} = ?`).join(' OR ');
  return { sql: `UPDATE ${quote(table)} SET ${set} WHERE ${where}`, parameters: [...lockColumns.map(() => owner), ...lockColumns.map(() => owner)] };
}

/** Rows where the owner holds any of the locks: the condition and its parameters. */
export function heldByCondition(locks: readonly LockColumns[], owner: string): Statement {
  return { sql: locks.map((c) => `${quote(c.lock)} = ?`).join(' OR '), parameters: locks.map(() => owner) };
}

/** The SET list giving each lock the owner holds the time `nowMs`, with its parameters. */
export function renewedLockTimes(locks: readonly LockColumns[], owner: string, nowMs: number): Statement {
  return {
    sql: locks.map((c) => `${quote(c.lockTime)} = CASE WHEN ${quote(c.lock)} = ? THEN ? ELSE ${quote(c.lockTime)} END`).join(', '),
    parameters: locks.flatMap(() => [owner, nowMs]),
  };
}
