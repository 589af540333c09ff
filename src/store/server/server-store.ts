// The Store on a database server (PostgreSQL or MariaDB, through a ServerDriver): the same tables, values
// and rules as SqliteStore, for several harvester instances on several machines sharing one database.
//
// Claims pick the claimable rows with SELECT ... FOR UPDATE SKIP LOCKED and lock them for the owner in the
// same transaction: two instances claiming at once never wait for each other's rows nor get the same row,
// and a row whose lock is older than the lock interval (its owner died) is claimable again. Transactions
// run at READ COMMITTED, so a locking read sees the latest committed lock columns.
import { claimLockOf, claimTiming, lockOf, queueClaimTiming, queuedJobTake, renewalTimeMs, type ClaimTiming, type OwnedLock } from '../claim-arguments.js';
import { FileSpec, JobSpec, WorkSpec, type ColumnDef, type Spec } from '../../spec/index.js';
import { StoreClosedError, StoreCommitUnknownError, StoreRecordNotFoundError, type RecordKind } from '../errors.js';
import { jobLockColumns, jobLockNames, jobLockTimes, workerInternalColumns, workerLockColumns, workerLockNames, workerLockTimes, type LockColumns } from '../lock-columns.js';
import { claimSelection, claimStamp, setList } from '../sql/claims.js';
import { checkedLimit, fileConditions, jobConditions, listing, workerClaimConditions, workerConditions, type Condition } from '../sql/conditions.js';
import { checkedKeep, dialogMessageOf, dialogValues, insertDialogMessage } from '../sql/dialogs.js';
import { insertQueueEntry, queueEntryValues, queuedJobOf, sequenceAfter, sequencePast, takeOrder } from '../sql/job-queue.js';
import { clearLocksStatement, heldByCondition, renewedLockTimes } from '../sql/locks.js';
import { attachFiles, attachJobs, countsByQueue, relationOf, lastSubmitTimesOf, lastSubmitTimesQuery, countsOf, unseenWorkersQuery } from '../sql/related-rows.js';
import { distinct, fileInserted, givenIds, jobInserted, lockLostError, refuseDuplicates, refuseMissing, specWrites, workerInserted } from '../sql/spec-writes.js';
import { DIAG_TABLE, FILE_TABLE, JOB_QUEUE_TABLE, JOB_TABLE, JOB_WORKER_TABLE, PANDAID_SEQUENCE, QUEUE_TABLE, SEQUENCE_TABLE, WORK_TABLE, quote } from '../sql/tables.js';
import type { AfterCommit, OperationContext } from '../sql/operation.js';
import type { SqlValue } from '../sql/values.js';
import type {
  DialogClaim,
  DialogMessage,
  FileFilter,
  JobClaim,
  JobFilter,
  JobUpdate,
  NewDialogMessage,
  NewQueuedJob,
  QueueClaim,
  QueuedJob,
  QueuedJobFilter,
  QueuedJobTake,
  ReleasedLocks,
  RenewedLocks,
  Store,
  WorkerClaim,
  WorkerCounts,
  WorkerFilter,
  WorkerUpdate,
} from '../store.js';
import type { Parameter, ServerDialect, ServerDriver, SqlSession } from './session.js';
import { ServerSpecTable } from './spec-table.js';

/** What a claim took, and how to tell (after its COMMIT was cut) whether the claim was applied. */
interface Claimed<T> {
  readonly result: T;
  /** True when the claim's stamp (its owner and lock time) is on its rows: the COMMIT went through. */
  readonly applied: (s: SqlSession) => Promise<boolean>;
}

/** The columns a claim of plain rows stamps: its owner and its time (and other times set with it). */
interface RowStamp {
  readonly table: string;
  readonly key: string;
  readonly owner: string;
  readonly time: string;
  readonly alsoTime?: readonly string[];
}

/** Claims in a row whose COMMIT was cut and found not applied, before the error goes to the caller. */
const maxCutClaimCommits = 5;

const SKIP_LOCKED = 'FOR UPDATE SKIP LOCKED';
const queueTable = quote(JOB_QUEUE_TABLE);
const notInJobs = `NOT EXISTS (SELECT 1 FROM ${quote(JOB_TABLE)} j WHERE j."PandaID" = q."PandaID")`;

export class ServerStore implements Store {
  readonly database: string;
  readonly #driver: ServerDriver;
  readonly #d: ServerDialect;
  readonly #jobs: ServerSpecTable<JobSpec>;
  readonly #workers: ServerSpecTable<WorkSpec>;
  readonly #files: ServerSpecTable<FileSpec>;
  /** The engine's "column is one of the values", as the shared filters want it. */
  readonly #inList: (column: string, values: readonly SqlValue[]) => Condition<Parameter>;
  #closed = false;

  constructor(driver: ServerDriver) {
    this.#driver = driver;
    this.#d = driver.dialect;
    this.#inList = (column, values) => this.#d.inList(column, values);
    this.database = driver.database;
    this.#jobs = new ServerSpecTable(this.#d, JOB_TABLE, 'PandaID', () => new JobSpec(), JobSpec.columns);
    this.#workers = new ServerSpecTable(this.#d, WORK_TABLE, 'workerID', () => new WorkSpec(), WorkSpec.columns, workerInternalColumns as readonly ColumnDef[], true);
    this.#files = new ServerSpecTable(this.#d, FILE_TABLE, 'fileID', () => new FileSpec(), FileSpec.columns, [], true);
  }

  // ---- jobs ----

  async insertJobs(jobs: readonly JobSpec[]): Promise<void> {
    await this.#write('insertJobs', async (s, ctx, after) => {
      const given = await this.#refuseDuplicates(s, ctx, this.#jobs, 'job', jobs);
      await this.#notePandaIDs(s, given);
      const unnumbered = jobs.length - given.length;
      let next = unnumbered > 0 ? await this.#allocatePandaIDs(s, ctx, unnumbered) : 0;
      for (const job of jobs) await this.#insertJob(s, ctx, job, after, this.#jobs.idOf(job) === null ? next++ : undefined);
      if (given.length > 0) {
        const list = this.#d.inList('PandaID', given);
        await s.execute(`DELETE FROM ${queueTable} WHERE ${list.sql}`, list.parameters);
      }
    });
  }

  async claimJobs(claim: JobClaim): Promise<JobSpec[]> {
    const lock = claimLockOf({ database: this.database, operation: 'claimJobs' }, jobLockColumns, claim.for);
    const conditions = jobConditions(claim, this.#inList);
    return this.#claim('claimJobs', async (s, ctx) => {
      const claimed = await this.#claimRows(s, this.#jobs, lock, conditions, claimTiming(ctx, claim));
      return { result: await this.#withFiles(s, claimed.result), applied: claimed.applied };
    });
  }

  async updateJobs(jobs: readonly JobSpec[], options: JobUpdate = {}): Promise<void> {
    await this.#write('updateJobs', async (s, ctx, after) => {
      const lock = lockOf(ctx, options, jobLockColumns);
      await this.#updateSpecs(s, ctx, this.#jobs, 'job', jobs, lock, options, after);
      await this.#saveFilesOf(s, ctx, jobs, after);
    });
  }

  async getJobs(PandaIDs: readonly number[]): Promise<JobSpec[]> {
    return this.#read('getJobs', async (s) => this.#withFiles(s, await this.#jobs.byIds(s, PandaIDs)));
  }

  async getJob(PandaID: number): Promise<JobSpec> {
    const [job] = await this.getJobs([PandaID]);
    if (job === undefined) throw new StoreRecordNotFoundError(this.database, 'getJob', 'job', [PandaID]);
    return job;
  }

  async listJobs(filter: JobFilter = {}): Promise<JobSpec[]> {
    const conditions = jobConditions(filter, this.#inList);
    return this.#read('listJobs', async (s, ctx) => {
      const jobs = await this.#select(s, ctx, this.#jobs, conditions, filter.limit);
      return filter.withFiles === true ? this.#withFiles(s, jobs) : jobs;
    });
  }

  async deleteJobs(PandaIDs: readonly number[]): Promise<number> {
    return this.#write('deleteJobs', async (s) => {
      const list = this.#d.inList('PandaID', PandaIDs);
      return s.execute(`DELETE FROM ${quote(JOB_TABLE)} WHERE ${list.sql}`, list.parameters);
    });
  }

  // ---- workers ----

  async insertWorkers(workers: readonly WorkSpec[], options: { readonly jobs?: JobUpdate } = {}): Promise<void> {
    await this.#write('insertWorkers', async (s, ctx, after) => {
      await this.#refuseDuplicates(s, ctx, this.#workers, 'worker', workers);
      const jobs = distinct(workers.flatMap((w) => w.jobSpecs));
      const jobIDs = jobs.map((job) => this.#jobs.requireColumn(ctx, job));
      refuseMissing(ctx, 'job', jobIDs, await this.#jobs.existing(s, jobIDs));
      for (const worker of workers) {
        const workerID = await this.#workers.insert(s, ctx, worker);
        await this.#relate(s, workerID, worker.jobSpecs.map((job) => job.PandaID as number));
        after.push(workerInserted(worker, workerID));
      }
      if (options.jobs !== undefined) {
        const lock = lockOf(ctx, options.jobs, jobLockColumns);
        await this.#updateSpecs(s, ctx, this.#jobs, 'job', jobs, lock, options.jobs, after);
        await this.#saveFilesOf(s, ctx, jobs, after);
      }
    });
  }

  async claimWorkers(claim: WorkerClaim): Promise<WorkSpec[]> {
    const lock = claimLockOf({ database: this.database, operation: 'claimWorkers' }, workerLockColumns, claim.purpose);
    return this.#claim('claimWorkers', async (s, ctx) => {
      const timing = claimTiming(ctx, claim);
      const conditions = workerClaimConditions(ctx, claim, timing.nowMs, this.#inList);
      const claimed = await this.#claimRows(s, this.#workers, lock, conditions, timing);
      return { result: await this.#withJobs(s, claimed.result), applied: claimed.applied };
    });
  }

  async updateWorkers(workers: readonly WorkSpec[], options: WorkerUpdate = {}): Promise<void> {
    await this.#write('updateWorkers', async (s, ctx, after) => {
      const lock = lockOf(ctx, options, workerLockColumns);
      await this.#updateSpecs(s, ctx, this.#workers, 'worker', workers, lock, options, after);
      if (options.includeJobs === true) {
        const jobs = distinct(workers.flatMap((w) => w.jobSpecs));
        await this.#updateSpecs(s, ctx, this.#jobs, 'job', jobs, undefined, { now: options.now }, after);
        await this.#saveFilesOf(s, ctx, jobs, after);
      }
    });
  }

  async getWorkers(workerIDs: readonly number[]): Promise<WorkSpec[]> {
    return this.#read('getWorkers', async (s) => this.#withJobs(s, await this.#workers.byIds(s, workerIDs)));
  }

  async getWorker(workerID: number): Promise<WorkSpec> {
    const [worker] = await this.getWorkers([workerID]);
    if (worker === undefined) throw new StoreRecordNotFoundError(this.database, 'getWorker', 'worker', [workerID]);
    return worker;
  }

  async listWorkers(filter: WorkerFilter = {}): Promise<WorkSpec[]> {
    const conditions = workerConditions(filter, this.#inList);
    return this.#read('listWorkers', async (s, ctx) => {
      const workers = await this.#select(s, ctx, this.#workers, conditions, filter.limit);
      return filter.withJobs === true ? this.#withJobs(s, workers) : workers;
    });
  }

  async deleteWorkers(workerIDs: readonly number[]): Promise<number> {
    return this.#write('deleteWorkers', async (s) => {
      const list = this.#d.inList('workerID', workerIDs);
      return s.execute(`DELETE FROM ${quote(WORK_TABLE)} WHERE ${list.sql}`, list.parameters);
    });
  }

  async relateJobsToWorker(workerID: number, PandaIDs: readonly number[]): Promise<void> {
    await this.#write('relateJobsToWorker', async (s, ctx) => {
      if (!(await this.#workers.existing(s, [workerID])).has(workerID)) throw new StoreRecordNotFoundError(ctx.database, ctx.operation, 'worker', [workerID]);
      refuseMissing(ctx, 'job', PandaIDs, await this.#jobs.existing(s, PandaIDs));
      await this.#relate(s, workerID, PandaIDs);
    });
  }

  async getWorkerIDsOfJob(PandaID: number): Promise<number[]> {
    return this.#read('getWorkerIDsOfJob', async (s) =>
      (await s.query(`SELECT "workerID" FROM ${quote(JOB_WORKER_TABLE)} WHERE "PandaID" = ? ORDER BY "workerID"`, [PandaID])).map((r) => Number(r.workerID)),
    );
  }

  async getWorkerStats(queueName: string): Promise<WorkerCounts> {
    return (await this.#workerCounts('getWorkerStats', queueName)).get(queueName) ?? {};
  }

  async getWorkerStatsByQueue(): Promise<Map<string, WorkerCounts>> {
    return this.#workerCounts('getWorkerStatsByQueue', undefined);
  }

  async getJobStatsByQueue(): Promise<Map<string, WorkerCounts>> {
    return this.#countsByQueue('getJobStatsByQueue', JOB_TABLE, undefined);
  }

  async getLastSubmitTimeByQueue(): Promise<Map<string, Date>> {
    return this.#read('getLastSubmitTimeByQueue', async (s) => lastSubmitTimesOf(await s.query(lastSubmitTimesQuery(quote(WORK_TABLE)))));
  }

  async getUnseenWorkerCountsByQueue(statuses: readonly string[], before: Date): Promise<Map<string, number>> {
    return this.#read('getUnseenWorkerCountsByQueue', async (s) => {
      const query = unseenWorkersQuery(quote(WORK_TABLE), statuses, before.getTime(), this.#inList);
      return countsOf(await s.query(query.sql, query.parameters));
    });
  }

  // ---- files ----

  async getFiles(filter: FileFilter): Promise<FileSpec[]> {
    const conditions = fileConditions(filter, this.#inList);
    return this.#read('getFiles', (s, ctx) => this.#select(s, ctx, this.#files, conditions, filter.limit));
  }

  async saveFiles(files: readonly FileSpec[]): Promise<void> {
    await this.#write('saveFiles', async (s, ctx, after) => {
      const jobIDs = distinct(files.filter((f) => f.fileID === null).map((f) => this.#files.requireColumn(ctx, f, 'PandaID')));
      refuseMissing(ctx, 'job', jobIDs, await this.#jobs.existing(s, jobIDs));
      await this.#saveFiles(s, ctx, files.map((file) => ({ file, PandaID: file.PandaID as number })), after);
    });
  }

  // ---- the embedded job queue ----

  async enqueueJobs(entries: readonly NewQueuedJob[]): Promise<number[]> {
    return this.#write('enqueueJobs', async (s, ctx) => {
      if (entries.length === 0) return [];
      const rows = entries.map((entry, i) => queueEntryValues(ctx, entry, i));
      const first = await this.#allocatePandaIDs(s, ctx, entries.length);
      const nowMs = Date.now();
      const ids: number[] = [];
      for (const [i, values] of rows.entries()) {
        await s.execute(insertQueueEntry, [first + i, ...values, nowMs]);
        ids.push(first + i);
      }
      return ids;
    });
  }

  async takeQueuedJobs(take: QueuedJobTake): Promise<QueuedJob[]> {
    return this.#claim('takeQueuedJobs', async (s, ctx) => {
      const timing = queuedJobTake(ctx, take);
      const rows = await s.query(
        `SELECT q.* FROM ${queueTable} q WHERE q."queueName" = ? AND (q."takenTime" IS NULL OR q."takenTime" <= ?) AND ${notInJobs} ${takeOrder} LIMIT ? ${SKIP_LOCKED}`,
        [timing.queueName, timing.nowMs - timing.lockIntervalSec * 1000, timing.limit],
      );
      const stamp = { table: JOB_QUEUE_TABLE, key: 'PandaID', owner: 'takenBy', time: 'takenTime' };
      const applied = await this.#stampRows(s, stamp, rows.map((r) => Number(r.PandaID)), timing);
      return { result: rows.map((row) => queuedJobOf({ ...row, takenTime: timing.nowMs })), applied };
    });
  }

  async listQueuedJobs(filter: QueuedJobFilter = {}): Promise<QueuedJob[]> {
    return this.#read('listQueuedJobs', async (s, ctx) => {
      const limit = checkedLimit(ctx, filter.limit);
      const byQueue = filter.queueName === undefined ? '' : `q."queueName" = ? AND `;
      const rows = await s.query(`SELECT q.* FROM ${queueTable} q WHERE ${byQueue}${notInJobs} ORDER BY q."PandaID"${limit === undefined ? '' : ' LIMIT ?'}`, [
        ...(filter.queueName === undefined ? [] : [filter.queueName]),
        ...(limit === undefined ? [] : [limit]),
      ]);
      return rows.map(queuedJobOf);
    });
  }

  // ---- dialog messages ----

  async addDialogMessages(messages: readonly NewDialogMessage[], options: { readonly keep: number }): Promise<void> {
    await this.#write('addDialogMessages', async (s, ctx) => {
      const keep = checkedKeep(ctx, options.keep);
      const table = quote(DIAG_TABLE);
      for (const m of messages) await s.execute(insertDialogMessage, dialogValues(ctx, m));
      const [oldest] = await s.query(`SELECT "diagID" FROM ${table} ORDER BY "diagID" DESC LIMIT 1 OFFSET ?`, [keep]);
      if (oldest !== undefined) await s.execute(`DELETE FROM ${table} WHERE "diagID" <= ?`, [Number(oldest.diagID)]);
    });
  }

  async claimDialogMessages(claim: DialogClaim): Promise<DialogMessage[]> {
    return this.#claim('claimDialogMessages', async (s, ctx) => {
      const timing = claimTiming(ctx, claim);
      const table = quote(DIAG_TABLE);
      const rows = await s.query(`SELECT * FROM ${table} WHERE "lockTime" IS NULL OR "lockTime" < ? ORDER BY "diagID" LIMIT ? ${SKIP_LOCKED}`, [
        timing.nowMs - timing.lockIntervalSec * 1000,
        timing.limit,
      ]);
      const stamp = { table: DIAG_TABLE, key: 'diagID', owner: 'lockedBy', time: 'lockTime' };
      const applied = await this.#stampRows(s, stamp, rows.map((r) => Number(r.diagID)), timing);
      return { result: rows.map(dialogMessageOf), applied };
    });
  }

  async deleteDialogMessages(diagIDs: readonly number[]): Promise<number> {
    return this.#write('deleteDialogMessages', async (s) => {
      const list = this.#d.inList('diagID', diagIDs);
      return s.execute(`DELETE FROM ${quote(DIAG_TABLE)} WHERE ${list.sql}`, list.parameters);
    });
  }

  // ---- queues and locks ----

  async claimQueues(claim: QueueClaim): Promise<string[]> {
    return this.#claim('claimQueues', async (s, ctx) => {
      const timing = queueClaimTiming(ctx, claim);
      const names = distinct(claim.queueNames);
      if (names.length === 0) return { result: [], applied: async () => true };
      const ignore = this.#d.insertIgnore(QUEUE_TABLE, ['queueName']);
      // Sorted: two instances adding the same queues lock the keys in the same order (no deadlock).
      for (const name of [...names].sort()) await s.execute(`${ignore.head} VALUES (?)${ignore.tail}`, [name]);
      const list = this.#d.inList('queueName', names);
      const due = await s.query(
        `SELECT "queueName" FROM ${quote(QUEUE_TABLE)} WHERE ${list.sql} AND (("lockedBy" IS NULL AND ("submitTime" IS NULL OR "submitTime" <= ?))
           OR ("lockedBy" IS NOT NULL AND ("lockTime" IS NULL OR "lockTime" < ?))) ${SKIP_LOCKED}`,
        [...list.parameters, timing.nowMs - timing.checkIntervalSec * 1000, timing.nowMs - timing.lockIntervalSec * 1000],
      );
      const got = new Set(due.map((r) => String(r.queueName)));
      // submitTime, not lockTime: the lock keeper renews lockTime, and only this claim writes submitTime.
      const stamp = { table: QUEUE_TABLE, key: 'queueName', owner: 'lockedBy', time: 'submitTime', alsoTime: ['lockTime'] };
      const applied = await this.#stampRows(s, stamp, [...got], timing);
      return { result: names.filter((name) => got.has(name)), applied };
    });
  }

  async releaseQueues(queueNames: readonly string[], owner: string): Promise<void> {
    await this.#write('releaseQueues', async (s) => {
      const list = this.#d.inList('queueName', queueNames);
      await s.execute(`UPDATE ${quote(QUEUE_TABLE)} SET "lockedBy" = NULL WHERE "lockedBy" = ? AND ${list.sql}`, [owner, ...list.parameters]);
    });
  }

  async releaseLocks(owner: string): Promise<ReleasedLocks> {
    return this.#write('releaseLocks', async (s) => ({
      jobs: await run(s, clearLocksStatement(JOB_TABLE, jobLockNames, owner)),
      workers: await run(s, clearLocksStatement(WORK_TABLE, workerLockNames, owner)),
      queues: await s.execute(`UPDATE ${quote(QUEUE_TABLE)} SET "lockedBy" = NULL WHERE "lockedBy" = ?`, [owner]),
    }));
  }

  async renewLocks(owner: string, now: Date = new Date()): Promise<RenewedLocks> {
    return this.#write('renewLocks', async (s, ctx) => {
      const nowMs = renewalTimeMs(ctx, owner, now);
      return {
        jobs: await this.#touchLocks(s, JOB_TABLE, 'PandaID', jobLockTimes, owner, nowMs),
        workers: await this.#touchLocks(s, WORK_TABLE, 'workerID', workerLockTimes, owner, nowMs),
        queues: await s.execute(`UPDATE ${quote(QUEUE_TABLE)} SET "lockTime" = ? WHERE "lockedBy" = ?`, [nowMs, owner]),
      };
    });
  }

  /**
   * Sets the lock time of the owner's locks in a table. Rows another transaction holds right now are skipped
   * (SKIP LOCKED): the owner's own write-back of those rows, running at the same time on another connection,
   * refreshes or releases their locks itself, and waiting for it could deadlock with it.
   */
  async #touchLocks(s: SqlSession, table: string, key: string, locks: readonly LockColumns[], owner: string, nowMs: number): Promise<number> {
    const heldBy = heldByCondition(locks, owner);
    const held = await s.query(`SELECT ${quote(key)} AS "id" FROM ${quote(table)} WHERE ${heldBy.sql} ORDER BY ${quote(key)} ${SKIP_LOCKED}`, heldBy.parameters);
    if (held.length === 0) return 0;
    const list = this.#d.inList(key, held.map((r) => Number(r.id)));
    const set = renewedLockTimes(locks, owner, nowMs);
    return s.execute(`UPDATE ${quote(table)} SET ${set.sql} WHERE ${list.sql}`, [...set.parameters, ...list.parameters]);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#driver.close();
  }

  // ---- helpers ----

  async #write<T>(operation: string, work: (s: SqlSession, ctx: OperationContext, after: AfterCommit) => Promise<T>): Promise<T> {
    const ctx = this.#context(operation);
    let after: AfterCommit = [];
    // A transaction retried after a lost connection starts over: nothing of the failed attempt is applied.
    const result = await this.#driver.transaction(operation, (s) => {
      after = [];
      return work(s, ctx, after);
    });
    for (const apply of after) apply();
    return result;
  }

  /**
   * A claim: rows locked for their owner. When the connection is lost during its COMMIT, the outcome is
   * unknown; the claim's stamp on its rows, read back once the server answers, tells. Applied: the rows are
   * the caller's. Not applied: nothing of it is in the database, and it runs again. (Reported as failed, an
   * applied claim would hold its rows for lockInterval, unknown to every instance.)
   */
  async #claim<T>(operation: string, work: (s: SqlSession, ctx: OperationContext) => Promise<Claimed<T>>): Promise<T> {
    const ctx = this.#context(operation);
    for (let cut = 1; ; cut++) {
      let attempt: Claimed<T> | undefined;
      try {
        const claimed = await this.#driver.transaction(operation, async (s) => {
          attempt = undefined;
          attempt = await work(s, ctx);
          return attempt;
        });
        return claimed.result;
      } catch (error) {
        const cutAttempt = attempt;
        if (!(error instanceof StoreCommitUnknownError) || cutAttempt === undefined || cut >= maxCutClaimCommits) throw error;
        if (await this.#driver.transaction(`${operation} (reading back a claim whose COMMIT was cut)`, (s) => cutAttempt.applied(s))) return cutAttempt.result;
      }
    }
  }

  async #read<T>(operation: string, work: (s: SqlSession, ctx: OperationContext) => Promise<T>): Promise<T> {
    const ctx = this.#context(operation);
    return this.#driver.transaction(operation, (s) => work(s, ctx));
  }

  #context(operation: string): OperationContext {
    if (this.#closed) throw new StoreClosedError(this.database, operation);
    return { database: this.database, operation };
  }

  /** Refuses ids given twice or already stored (StoreDuplicateError); returns the ids the specs have. */
  async #refuseDuplicates<S extends Spec>(s: SqlSession, ctx: OperationContext, table: ServerSpecTable<S>, kind: RecordKind, specs: readonly S[]): Promise<number[]> {
    const ids = givenIds(table, specs);
    refuseDuplicates(ctx, kind, ids, await table.existing(s, ids));
    return ids;
  }

  /** Reserves `count` consecutive PandaIDs (see SqliteStore); the sequence row is locked until commit. */
  async #allocatePandaIDs(s: SqlSession, ctx: OperationContext, count: number): Promise<number> {
    await s.query(`SELECT "next" FROM ${quote(SEQUENCE_TABLE)} WHERE "name" = ? FOR UPDATE`, [PANDAID_SEQUENCE]);
    const [row] = await s.query(
      `SELECT GREATEST(
         COALESCE((SELECT "next" FROM ${quote(SEQUENCE_TABLE)} WHERE "name" = ?), 1),
         COALESCE((SELECT MAX("PandaID") FROM ${quote(JOB_TABLE)}), 0) + 1,
         COALESCE((SELECT MAX("PandaID") FROM ${queueTable}), 0) + 1) AS "next"`,
      [PANDAID_SEQUENCE],
    );
    const next = Number(row?.next);
    await s.execute(`UPDATE ${quote(SEQUENCE_TABLE)} SET "next" = ? WHERE "name" = ?`, [sequenceAfter(ctx, next, count), PANDAID_SEQUENCE]);
    return next;
  }

  async #notePandaIDs(s: SqlSession, PandaIDs: readonly number[]): Promise<void> {
    if (PandaIDs.length === 0) return;
    await s.execute(`UPDATE ${quote(SEQUENCE_TABLE)} SET "next" = GREATEST("next", ?) WHERE "name" = ?`, [sequencePast(PandaIDs), PANDAID_SEQUENCE]);
  }

  async #relate(s: SqlSession, workerID: number, PandaIDs: readonly number[]): Promise<void> {
    if (PandaIDs.length === 0) return;
    const ignore = this.#d.insertIgnore(JOB_WORKER_TABLE, ['PandaID', 'workerID']);
    const unique = distinct(PandaIDs);
    await s.execute(`${ignore.head} VALUES ${unique.map(() => '(?, ?)').join(', ')}${ignore.tail}`, unique.flatMap((id) => [id, workerID]));
  }

  async #insertJob(s: SqlSession, ctx: OperationContext, job: JobSpec, after: AfterCommit, newPandaID: number | undefined): Promise<void> {
    const PandaID = await this.#jobs.insert(s, ctx, job, newPandaID === undefined ? {} : { PandaID: newPandaID });
    after.push(jobInserted(job, PandaID));
    await this.#saveFiles(s, ctx, [...job.inFiles, ...job.outFiles].map((file) => ({ file, PandaID })), after);
  }

  /** Inserts the new files (in order, each taking the next fileID) and writes the changed columns of the others, set-based. */
  async #saveFiles(s: SqlSession, ctx: OperationContext, files: ReadonlyArray<{ readonly file: FileSpec; readonly PandaID: number }>, after: AfterCommit): Promise<void> {
    const changes: { id: number; assignments: [string, SqlValue][] }[] = [];
    for (const { file, PandaID } of files) {
      if (file.fileID === null) {
        const fileID = await this.#files.insert(s, ctx, file, { PandaID });
        after.push(fileInserted(file, fileID, PandaID));
        continue;
      }
      const changed = this.#files.changedValues(ctx, file);
      if (changed.length === 0) continue;
      changes.push({ id: file.fileID, assignments: changed });
      after.push(() => file.resetChanges());
    }
    const missing = await this.#files.updateRows(s, changes);
    if (missing.length > 0) throw new StoreRecordNotFoundError(ctx.database, ctx.operation, 'file', missing);
  }

  async #saveFilesOf(s: SqlSession, ctx: OperationContext, jobs: readonly JobSpec[], after: AfterCommit): Promise<void> {
    await this.#saveFiles(s, ctx, jobs.flatMap((job) => [...job.inFiles, ...job.outFiles].map((file) => ({ file, PandaID: job.PandaID as number }))), after);
  }

  async #updateSpecs<S extends Spec>(
    s: SqlSession,
    ctx: OperationContext,
    table: ServerSpecTable<S>,
    kind: RecordKind,
    specs: readonly S[],
    lock: OwnedLock | undefined,
    options: { releaseLock?: boolean; now?: Date },
    after: AfterCommit,
  ): Promise<void> {
    const ids = specs.map((spec) => table.requireColumn(ctx, spec));
    if (lock === undefined) refuseMissing(ctx, kind, ids, await table.existing(s, ids));
    const guard = lock === undefined ? undefined : ([lock.lock, lock.owner] as const);
    const writes = specWrites(ctx, table, specs, ids, lock, options);
    for (const write of writes) after.push(write.committed);
    // A row without changes is not written; with a lock, updateRows still checks that it is held.
    const lostIds = await table.updateRows(s, writes, guard);
    if (lock !== undefined && lostIds.length > 0) {
      lostIds.sort((a, b) => ids.indexOf(a) - ids.indexOf(b));
      throw lockLostError(ctx, kind, lock, lostIds, await table.existing(s, lostIds, lock.lock));
    }
  }

  async #select<S extends Spec>(s: SqlSession, ctx: OperationContext, table: ServerSpecTable<S>, conditions: readonly Condition<Parameter>[], limit: number | undefined): Promise<S[]> {
    const { condition, parameters, suffix } = listing(conditions, table.primaryKey, checkedLimit(ctx, limit));
    return table.where(s, condition, parameters, suffix);
  }

  /**
   * Picks and locks up to `limit` claimable rows for the owner, most overdue first, skipping rows others hold.
   * The claim was applied when its rows carry its stamp: the owner, and this claim's time (or later) as lock time.
   */
  async #claimRows<S extends Spec>(s: SqlSession, table: ServerSpecTable<S>, lock: LockColumns, conditions: readonly Condition<Parameter>[], timing: ClaimTiming): Promise<Claimed<S[]>> {
    const { condition, parameters } = claimSelection(lock, conditions, timing);
    const specs = await table.where(s, condition, parameters, `ORDER BY ${this.#d.ascNullsFirst(lock.due)}, ${quote(table.primaryKey)} LIMIT ? ${SKIP_LOCKED}`);
    if (specs.length === 0) return { result: specs, applied: async () => true };
    const assignments = claimStamp(lock, timing);
    const list = this.#d.inList(table.primaryKey, specs.map((spec) => table.idOf(spec) as number));
    await s.execute(`UPDATE ${quote(table.table)} SET ${setList(assignments)} WHERE ${list.sql}`, [
      ...assignments.map(([, value]) => value),
      ...list.parameters,
    ]);
    for (const spec of specs) for (const [column, value] of assignments) table.mirror(spec, column, value);
    // ">=": the lock keeper may have renewed the lock time since (it only moves it forward); a row this claim
    // could take had a lock time before its time.
    const applied = async (session: SqlSession): Promise<boolean> => {
      const [row] = await session.query(`SELECT COUNT(*) AS "n" FROM ${quote(table.table)} WHERE ${list.sql} AND ${quote(lock.lock)} = ? AND ${quote(lock.lockTime)} >= ?`, [
        ...list.parameters,
        timing.owner,
        timing.nowMs,
      ]);
      return Number(row?.n) > 0;
    };
    return { result: specs, applied };
  }

  /**
   * Stamps rows for a claim that is not of a spec table (queued jobs, dialog messages, queues): the owner and
   * the claim's time. The claim was applied when the rows carry that stamp (see #claim).
   */
  async #stampRows(s: SqlSession, stamp: RowStamp, keys: readonly SqlValue[], timing: ClaimTiming): Promise<Claimed<unknown>['applied']> {
    if (keys.length === 0) return async () => true;
    const list = this.#d.inList(stamp.key, keys);
    const times = [stamp.time, ...(stamp.alsoTime ?? [])];
    await s.execute(`UPDATE ${quote(stamp.table)} SET ${quote(stamp.owner)} = ?, ${times.map((c) => `${quote(c)} = ?`).join(', ')} WHERE ${list.sql}`, [
      timing.owner,
      ...times.map(() => timing.nowMs),
      ...list.parameters,
    ]);
    return async (session) => {
      // ">=": the lock keeper may have renewed the lock time since (it only moves it forward).
      const where = `${list.sql} AND ${quote(stamp.owner)} = ? AND ${quote(stamp.time)} >= ?`;
      const [row] = await session.query(`SELECT COUNT(*) AS "n" FROM ${quote(stamp.table)} WHERE ${where}`, [...list.parameters, timing.owner, timing.nowMs]);
      return Number(row?.n) > 0;
    };
  }

  async #withFiles(s: SqlSession, jobs: JobSpec[]): Promise<JobSpec[]> {
    if (jobs.length === 0) return jobs;
    const list = this.#d.inList('PandaID', jobs.map((j) => j.PandaID as number));
    return attachFiles(jobs, await this.#files.where(s, list.sql, list.parameters, `ORDER BY "fileID"`));
  }

  async #withJobs(s: SqlSession, workers: WorkSpec[]): Promise<WorkSpec[]> {
    if (workers.length === 0) return workers;
    const list = this.#d.inList('workerID', workers.map((w) => w.workerID as number));
    const relations = (await s.query(`SELECT "PandaID", "workerID" FROM ${quote(JOB_WORKER_TABLE)} WHERE ${list.sql} ORDER BY "workerID", "PandaID"`, list.parameters)).map(relationOf);
    return attachJobs(workers, relations, await this.#withFiles(s, await this.#jobs.byIds(s, distinct(relations.map((r) => r.PandaID)))));
  }

  #workerCounts(operation: string, queueName: string | undefined): Promise<Map<string, WorkerCounts>> {
    return this.#countsByQueue(operation, WORK_TABLE, queueName);
  }

  /** Rows of a table (workers or jobs) by queue and status. */
  async #countsByQueue(operation: string, table: string, queueName: string | undefined): Promise<Map<string, WorkerCounts>> {
    return this.#read(operation, async (s) => {
      const where = queueName === undefined ? `"computingSite" IS NOT NULL` : `"computingSite" = ?`;
      const rows = await s.query(
        `SELECT "computingSite" AS "queue", "status" AS "status", COUNT(*) AS "n" FROM ${quote(table)} WHERE ${where} GROUP BY "computingSite", "status" ORDER BY "computingSite", "status"`,
        queueName === undefined ? [] : [queueName],
      );
      return countsByQueue(rows);
    });
  }
}

/** Runs a statement and returns how many rows it changed. */
function run(s: SqlSession, statement: { readonly sql: string; readonly parameters: readonly SqlValue[] }): Promise<number> {
  return s.execute(statement.sql, statement.parameters);
}
