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

/** A filter field and the condition it makes: its column equals the value, or (`list`) is one of the values. */
interface FilterField<F> {
  readonly field: keyof F & string;
  readonly column: string;
  readonly list: boolean;
}

/** The conditions of the fields a filter sets, in the order of `fields`. */
function conditionsOf<F, P>(fields: readonly FilterField<F>[], filter: F, inList: InList<P>): Condition<P | SqlValue>[] {
  const conditions: Condition<P | SqlValue>[] = [];
  for (const { field, column, list } of fields) {
    const value = filter[field];
    if (value === undefined) continue;
    conditions.push(list ? inList(column, value as readonly SqlValue[]) : { sql: `${quote(column)} = ?`, parameters: [value as SqlValue] });
  }
  return conditions;
}

type JobConditionFilter = Pick<JobFilter, 'queueName' | 'status' | 'subStatus' | 'PandaIDs'>;

const jobFields: readonly FilterField<JobConditionFilter>[] = [
  { field: 'queueName', column: 'computingSite', list: false },
  { field: 'status', column: 'status', list: true },
  { field: 'subStatus', column: 'subStatus', list: true },
  { field: 'PandaIDs', column: 'PandaID', list: true },
];

const workerFields: readonly FilterField<WorkerFilter>[] = [
  { field: 'queueName', column: 'computingSite', list: false },
  { field: 'status', column: 'status', list: true },
  { field: 'workerIDs', column: 'workerID', list: true },
];

const workerClaimFields: readonly FilterField<WorkerClaim>[] = [
  { field: 'queueName', column: 'computingSite', list: false },
  { field: 'statuses', column: 'status', list: true },
];

const fileFields: readonly FilterField<FileFilter>[] = [
  { field: 'PandaID', column: 'PandaID', list: false },
  { field: 'fileType', column: 'fileType', list: true },
  { field: 'status', column: 'status', list: true },
];

/** A listing's or a job claim's conditions on jobs (a claim has no PandaIDs). */
export function jobConditions<P>(filter: JobConditionFilter, inList: InList<P>): Condition<P | SqlValue>[] {
  return conditionsOf(jobFields, filter, inList);
}

export function workerConditions<P>(filter: WorkerFilter, inList: InList<P>): Condition<P | SqlValue>[] {
  return conditionsOf(workerFields, filter, inList);
}

export function fileConditions<P>(filter: FileFilter, inList: InList<P>): Condition<P | SqlValue>[] {
  return conditionsOf(fileFields, filter, inList);
}

/** A worker claim's conditions, the claim's clock `nowMs` deciding which kills are due; StoreArgumentError for a bad endedBefore. */
export function workerClaimConditions<P>(ctx: OperationContext, claim: WorkerClaim, nowMs: number, inList: InList<P>): Condition<P | SqlValue>[] {
  const conditions = conditionsOf(workerClaimFields, claim, inList);
  if (claim.killRequested === true) conditions.push({ sql: `(${quote('killTime')} IS NOT NULL AND ${quote('killTime')} <= ?)`, parameters: [nowMs] });
  if (claim.endedBefore !== undefined) {
    const endedBefore = claim.endedBefore instanceof Date ? claim.endedBefore.getTime() : Number.NaN;
    if (Number.isNaN(endedBefore)) throw new StoreArgumentError(ctx.database, ctx.operation, 'endedBefore is not a valid Date');
    conditions.push({ sql: `(${quote('endTime')} IS NOT NULL AND ${quote('endTime')} < ?)`, parameters: [endedBefore] });
  }
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
