// The embedded job queue on every engine: a new entry checked and turned into column values, a row turned
// into a QueuedJob, and the PandaID sequence's arithmetic. Reading, locking and writing the rows is the
// engine's (sqlite/job-queue.ts; the server store).
import { isPlainObject } from '../../spec/index.js';
import { StoreArgumentError, StoreValueError } from '../errors.js';
import type { NewQueuedJob, QueuedJob } from '../store.js';
import type { OperationContext } from './operation.js';
import { JOB_QUEUE_TABLE, quote } from './tables.js';
import { fromSqlValue, toSqlValue, type SqlValue } from './values.js';

/** Inserts one entry: its PandaID, the values of queueEntryValues, then its creation time. */
export const insertQueueEntry = `INSERT INTO ${quote(JOB_QUEUE_TABLE)} ("PandaID", "queueName", "jobParams", "taskID", "currentPriority", "nCore", "creationTime") VALUES (?, ?, ?, ?, ?, ?, ?)`;

/** Priority first (null after every number, as no priority), then the oldest entry. */
export const takeOrder = `ORDER BY q."currentPriority" IS NULL, q."currentPriority" DESC, q."PandaID"`;

/** The row values of one new entry, or StoreValueError naming the entry and field. */
export function queueEntryValues(ctx: OperationContext, entry: NewQueuedJob, index: number): SqlValue[] {
  const refuse = (field: string, reason: string) => new StoreValueError(ctx.database, ctx.operation, 'queued job', null, `entries[${index}].${field}`, reason);
  if (typeof entry.queueName !== 'string' || entry.queueName === '') throw refuse('queueName', 'must be a non-empty string');
  const queueName = toSqlValue('text', entry.queueName);
  if (!queueName.ok) throw refuse('queueName', queueName.reason);
  if (!isPlainObject(entry.jobParams)) throw refuse('jobParams', 'must be an object');
  const jobParams = toSqlValue('dict', entry.jobParams);
  if (!jobParams.ok) throw refuse('jobParams', jobParams.reason);
  const integers = (['taskID', 'currentPriority', 'nCore'] as const).map((field) => {
    const value = toSqlValue('integer', entry[field] ?? null);
    if (!value.ok) throw refuse(field, value.reason);
    return value.value;
  });
  return [queueName.value, jobParams.value, ...integers];
}

/** A job_queue_table row as a QueuedJob. */
export function queuedJobOf(row: Readonly<Record<string, unknown>>): QueuedJob {
  const intOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));
  return {
    PandaID: Number(row.PandaID),
    queueName: String(row.queueName),
    jobParams: fromSqlValue('dict', row.jobParams) as Record<string, unknown>,
    taskID: intOrNull(row.taskID),
    currentPriority: intOrNull(row.currentPriority),
    nCore: intOrNull(row.nCore),
    creationTime: new Date(Number(row.creationTime)),
    takenTime: row.takenTime === null || row.takenTime === undefined ? null : new Date(Number(row.takenTime)),
  };
}

/** The sequence's next value after reserving `count` ids from `next`; StoreArgumentError past 2^53-1. */
export function sequenceAfter(ctx: OperationContext, next: number, count: number): number {
  const after = next + count;
  if (!Number.isSafeInteger(after)) {
    throw new StoreArgumentError(ctx.database, ctx.operation, `the PandaID sequence is exhausted: ${count} ids from ${next} go beyond 2^53-1`);
  }
  return after;
}

/** Where the sequence must be at least once these ids (given by the caller) are stored. */
export function sequencePast(PandaIDs: readonly number[]): number {
  // The largest safe id cannot be followed: the sequence stops there and allocation reports it exhausted.
  return Math.min(Math.max(...PandaIDs) + 1, Number.MAX_SAFE_INTEGER);
}
