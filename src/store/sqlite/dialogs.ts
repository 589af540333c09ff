// Dialog messages on SQLite (harvester's diag_table): stored by the agents' log capture, claimed and deleted
// by the propagator once PanDA took them. Every function runs inside the store's transaction.
import { StoreArgumentError } from '../errors.js';
import type { DialogMessage, NewDialogMessage } from '../store.js';
import { DIAG_TABLE, quote } from '../sql/tables.js';
import type { OperationContext } from '../sql/operation.js';
import { inList, type StatementCache } from './spec-table.js';

/** harvester's column sizes: identifier text cut to 100, diagMessage varchar(500). */
export const MAX_IDENTIFIER_LENGTH = 100;
export const MAX_DIAG_MESSAGE_LENGTH = 500;

interface DiagRow {
  readonly diagID: number;
  readonly moduleName: string;
  readonly identifier: string | null;
  readonly creationTime: number;
  readonly messageLevel: string;
  readonly diagMessage: string;
}

const table = quote(DIAG_TABLE);

export function insertDialogRows(ctx: OperationContext, statements: StatementCache, messages: readonly NewDialogMessage[], keep: number): void {
  if (!Number.isSafeInteger(keep) || keep < 1) throw new StoreArgumentError(ctx.database, ctx.operation, `keep must be an integer of at least 1, got ${keep}`);
  const insert = statements.get(`INSERT INTO ${table} ("moduleName", "identifier", "creationTime", "messageLevel", "diagMessage") VALUES (?, ?, ?, ?, ?)`);
  for (const m of messages) {
    const time = m.creationTime.getTime();
    if (Number.isNaN(time)) throw new StoreArgumentError(ctx.database, ctx.operation, 'a dialog message has an invalid creationTime');
    insert.run(m.moduleName, m.identifier === null ? null : m.identifier.slice(0, MAX_IDENTIFIER_LENGTH), time, m.messageLevel, m.diagMessage.slice(0, MAX_DIAG_MESSAGE_LENGTH));
  }
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
    .all(claim.owner, claim.nowMs, claim.nowMs - claim.lockIntervalSec * 1000, claim.limit) as DiagRow[];
  return rows
    .sort((a, b) => a.diagID - b.diagID)
    .map((r) => ({ diagID: r.diagID, moduleName: r.moduleName, identifier: r.identifier, creationTime: new Date(r.creationTime), messageLevel: r.messageLevel, diagMessage: r.diagMessage }));
}

export function deleteDialogRows(statements: StatementCache, diagIDs: readonly number[]): number {
  return statements.get(`DELETE FROM ${table} WHERE ${inList('diagID')}`).run(JSON.stringify(diagIDs)).changes;
}
