// The conditions of the Store's filters and claims, as SQL text with `?` parameters: the same text on every
// engine. Only "column is one of the values" is the engine's own (InList): SQLite passes the list as one
// JSON parameter, the server engines as their driver wants it.
import { StoreArgumentError } from '../errors.js';
import type { FileFilter, JobFilter, WorkerClaim, WorkerFilter } from '../store.js';
import type { OperationContext } from './operation.js';
import { quote } from './tables.js';
import type { SqlValue } from './values.js';

/** A condition on a table with its `?` parameters (P: how the engine passes a list). */
export interface Condition<P = SqlValue> {
  readonly sql: string;
  readonly parameters: readonly P[];
}

/** The engine's condition "column is one of the values"; an empty list matches nothing. */
export type InList<P> = (column: string, values: readonly SqlValue[]) => Condition<P>;

function equals(column: string, value: SqlValue): Condition {
  return { sql: `${quote(column)} = ?`, parameters: [value] };
}

/** A listing's or a job claim's conditions on jobs (a claim has no PandaIDs). */
export function jobConditions<P>(filter: Pick<JobFilter, 'queueName' | 'status' | 'subStatus' | 'PandaIDs'>, inList: InList<P>): Condition<P | SqlValue>[] {
  const conditions: Condition<P | SqlValue>[] = [];
  if (filter.queueName !== undefined) conditions.push(equals('computingSite', filter.queueName));
  if (filter.status !== undefined) conditions.push(inList('status', filter.status));
  if (filter.subStatus !== undefined) conditions.push(inList('subStatus', filter.subStatus));
  if (filter.PandaIDs !== undefined) conditions.push(inList('PandaID', filter.PandaIDs));
  return conditions;
}

export function workerConditions<P>(filter: WorkerFilter, inList: InList<P>): Condition<P | SqlValue>[] {
  const conditions: Condition<P | SqlValue>[] = [];
  if (filter.queueName !== undefined) conditions.push(equals('computingSite', filter.queueName));
  if (filter.status !== undefined) conditions.push(inList('status', filter.status));
  if (filter.workerIDs !== undefined) conditions.push(inList('workerID', filter.workerIDs));
  return conditions;
}

/** A worker claim's conditions, the claim's clock `nowMs` deciding which kills are due; StoreArgumentError for a bad endedBefore. */
export function workerClaimConditions<P>(ctx: OperationContext, claim: WorkerClaim, nowMs: number, inList: InList<P>): Condition<P | SqlValue>[] {
  const conditions: Condition<P | SqlValue>[] = [];
  if (claim.queueName !== undefined) conditions.push(equals('computingSite', claim.queueName));
  if (claim.statuses !== undefined) conditions.push(inList('status', claim.statuses));
  if (claim.killRequested === true) conditions.push({ sql: `(${quote('killTime')} IS NOT NULL AND ${quote('killTime')} <= ?)`, parameters: [nowMs] });
  if (claim.endedBefore !== undefined) {
    const endedBefore = claim.endedBefore instanceof Date ? claim.endedBefore.getTime() : Number.NaN;
    if (Number.isNaN(endedBefore)) throw new StoreArgumentError(ctx.database, ctx.operation, 'endedBefore is not a valid Date');
    conditions.push({ sql: `(${quote('endTime')} IS NOT NULL AND ${quote('endTime')} < ?)`, parameters: [endedBefore] });
  }
  return conditions;
}

export function fileConditions<P>(filter: FileFilter, inList: InList<P>): Condition<P | SqlValue>[] {
  const conditions: Condition<P | SqlValue>[] = [];
  if (filter.PandaID !== undefined) conditions.push(equals('PandaID', filter.PandaID));
  if (filter.fileType !== undefined) conditions.push(inList('fileType', filter.fileType));
  if (filter.status !== undefined) conditions.push(inList('status', filter.status));
  return conditions;
}

/** A filter's limit, checked: StoreArgumentError unless an integer >= 0; undefined for none. */
export function checkedLimit(ctx: OperationContext, limit: number | undefined): number | undefined {
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) {
    throw new StoreArgumentError(ctx.database, ctx.operation, `the limit must be an integer >= 0, got ${limit}`);
  }
  return limit;
}

/** A listing in key order: the WHERE condition ('' for all rows), its parameters with the limit last, and ORDER BY/LIMIT. */
export function listing<P>(conditions: readonly Condition<P>[], primaryKey: string, limit: number | undefined): { condition: string; parameters: (P | number)[]; suffix: string } {
  return {
    condition: conditions.map((c) => c.sql).join(' AND '),
    parameters: [...conditions.flatMap((c) => c.parameters), ...(limit === undefined ? [] : [limit])],
    suffix: `ORDER BY ${quote(primaryKey)}${limit === undefined ? '' : ' LIMIT ?'}`,
  };
}
