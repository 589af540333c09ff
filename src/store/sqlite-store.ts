// The Store on SQLite (better-sqlite3): one file, WAL so readers never wait for the writer, a busy timeout
// so several processes share the file, foreign keys so files and relations go with their job or worker.
// Every write is one immediate transaction: all or nothing, and claims are atomic across processes.
// better-sqlite3 is synchronous; the async methods keep the interface fit for a networked database.
import { claimLockOf, claimTiming, lockOf, queueClaimTiming, queuedJobTake, renewalTimeMs, type OwnedLock } from './claim-arguments.js';
import { accessSync, closeSync, constants, existsSync, openSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { FileSpec, JobSpec, WorkSpec, type ColumnDef, type Spec } from '../spec/index.js';
import { StoreClosedError, StoreOpenError, StoreReadOnlyError, StoreRecordNotFoundError, StoreSchemaTooNewError, type RecordKind } from './errors.js';
import { jobLockColumns, jobLockNames, jobLockTimes, workerInternalColumns, workerLockColumns, workerLockNames, workerLockTimes, type LockColumns } from './lock-columns.js';
import { checkedLimit, fileConditions, jobConditions, listing, workerClaimConditions, workerConditions, type Condition } from './sql/conditions.js';
import { clearLocksStatement, heldByCondition, renewedLockTimes } from './sql/locks.js';
import { attachFiles, attachJobs, countsByQueue, lastSubmitTimesOf, lastSubmitTimesQuery, countsOf, unseenWorkersQuery } from './sql/related-rows.js';
import { distinct, fileInserted, givenIds, jobInserted, lockLostError, refuseDuplicates, refuseMissing, specWrites, workerInserted } from './sql/spec-writes.js';
import { claimRows } from './sqlite/claims.js';
import { claimDialogRows, deleteDialogRows, insertDialogRows } from './sqlite/dialogs.js';
import { allocatePandaIDs, insertQueuedJobs, listQueuedRows, notePandaIDs, removeQueuedJobs, takeQueuedRows } from './sqlite/job-queue.js';
import { loadSqliteDriver } from './sqlite/driver.js';
import { translateSqliteError } from './sqlite/engine-errors.js';
import { SCHEMA_VERSION, migrate, readSchemaVersion } from './sqlite/schema.js';
import type { AfterCommit, OperationContext } from './sql/operation.js';
import { FILE_TABLE, JOB_TABLE, JOB_WORKER_TABLE, QUEUE_TABLE, WORK_TABLE, quote } from './sql/tables.js';
import { inList, jsonInList, SpecTable, StatementCache } from './sqlite/spec-table.js';
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
} from './store.js';

export interface SqliteStoreOptions {
  /** How long a statement waits for another process's write to finish (SQLite's busy_timeout); default 10 s. */
  readonly busyTimeoutMs?: number;
}

export class SqliteStore implements Store {
  readonly database: string;
  readonly #db: Database.Database;
  readonly #busyTimeoutMs: number;
  readonly #statements: StatementCache;
  readonly #jobs: SpecTable<JobSpec>;
  readonly #workers: SpecTable<WorkSpec>;
  readonly #files: SpecTable<FileSpec>;
  #closed = false;

  private constructor(database: string, db: Database.Database, busyTimeoutMs: number) {
    this.database = database;
    this.#db = db;
    this.#busyTimeoutMs = busyTimeoutMs;
    this.#statements = new StatementCache(db);
    this.#jobs = new SpecTable(this.#statements, JOB_TABLE, 'PandaID', () => new JobSpec(), JobSpec.columns);
    this.#workers = new SpecTable(this.#statements, WORK_TABLE, 'workerID', () => new WorkSpec(), WorkSpec.columns, workerInternalColumns as readonly ColumnDef[]);
    this.#files = new SpecTable(this.#statements, FILE_TABLE, 'fileID', () => new FileSpec(), FileSpec.columns);
  }

  /**
   * Opens (creating when absent) the database file and brings its schema to the current version. Throws
   * StoreOpenError, StoreCorruptError, StoreSchemaTooNewError, StoreReadOnlyError or StoreDiskFullError.
   */
  static async open(file: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
    const database = resolve(file);
    const busyTimeoutMs = options.busyTimeoutMs ?? 10_000;
    const directory = dirname(database);
    if (!existsSync(directory) || !statSync(directory).isDirectory()) {
      throw new StoreOpenError(database, `its directory ${directory} does not exist`);
    }
    if (existsSync(database) && !statSync(database).isFile()) throw new StoreOpenError(database, 'it is not a regular file');
    const Driver = await loadSqliteDriver(database);
    let db: Database.Database | undefined;
    try {
      createOwnerOnly(database);
      db = new Driver(database, { timeout: busyTimeoutMs });
      // Reading the version first: a newer file is refused before anything is written to it.
      const found = readSchemaVersion(db);
      if (found > SCHEMA_VERSION) throw new StoreSchemaTooNewError(database, found, SCHEMA_VERSION);
      db.pragma('journal_mode = WAL');
      // FULL: a committed claim or submission survives a power cut, so a worker is never submitted twice.
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      // Up to 64 MB of pages cached in the process (SQLite's default is 2 MB): a monitor cycle reads and
      // writes 10,000 worker rows (~6 MB with their indexes), which otherwise come back through read(2) each time.
      db.pragma('cache_size = -65536');
      const opened = db;
      opened.transaction(() => {
        // Read again under the write lock: another process may have migrated meanwhile.
        const current = readSchemaVersion(opened);
        if (current > SCHEMA_VERSION) throw new StoreSchemaTooNewError(database, current, SCHEMA_VERSION);
        migrate(opened, current);
      }).immediate();
      return new SqliteStore(database, opened, busyTimeoutMs);
    } catch (error) {
      db?.close();
      const translated = translateSqliteError(error, database, 'open', busyTimeoutMs);
      // SQLite says only "unable to open" when it cannot create the -wal/-shm files: name the real cause.
      const readOnly = translated instanceof StoreOpenError ? readOnlyReason(database) : null;
      throw readOnly === null ? translated : new StoreReadOnlyError(database, 'open', readOnly, { cause: error });
    }
  }

  // ---- jobs ----

  async insertJobs(jobs: readonly JobSpec[]): Promise<void> {
    this.#write('insertJobs', (ctx, after) => {
      const given = this.#refuseDuplicates(ctx, this.#jobs, 'job', jobs);
      notePandaIDs(this.#statements, given);
      const unnumbered = jobs.length - given.length;
      let next = unnumbered > 0 ? allocatePandaIDs(ctx, this.#statements, unnumbered) : 0;
      for (const job of jobs) this.#insertJob(ctx, job, after, this.#jobs.idOf(job) === null ? next++ : undefined);
      // In the same transaction: a fetcher crashing before this commit finds the entries still queued.
      removeQueuedJobs(this.#statements, given);
    });
  }

  async claimJobs(claim: JobClaim): Promise<JobSpec[]> {
    const lock = claimLockOf({ database: this.database, operation: 'claimJobs' }, jobLockColumns, claim.for);
    const conditions = jobConditions(claim, jsonInList);
    return this.#write('claimJobs', (ctx) => {
      return this.#withFiles(claimRows(this.#jobs, lock, conditions, claimTiming(ctx, claim)));
    });
  }

  async updateJobs(jobs: readonly JobSpec[], options: JobUpdate = {}): Promise<void> {
    this.#write('updateJobs', (ctx, after) => {
      const lock = lockOf(ctx, options, jobLockColumns);
      this.#updateSpecs(ctx, this.#jobs, 'job', jobs, lock, options, after);
      for (const job of jobs) this.#saveFilesOf(ctx, job, after);
    });
  }

  async getJobs(PandaIDs: readonly number[]): Promise<JobSpec[]> {
    return this.#read('getJobs', () => this.#withFiles(this.#jobs.byIds(PandaIDs)));
  }

  async getJob(PandaID: number): Promise<JobSpec> {
    const [job] = await this.getJobs([PandaID]);
    if (job === undefined) throw new StoreRecordNotFoundError(this.database, 'getJob', 'job', [PandaID]);
    return job;
  }

  async listJobs(filter: JobFilter = {}): Promise<JobSpec[]> {
    const conditions = jobConditions(filter, jsonInList);
    return this.#read('listJobs', (ctx) => {
      const jobs = this.#select(ctx, this.#jobs, conditions, filter.limit);
      return filter.withFiles === true ? this.#withFiles(jobs) : jobs;
    });
  }

  async deleteJobs(PandaIDs: readonly number[]): Promise<number> {
    // Files and relations go with the job (ON DELETE CASCADE).
    return this.#write('deleteJobs', () => this.#statements.get(`DELETE FROM ${quote(JOB_TABLE)} WHERE ${inList('PandaID')}`).run(JSON.stringify(PandaIDs)).changes);
  }

  // ---- workers ----

  async insertWorkers(workers: readonly WorkSpec[], options: { readonly jobs?: JobUpdate } = {}): Promise<void> {
    this.#write('insertWorkers', (ctx, after) => {
      this.#refuseDuplicates(ctx, this.#workers, 'worker', workers);
      const jobs = distinct(workers.flatMap((w) => w.jobSpecs));
      const jobIDs = jobs.map((job) => this.#jobs.requireColumn(ctx, job));
      refuseMissing(ctx, 'job', jobIDs, this.#jobs.existing(jobIDs));
      const relate = this.#statements.get(`INSERT OR IGNORE INTO ${quote(JOB_WORKER_TABLE)} ("PandaID", "workerID") VALUES (?, ?)`);
      for (const worker of workers) {
        const workerID = this.#workers.insert(ctx, worker);
        for (const job of worker.jobSpecs) relate.run(job.PandaID, workerID);
        after.push(workerInserted(worker, workerID));
      }
      if (options.jobs !== undefined) {
        const lock = lockOf(ctx, options.jobs, jobLockColumns);
        this.#updateSpecs(ctx, this.#jobs, 'job', jobs, lock, options.jobs, after);
        for (const job of jobs) this.#saveFilesOf(ctx, job, after);
      }
    });
  }

  async claimWorkers(claim: WorkerClaim): Promise<WorkSpec[]> {
    const lock = claimLockOf({ database: this.database, operation: 'claimWorkers' }, workerLockColumns, claim.purpose);
    return this.#write('claimWorkers', (ctx) => {
      const timing = claimTiming(ctx, claim);
      const conditions = workerClaimConditions(ctx, claim, timing.nowMs, jsonInList);
      return this.#withJobs(claimRows(this.#workers, lock, conditions, timing));
    });
  }

  async updateWorkers(workers: readonly WorkSpec[], options: WorkerUpdate = {}): Promise<void> {
    this.#write('updateWorkers', (ctx, after) => {
      const lock = lockOf(ctx, options, workerLockColumns);
      this.#updateSpecs(ctx, this.#workers, 'worker', workers, lock, options, after);
      if (options.includeJobs === true) {
        const jobs = distinct(workers.flatMap((w) => w.jobSpecs));
        this.#updateSpecs(ctx, this.#jobs, 'job', jobs, undefined, { now: options.now }, after);
        for (const job of jobs) this.#saveFilesOf(ctx, job, after);
      }
    });
  }

  async getWorkers(workerIDs: readonly number[]): Promise<WorkSpec[]> {
    return this.#read('getWorkers', () => this.#withJobs(this.#workers.byIds(workerIDs)));
  }

  async getWorker(workerID: number): Promise<WorkSpec> {
    const [worker] = await this.getWorkers([workerID]);
    if (worker === undefined) throw new StoreRecordNotFoundError(this.database, 'getWorker', 'worker', [workerID]);
    return worker;
  }

  async listWorkers(filter: WorkerFilter = {}): Promise<WorkSpec[]> {
    const conditions = workerConditions(filter, jsonInList);
    return this.#read('listWorkers', (ctx) => {
      const workers = this.#select(ctx, this.#workers, conditions, filter.limit);
      return filter.withJobs === true ? this.#withJobs(workers) : workers;
    });
  }

  async deleteWorkers(workerIDs: readonly number[]): Promise<number> {
    return this.#write('deleteWorkers', () => this.#statements.get(`DELETE FROM ${quote(WORK_TABLE)} WHERE ${inList('workerID')}`).run(JSON.stringify(workerIDs)).changes);
  }

  async relateJobsToWorker(workerID: number, PandaIDs: readonly number[]): Promise<void> {
    this.#write('relateJobsToWorker', (ctx) => {
      if (!this.#workers.existing([workerID]).has(workerID)) throw new StoreRecordNotFoundError(ctx.database, ctx.operation, 'worker', [workerID]);
      refuseMissing(ctx, 'job', PandaIDs, this.#jobs.existing(PandaIDs));
      const relate = this.#statements.get(`INSERT OR IGNORE INTO ${quote(JOB_WORKER_TABLE)} ("PandaID", "workerID") VALUES (?, ?)`);
      for (const PandaID of PandaIDs) relate.run(PandaID, workerID);
    });
  }

  async getWorkerIDsOfJob(PandaID: number): Promise<number[]> {
    return this.#read('getWorkerIDsOfJob', () =>
      (this.#statements.get(`SELECT "workerID" FROM ${quote(JOB_WORKER_TABLE)} WHERE "PandaID" = ? ORDER BY "workerID"`).all(PandaID) as { workerID: number }[]).map((r) => r.workerID),
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
    return this.#read('getLastSubmitTimeByQueue', () => lastSubmitTimesOf(this.#statements.get(lastSubmitTimesQuery(quote(WORK_TABLE))).all() as Record<string, unknown>[]));
  }

  async getUnseenWorkerCountsByQueue(statuses: readonly string[], before: Date): Promise<Map<string, number>> {
    return this.#read('getUnseenWorkerCountsByQueue', () => {
      const query = unseenWorkersQuery(quote(WORK_TABLE), statuses, before.getTime(), jsonInList);
      return countsOf(this.#statements.get(query.sql).all(...query.parameters) as Record<string, unknown>[]);
    });
  }

  // ---- files ----

  async getFiles(filter: FileFilter): Promise<FileSpec[]> {
    const conditions = fileConditions(filter, jsonInList);
    return this.#read('getFiles', (ctx) => this.#select(ctx, this.#files, conditions, filter.limit));
  }

  async saveFiles(files: readonly FileSpec[]): Promise<void> {
    this.#write('saveFiles', (ctx, after) => {
      const jobIDs = distinct(files.filter((f) => f.fileID === null).map((f) => this.#files.requireColumn(ctx, f, 'PandaID')));
      refuseMissing(ctx, 'job', jobIDs, this.#jobs.existing(jobIDs));
      for (const file of files) this.#saveFile(ctx, file, file.PandaID as number, after);
    });
  }

  // ---- the embedded job queue ----

  async enqueueJobs(entries: readonly NewQueuedJob[]): Promise<number[]> {
    return this.#write('enqueueJobs', (ctx) => insertQueuedJobs(ctx, this.#statements, entries, Date.now()));
  }

  async takeQueuedJobs(take: QueuedJobTake): Promise<QueuedJob[]> {
    return this.#write('takeQueuedJobs', (ctx) => takeQueuedRows(this.#statements, queuedJobTake(ctx, take)));
  }

  async listQueuedJobs(filter: QueuedJobFilter = {}): Promise<QueuedJob[]> {
    return this.#read('listQueuedJobs', (ctx) => listQueuedRows(this.#statements, filter.queueName, checkedLimit(ctx, filter.limit) ?? -1));
  }

  // ---- dialog messages ----

  async addDialogMessages(messages: readonly NewDialogMessage[], options: { readonly keep: number }): Promise<void> {
    this.#write('addDialogMessages', (ctx) => insertDialogRows(ctx, this.#statements, messages, options.keep));
  }

  async claimDialogMessages(claim: DialogClaim): Promise<DialogMessage[]> {
    return this.#write('claimDialogMessages', (ctx) => claimDialogRows(this.#statements, claimTiming(ctx, claim)));
  }

  async deleteDialogMessages(diagIDs: readonly number[]): Promise<number> {
    return this.#write('deleteDialogMessages', () => deleteDialogRows(this.#statements, diagIDs));
  }

  // ---- queues and locks ----

  async claimQueues(claim: QueueClaim): Promise<string[]> {
    return this.#write('claimQueues', (ctx) => {
      const timing = queueClaimTiming(ctx, claim);
      const names = JSON.stringify(claim.queueNames);
      this.#statements.get(`INSERT OR IGNORE INTO ${quote(QUEUE_TABLE)} ("queueName") SELECT value FROM json_each(?)`).run(names);
      const claimed = this.#statements
        .get(
          `UPDATE ${quote(QUEUE_TABLE)} SET "lockedBy" = ?, "lockTime" = ?, "submitTime" = ?
           WHERE ${inList('queueName')} AND (("lockedBy" IS NULL AND ("submitTime" IS NULL OR "submitTime" <= ?))
             OR ("lockedBy" IS NOT NULL AND ("lockTime" IS NULL OR "lockTime" < ?)))
           RETURNING "queueName"`,
        )
        .all(timing.owner, timing.nowMs, timing.nowMs, names, timing.nowMs - timing.checkIntervalSec * 1000, timing.nowMs - timing.lockIntervalSec * 1000) as { queueName: string }[];
      const got = new Set(claimed.map((r) => r.queueName));
      return claim.queueNames.filter((name, i) => got.has(name) && claim.queueNames.indexOf(name) === i);
    });
  }

  async releaseQueues(queueNames: readonly string[], owner: string): Promise<void> {
    this.#write('releaseQueues', () => {
      this.#statements.get(`UPDATE ${quote(QUEUE_TABLE)} SET "lockedBy" = NULL WHERE "lockedBy" = ? AND ${inList('queueName')}`).run(owner, JSON.stringify(queueNames));
    });
  }

  async releaseLocks(owner: string): Promise<ReleasedLocks> {
    return this.#write('releaseLocks', () => ({
      jobs: this.#run(clearLocksStatement(JOB_TABLE, jobLockNames, owner)),
      workers: this.#run(clearLocksStatement(WORK_TABLE, workerLockNames, owner)),
      queues: this.#statements.get(`UPDATE ${quote(QUEUE_TABLE)} SET "lockedBy" = NULL WHERE "lockedBy" = ?`).run(owner).changes,
    }));
  }

  async renewLocks(owner: string, now: Date = new Date()): Promise<RenewedLocks> {
    return this.#write('renewLocks', (ctx) => {
      const nowMs = renewalTimeMs(ctx, owner, now);
      return {
        jobs: this.#touchLocks(JOB_TABLE, jobLockTimes, owner, nowMs),
        workers: this.#touchLocks(WORK_TABLE, workerLockTimes, owner, nowMs),
        queues: this.#statements.get(`UPDATE ${quote(QUEUE_TABLE)} SET "lockTime" = ? WHERE "lockedBy" = ?`).run(nowMs, owner).changes,
      };
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }

  // ---- helpers ----

  /** Runs a write as one immediate transaction; the specs are touched only after it committed. */
  #write<T>(operation: string, work: (ctx: OperationContext, after: AfterCommit) => T): T {
    const ctx = this.#context(operation);
    const after: AfterCommit = [];
    let result: T;
    try {
      result = this.#db.transaction(() => work(ctx, after)).immediate();
    } catch (error) {
      throw translateSqliteError(error, this.database, operation, this.#busyTimeoutMs);
    }
    for (const apply of after) apply();
    return result;
  }

  /** Runs reads in one deferred transaction: a consistent snapshot (WAL readers do not wait). */
  #read<T>(operation: string, work: (ctx: OperationContext) => T): T {
    const ctx = this.#context(operation);
    try {
      return this.#db.transaction(() => work(ctx)).deferred();
    } catch (error) {
      throw translateSqliteError(error, this.database, operation, this.#busyTimeoutMs);
    }
  }

  #context(operation: string): OperationContext {
    if (this.#closed) throw new StoreClosedError(this.database, operation);
    return { database: this.database, operation };
  }

  /** Refuses ids given twice or already stored (StoreDuplicateError); returns the ids the specs have. */
  #refuseDuplicates<S extends Spec>(ctx: OperationContext, table: SpecTable<S>, kind: RecordKind, specs: readonly S[]): number[] {
    const ids = givenIds(table, specs);
    refuseDuplicates(ctx, kind, ids, table.existing(ids));
    return ids;
  }

  /** Runs a statement and returns how many rows it changed. */
  #run(statement: { readonly sql: string; readonly parameters: readonly unknown[] }): number {
    return this.#statements.get(statement.sql).run(...statement.parameters).changes;
  }

  /** Inserts a job with its files; `newPandaID` for a job without one (drawn from the sequence). */
  #insertJob(ctx: OperationContext, job: JobSpec, after: AfterCommit, newPandaID: number | undefined): void {
    const PandaID = this.#jobs.insert(ctx, job, newPandaID === undefined ? {} : { PandaID: newPandaID });
    after.push(jobInserted(job, PandaID));
    for (const file of [...job.inFiles, ...job.outFiles]) this.#saveFile(ctx, file, PandaID, after);
  }

  /** Inserts a file without fileID (for the given job), or writes the changed columns of one with. */
  #saveFile(ctx: OperationContext, file: FileSpec, PandaID: number, after: AfterCommit): void {
    if (file.fileID === null) {
      const fileID = this.#files.insert(ctx, file, { PandaID });
      after.push(fileInserted(file, fileID, PandaID));
      return;
    }
    const changed = this.#files.changedValues(ctx, file);
    if (changed.length === 0) return;
    const changes = this.#files.update(file.fileID, changed);
    if (changes === 0) throw new StoreRecordNotFoundError(ctx.database, ctx.operation, 'file', [file.fileID]);
    after.push(() => file.resetChanges());
  }

  #saveFilesOf(ctx: OperationContext, job: JobSpec, after: AfterCommit): void {
    for (const file of [...job.inFiles, ...job.outFiles]) this.#saveFile(ctx, file, job.PandaID as number, after);
  }

  /**
   * Writes the changed columns of specs. With a lock: refuses (StoreLockLostError) unless the owner holds
   * every row, then releases the lock or refreshes its time. Without: refuses rows that do not exist.
   */
  #updateSpecs<S extends Spec>(
    ctx: OperationContext,
    table: SpecTable<S>,
    kind: RecordKind,
    specs: readonly S[],
    lock: OwnedLock | undefined,
    options: { releaseLock?: boolean; now?: Date },
    after: AfterCommit,
  ): void {
    const ids = specs.map((spec) => table.requireColumn(ctx, spec));
    if (lock === undefined) refuseMissing(ctx, kind, ids, table.existing(ids));
    // With a lock, each row is written only while the owner holds it (no separate read of 10,000 holders);
    // a row written by nobody means the lock was lost, and the whole write is refused below (rolled back).
    const guard = lock === undefined ? undefined : ([lock.lock, lock.owner] as const);
    const lostIds: number[] = [];
    for (const write of specWrites(ctx, table, specs, ids, lock, options)) {
      if (table.update(write.id, write.assignments, guard) === 0 && guard !== undefined) lostIds.push(write.id);
      after.push(write.committed);
    }
    if (lock !== undefined && lostIds.length > 0) throw lockLostError(ctx, kind, lock, lostIds, table.existing(lostIds, lock.lock));
  }

  #select<S extends Spec>(ctx: OperationContext, table: SpecTable<S>, conditions: readonly Condition[], limit: number | undefined): S[] {
    // No limit is SQLite's LIMIT -1: one statement text for every listing.
    const { condition, parameters, suffix } = listing(conditions, table.primaryKey, checkedLimit(ctx, limit) ?? -1);
    return table.where(condition, parameters, suffix);
  }

  /** Attaches each job's files: input types to inFiles, the rest to outFiles. */
  #withFiles(jobs: JobSpec[]): JobSpec[] {
    if (jobs.length === 0) return jobs;
    return attachFiles(jobs, this.#files.where(inList('PandaID'), [JSON.stringify(jobs.map((j) => j.PandaID))], `ORDER BY ${quote('fileID')}`));
  }

  /** Attaches each worker's jobs (one JobSpec object per job, shared between its workers) and pandaid_list. */
  #withJobs(workers: WorkSpec[]): WorkSpec[] {
    if (workers.length === 0) return workers;
    const relations = this.#statements
      .get(`SELECT "PandaID", "workerID" FROM ${quote(JOB_WORKER_TABLE)} WHERE ${inList('workerID')} ORDER BY "workerID", "PandaID"`)
      .all(JSON.stringify(workers.map((w) => w.workerID))) as { PandaID: number; workerID: number }[];
    return attachJobs(workers, relations, this.#withFiles(this.#jobs.byIds(distinct(relations.map((r) => r.PandaID)))));
  }

  #workerCounts(operation: string, queueName: string | undefined): Map<string, WorkerCounts> {
    return this.#countsByQueue(operation, WORK_TABLE, queueName);
  }

  #countsByQueue(operation: string, table: string, queueName: string | undefined): Map<string, WorkerCounts> {
    return this.#read(operation, () => {
      const where = queueName === undefined ? `${quote('computingSite')} IS NOT NULL` : `${quote('computingSite')} = ?`;
      const rows = this.#statements
        .get(`SELECT "computingSite" AS queue, "status" AS status, COUNT(*) AS n FROM ${quote(table)} WHERE ${where} GROUP BY "computingSite", "status" ORDER BY "computingSite", "status"`)
        .all(...(queueName === undefined ? [] : [queueName])) as Record<string, unknown>[];
      return countsByQueue(rows);
    });
  }

  /** Sets the lock time of each lock the owner holds in a table to now; returns how many rows changed. */
  #touchLocks(table: string, locks: readonly LockColumns[], owner: string, nowMs: number): number {
    const set = renewedLockTimes(locks, owner, nowMs);
    const held = heldByCondition(locks, owner);
    return this.#run({ sql: `UPDATE ${quote(table)} SET ${set.sql} WHERE ${held.sql}`, parameters: [...set.parameters, ...held.parameters] });
  }
}

/** Errors of creating the file that the driver's open just after meets too and reports (StoreOpenError/StoreReadOnlyError). */
const leftToTheDriver: ReadonlySet<string | undefined> = new Set(['EEXIST', 'EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT']);

/**
 * SQLite creates a new database file 0644 (less the umask), and its -wal and -shm files take the database
 * file's mode: created here first, 0600, none of them is readable by other users of the host. EEXIST: another
 * process made it meanwhile.
 */
function createOwnerOnly(database: string): void {
  if (existsSync(database)) return;
  try {
    closeSync(openSync(database, 'wx', 0o600));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (leftToTheDriver.has(code)) return;
    throw new StoreOpenError(database, `cannot create it owner-only (${code ?? String(error)})`, { cause: error });
  }
}

/** Why the database file or its directory cannot be written, or null when both can. */
function readOnlyReason(database: string): string | null {
  for (const path of [database, dirname(database)]) {
    if (!existsSync(path)) continue;
    try {
      accessSync(path, constants.W_OK);
    } catch (error) {
      return `${path} is not writable: ${(error as NodeJS.ErrnoException).code ?? String(error)}`;
    }
  }
  return null;
}
