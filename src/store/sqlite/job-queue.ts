// The embedded job queue on SQLite: entries waiting for a job fetcher, and the PandaID sequence they share
// with insertJobs. Every function runs inside the store's transaction (the caller's), so allocating ids,
// handing out entries and taking an entry out of the queue when its job is stored are each atomic.
import { insertQueueEntry, queueEntryValues, queuedJobOf, sequenceAfter, sequencePast, takeOrder } from '../sql/job-queue.js';
import type { NewQueuedJob, QueuedJob } from '../store.js';
import { JOB_QUEUE_TABLE, JOB_TABLE, PANDAID_SEQUENCE, SEQUENCE_TABLE, quote } from '../sql/tables.js';
import type { OperationContext } from '../sql/operation.js';
import { inList, type StatementCache } from './spec-table.js';

type QueueRow = Readonly<Record<string, unknown>>;

const queue = quote(JOB_QUEUE_TABLE);
/** Entries whose job is not stored yet (insertJobs removes the others; this also covers rows added by hand). */
const notInJobs = `NOT EXISTS (SELECT 1 FROM ${quote(JOB_TABLE)} AS j WHERE j."PandaID" = q."PandaID")`;

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
  setSequence(statements, sequenceAfter(ctx, next, count));
  return next;
}

/** Moves the sequence past ids given by the caller (jobs inserted with their own PandaID), never back. */
export function notePandaIDs(statements: StatementCache, PandaIDs: readonly number[]): void {
  if (PandaIDs.length === 0) return;
  statements
    .get(`UPDATE ${quote(SEQUENCE_TABLE)} SET "next" = MAX("next", ?) WHERE "name" = ?`)
    .run(sequencePast(PandaIDs), PANDAID_SEQUENCE);
}

function setSequence(statements: StatementCache, next: number): void {
  statements
    .get(`INSERT INTO ${quote(SEQUENCE_TABLE)} ("name", "next") VALUES (?, ?) ON CONFLICT ("name") DO UPDATE SET "next" = excluded."next"`)
    .run(PANDAID_SEQUENCE, next);
}

/** Inserts the entries with consecutive new PandaIDs, created now; returns the ids in order. */
export function insertQueuedJobs(ctx: OperationContext, statements: StatementCache, entries: readonly NewQueuedJob[], nowMs: number): number[] {
  if (entries.length === 0) return [];
  const rows = entries.map((entry, i) => queueEntryValues(ctx, entry, i));
  const first = allocatePandaIDs(ctx, statements, entries.length);
  const insert = statements.get(insertQueueEntry);
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
    .run(take.owner, take.nowMs, JSON.stringify(rows.map((r) => Number(r.PandaID))));
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
