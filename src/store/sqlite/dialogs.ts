// Dialog messages on SQLite (harvester's diag_table): stored by the agents' log capture, claimed and deleted
// by the propagator once PanDA took them. Every function runs inside the store's transaction.
import { checkedKeep, dialogMessageOf, dialogValues, insertDialogMessage } from '../sql/dialogs.js';
import type { DialogMessage, NewDialogMessage } from '../store.js';
import { DIAG_TABLE, quote } from '../sql/tables.js';
import type { OperationContext } from '../sql/operation.js';
import { inList, type StatementCache } from './spec-table.js';

const table = quote(DIAG_TABLE);

export function insertDialogRows(ctx: OperationContext, statements: StatementCache, messages: readonly NewDialogMessage[], keep: number): void {
  checkedKeep(ctx, keep);
  const insert = statements.get(insertDialogMessage);
  for (const m of messages) insert.run(...dialogValues(ctx, m));
  // Ids ascend with insertion: everything below the keep-th newest goes.
  statements.get(`DELETE FROM ${table} WHERE "diagID" <= (SELECT "diagID" FROM ${table} ORDER BY "diagID" DESC LIMIT 1 OFFSET ?)`).run(keep);
}

export function claimDialogRows(statements: StatementCache, claim: { owner: string; nowMs: number; lockIntervalSec: number; limit: number }): DialogMessage[] {
  const rows = statements
    .get(
      `UPDATE ${table} SET "lockedBy" = ?, "lockTime" = ?
       WHERE "diagID" IN (SELECT "diagID" FROM ${table} WHERE "lockTime" IS NULL OR "lockTime" < ? ORDER BY "diagID" LIMIT ?)
       RETURNING "diagID", "moduleName", "identifier", "creationTime", "messageLevel", "diagMessage"`,
    )
    .all(claim.owner, claim.nowMs, claim.nowMs - claim.lockIntervalSec * 1000, claim.limit) as Record<string, unknown>[];
  return rows.map(dialogMessageOf).sort((a, b) => a.diagID - b.diagID);
}

export function deleteDialogRows(statements: StatementCache, diagIDs: readonly number[]): number {
  return statements.get(`DELETE FROM ${table} WHERE ${inList('diagID')}`).run(JSON.stringify(diagIDs)).changes;
}
