// Dialog messages (harvester's diag_table) on every engine: the checks and cuts of a new message, its
// INSERT, and a row turned into a DialogMessage.
import { StoreArgumentError } from '../errors.js';
import type { DialogMessage, NewDialogMessage } from '../store.js';
import type { OperationContext } from './operation.js';
import { DIAG_TABLE, quote } from './tables.js';
import type { SqlValue } from './values.js';

/** harvester's column sizes: identifier text cut to 100, diagMessage varchar(500). */
export const MAX_IDENTIFIER_LENGTH = 100;
export const MAX_DIAG_MESSAGE_LENGTH = 500;

/** Inserts one message: the values of dialogValues. */
export const insertDialogMessage = `INSERT INTO ${quote(DIAG_TABLE)} ("moduleName", "identifier", "creationTime", "messageLevel", "diagMessage") VALUES (?, ?, ?, ?, ?)`;

/** How many messages to keep, checked: StoreArgumentError unless an integer of at least 1. */
export function checkedKeep(ctx: OperationContext, keep: number): number {
  if (!Number.isSafeInteger(keep) || keep < 1) throw new StoreArgumentError(ctx.database, ctx.operation, `keep must be an integer of at least 1, got ${keep}`);
  return keep;
}

/** The values of one new message (text cut to harvester's sizes), or StoreArgumentError for an invalid time. */
export function dialogValues(ctx: OperationContext, m: NewDialogMessage): SqlValue[] {
  const time = m.creationTime.getTime();
  if (Number.isNaN(time)) throw new StoreArgumentError(ctx.database, ctx.operation, 'a dialog message has an invalid creationTime');
  return [m.moduleName, m.identifier === null ? null : m.identifier.slice(0, MAX_IDENTIFIER_LENGTH), time, m.messageLevel, m.diagMessage.slice(0, MAX_DIAG_MESSAGE_LENGTH)];
}

/** A diag_table row as a DialogMessage. */
export function dialogMessageOf(r: Readonly<Record<string, unknown>>): DialogMessage {
  return {
    diagID: Number(r.diagID),
    moduleName: String(r.moduleName),
    identifier: r.identifier === null ? null : String(r.identifier),
    creationTime: new Date(Number(r.creationTime)),
    messageLevel: String(r.messageLevel),
    diagMessage: String(r.diagMessage),
  };
}
