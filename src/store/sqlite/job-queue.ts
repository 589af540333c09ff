// The embedded job queue on SQLite: entries waiting for a job fetcher, and the PandaID sequence they share
// with insertJobs. Every function runs inside the store's transaction (the caller's), so allocating ids,
// handing out entries and taking an entry out of the queue when its job is stored are each atomic.
import { isPlainObject } from '../../spec/index.js';
import { StoreArgumentError, StoreValueError } from '../errors.js';
import type { NewQueuedJob, QueuedJob } from '../store.js';
import { JOB_QUEUE_TABLE, JOB_TABLE, PANDAID_SEQUENCE, SEQUENCE_TABLE, quote } from '../sql/tables.js';
import type { OperationContext } from '../sql/operation.js';
import { inList, type StatementCache } from './spec-table.js';
import { fromSqlValue, toSqlValue, type SqlValue } from '../sql/values.js';

interface QueueRow {
  readonly PandaID: number;
  readonly queueName: string;
  readonly jobParams: string;
  readonly taskID: number | null;
  readonly currentPriority: number | null;
  readonly nCore: number | null;
  readonly creationTime: number;
  readonly takenTime: number | null;
}

const queue = quote(JOB_QUEUE_TABLE);
/** Entries whose job is not stored yet (insertJobs removes the others; this also covers rows added by hand). */
const notInJobs = `NOT EXISTS (SELECT 1 FROM ${quote(JOB_TABLE)} AS j WHERE j."PandaID" = q."PandaID")`;
/** Priority first (null after every number, as no priority), then the oldest entry. */
const takeOrder = `ORDER BY q."currentPriority" IS NULL, q."currentPriority" DESC, q."PandaID"`;

/**
 * Reserves `count` consecutive PandaIDs and returns the first: past the sequence, and past every id stored in
 * the jobs table and the queue (a row written by hand or a job inserted with its own id), so none collides
 * and none is reused after its job is deleted.
 */
export function allocatePandaIDs(ctx: OperationContext, statements: StatementCache, count: number): number {
  const { next } = statements
    .get(
      `SELECT MAX(
         COALESCE((SELECT "next" FROM ${quote(SEQUENCE_TABLE)} WHERE "name" = ?), 1),
         COALESCE((SELECT MAX("PandaID") FROM ${quote(JOB_TABLE)}), 0) + 1,
         COALESCE((SELECT MAX("PandaID") FROM ${queue}), 0) + 1) AS next`,
    )
    .get(PANDAID_SEQUENCE) as { next: number };
  const after = next + count;
  if (!Number.isSafeInteger(after)) {
    throw new StoreArgumentError(ctx.database, ctx.operation, `the PandaID sequence is exhausted: ${count} ids from ${next} go beyond 2^53-1`);
  }
  setSequence(statements, after);
  return next;
}

/** Moves the sequence past ids given by the caller (jobs inserted with their own PandaID), never back. */
export function notePandaIDs(statements: StatementCache, PandaIDs: readonly number[]): void {
  if (PandaIDs.length === 0) return;
  // The largest safe id cannot be followed: the sequence stops there and allocation reports it exhausted.
  const past = Math.min(Math.max(...PandaIDs) + 1, Number.MAX_SAFE_INTEGER);
  statements
    .get(`UPDATE ${quote(SEQUENCE_TABLE)} SET "next" = MAX("next", ?) WHERE "name" = ?`)
    .run(past, PANDAID_SEQUENCE);
}

function setSequence(statements: StatementCache, next: number): void {
  statements
    .get(`INSERT INTO ${quote(SEQUENCE_TABLE)} ("name", "next") VALUES (?, ?) ON CONFLICT ("name") DO UPDATE SET "next" = excluded."next"`)
    .run(PANDAID_SEQUENCE, next);
}

/** The row values of one new entry, or StoreValueError naming the entry and field. */
function entryValues(ctx: OperationContext, entry: NewQueuedJob, index: number): SqlValue[] {
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

/** Inserts the entries with consecutive new PandaIDs, created now; returns the ids in order. */
export function insertQueuedJobs(ctx: OperationContext, statements: StatementCache, entries: readonly NewQueuedJob[], nowMs: number): number[] {
  if (entries.length === 0) return [];
  const rows = entries.map((entry, i) => entryValues(ctx, entry, i));
  const first = allocatePandaIDs(ctx, statements, entries.length);
  const insert = statements.get(
    `INSERT INTO ${queue} ("PandaID", "queueName", "jobParams", "taskID", "currentPriority", "nCore", "creationTime") VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  return rows.map((values, i) => {
    insert.run(first + i, ...values, nowMs);
    return first + i;
  });
}

/**
 * Marks up to `limit` entries of a queue as taken by the owner now and returns them: entries never taken,
 * or taken at least lockIntervalSec ago and still not in the jobs table.
 */
export function takeQueuedRows(
  statements: StatementCache,
  take: { readonly queueName: string; readonly owner: string; readonly limit: number; readonly lockIntervalSec: number; readonly nowMs: number },
): QueuedJob[] {
  const takenLimit = take.nowMs - take.lockIntervalSec * 1000;
  const rows = statements
    .get(`SELECT q.* FROM ${queue} AS q WHERE q."queueName" = ? AND (q."takenTime" IS NULL OR q."takenTime" <= ?) AND ${notInJobs} ${takeOrder} LIMIT ?`)
    .all(take.queueName, takenLimit, take.limit) as QueueRow[];
  if (rows.length === 0) return [];
  statements
    .get(`UPDATE ${queue} SET "takenBy" = ?, "takenTime" = ? WHERE ${inList('PandaID')}`)
    .run(take.owner, take.nowMs, JSON.stringify(rows.map((r) => r.PandaID)));
  return rows.map((row) => queuedJobOf({ ...row, takenTime: take.nowMs }));
}

/** Entries not yet in the jobs table, by PandaID; limit -1 for all. */
export function listQueuedRows(statements: StatementCache, queueName: string | undefined, limit: number): QueuedJob[] {
  const byQueue = queueName === undefined ? '' : `q."queueName" = ? AND `;
  const rows = statements
    .get(`SELECT q.* FROM ${queue} AS q WHERE ${byQueue}${notInJobs} ORDER BY q."PandaID" LIMIT ?`)
    .all(...(queueName === undefined ? [] : [queueName]), limit) as QueueRow[];
  return rows.map(queuedJobOf);
}

/** Takes the entries of jobs just stored out of the queue: from now on the jobs table holds them. */
export function removeQueuedJobs(statements: StatementCache, PandaIDs: readonly number[]): void {
  if (PandaIDs.length === 0) return;
  statements.get(`DELETE FROM ${queue} WHERE ${inList('PandaID')}`).run(JSON.stringify(PandaIDs));
}

function queuedJobOf(row: QueueRow): QueuedJob {
  return {
    PandaID: row.PandaID,
    queueName: row.queueName,
    jobParams: fromSqlValue('dict', row.jobParams) as Record<string, unknown>,
    taskID: row.taskID,
    currentPriority: row.currentPriority,
    nCore: row.nCore,
    creationTime: new Date(row.creationTime),
    takenTime: row.takenTime === null ? null : new Date(row.takenTime),
  };
}
