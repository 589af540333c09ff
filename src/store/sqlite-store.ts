// The Store on SQLite (better-sqlite3): one file, WAL so readers never wait for the writer, a busy timeout
// so several processes share the file, foreign keys so files and relations go with their job or worker.
// Every write is one immediate transaction: all or nothing, and claims are atomic across processes.
// better-sqlite3 is synchronous; the async methods keep the interface fit for a networked database.
import { claimTiming, lockOf } from './claim-arguments.js';
import { accessSync, closeSync, constants, existsSync, openSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { FileSpec, JobSpec, WorkSpec, type ColumnDef, type Spec } from '../spec/index.js';
import {
  StoreArgumentError,
  StoreClosedError,
  StoreDuplicateError,
  StoreLockLostError,
  StoreOpenError,
  StoreReadOnlyError,
  StoreRecordNotFoundError,
  StoreSchemaTooNewError,
  StoreValueError,
} from './errors.js';
import { jobLockColumns, jobLockNames, jobLockTimes, workerInternalColumns, workerLockColumns, workerLockNames, workerLockTimes, type LockColumns } from './lock-columns.js';
import { claimRows, type Condition } from './sqlite/claims.js';
import { claimDialogRows, deleteDialogRows, insertDialogRows } from './sqlite/dialogs.js';
import { allocatePandaIDs, insertQueuedJobs, listQueuedRows, notePandaIDs, removeQueuedJobs, takeQueuedRows } from './sqlite/job-queue.js';
import { loadSqliteDriver } from './sqlite/driver.js';
import { translateSqliteError } from './sqlite/engine-errors.js';
import { FILE_TABLE, JOB_TABLE, JOB_WORKER_TABLE, QUEUE_TABLE, WORK_TABLE, SCHEMA_VERSION, migrate, quote, readSchemaVersion } from './sqlite/schema.js';
import { inList, SpecTable, StatementCache, type OperationContext } from './sqlite/spec-table.js';
import type { SqlValue } from './sqlite/values.js';
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

/** Input files (and aux inputs) go to JobSpec.inFiles, every other type to outFiles. */
const inputFileTypes: ReadonlySet<string | null> = new Set(['input', 'aux_input']);

/** Work done inside a transaction that touches the caller's specs only once the transaction committed. */
type AfterCommit = Array<() => void>;

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
      this.#refuseDuplicates(ctx, this.#jobs, 'job', jobs);
      const given = jobs.map((job) => this.#jobs.idOf(job)).filter((id): id is number => id !== null);
      notePandaIDs(this.#statements, given);
      const unnumbered = jobs.length - given.length;
      let next = unnumbered > 0 ? allocatePandaIDs(ctx, this.#statements, unnumbered) : 0;
      for (const job of jobs) this.#insertJob(ctx, job, after, this.#jobs.idOf(job) === null ? next++ : undefined);
      // In the same transaction: a fetcher crashing before this commit finds the entries still queued.
      removeQueuedJobs(this.#statements, given);
    });
  }

  async claimJobs(claim: JobClaim): Promise<JobSpec[]> {
    const lock = jobLockColumns[claim.for];
    if (lock === undefined) throw new StoreArgumentError(this.database, 'claimJobs', `unknown purpose ${JSON.stringify(claim.for)}`);
    const conditions: Condition[] = [];
    if (claim.queueName !== undefined) conditions.push({ sql: `${quote('computingSite')} = ?`, parameters: [claim.queueName] });
    if (claim.status !== undefined) conditions.push({ sql: inList('status'), parameters: [JSON.stringify(claim.status)] });
    if (claim.subStatus !== undefined) conditions.push({ sql: inList('subStatus'), parameters: [JSON.stringify(claim.subStatus)] });
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
    const conditions: Condition[] = [];
    if (filter.queueName !== undefined) conditions.push({ sql: `${quote('computingSite')} = ?`, parameters: [filter.queueName] });
    if (filter.status !== undefined) conditions.push({ sql: inList('status'), parameters: [JSON.stringify(filter.status)] });
    if (filter.subStatus !== undefined) conditions.push({ sql: inList('subStatus'), parameters: [JSON.stringify(filter.subStatus)] });
    if (filter.PandaIDs !== undefined) conditions.push({ sql: inList('PandaID'), parameters: [JSON.stringify(filter.PandaIDs)] });
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
      const jobIDs = jobs.map((job) => this.#requireId(ctx, this.#jobs, job));
      const present = this.#jobs.existing(jobIDs);
      const missing = jobIDs.filter((id) => !present.has(id));
      if (missing.length > 0) throw new StoreRecordNotFoundError(ctx.database, ctx.operation, 'job', missing);
      const relate = this.#statements.get(`INSERT OR IGNORE INTO ${quote(JOB_WORKER_TABLE)} ("PandaID", "workerID") VALUES (?, ?)`);
      for (const worker of workers) {
        const workerID = this.#workers.insert(ctx, worker);
        for (const job of worker.jobSpecs) relate.run(job.PandaID, workerID);
        after.push(() => {
          worker.workerID = workerID;
          worker.pandaid_list = worker.jobSpecs.map((job) => job.PandaID as number);
          worker.resetChanges();
        });
      }
      if (options.jobs !== undefined) {
        const lock = lockOf(ctx, options.jobs, jobLockColumns);
        this.#updateSpecs(ctx, this.#jobs, 'job', jobs, lock, options.jobs, after);
        for (const job of jobs) this.#saveFilesOf(ctx, job, after);
      }
    });
  }

  async claimWorkers(claim: WorkerClaim): Promise<WorkSpec[]> {
    const lock = workerLockColumns[claim.purpose];
    if (lock === undefined) throw new StoreArgumentError(this.database, 'claimWorkers', `unknown purpose ${JSON.stringify(claim.purpose)}`);
    return this.#write('claimWorkers', (ctx) => {
      const timing = claimTiming(ctx, claim);
      const conditions: Condition[] = [];
      if (claim.queueName !== undefined) conditions.push({ sql: `${quote('computingSite')} = ?`, parameters: [claim.queueName] });
      if (claim.statuses !== undefined) conditions.push({ sql: inList('status'), parameters: [JSON.stringify(claim.statuses)] });
      if (claim.killRequested === true) conditions.push({ sql: `(${quote('killTime')} IS NOT NULL AND ${quote('killTime')} <= ?)`, parameters: [timing.nowMs] });
      if (claim.endedBefore !== undefined) {
        const endedBefore = claim.endedBefore instanceof Date ? claim.endedBefore.getTime() : Number.NaN;
        if (Number.isNaN(endedBefore)) throw new StoreArgumentError(ctx.database, ctx.operation, 'endedBefore is not a valid Date');
        conditions.push({ sql: `(${quote('endTime')} IS NOT NULL AND ${quote('endTime')} < ?)`, parameters: [endedBefore] });
      }
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
    const conditions: Condition[] = [];
    if (filter.queueName !== undefined) conditions.push({ sql: `${quote('computingSite')} = ?`, parameters: [filter.queueName] });
    if (filter.status !== undefined) conditions.push({ sql: inList('status'), parameters: [JSON.stringify(filter.status)] });
    if (filter.workerIDs !== undefined) conditions.push({ sql: inList('workerID'), parameters: [JSON.stringify(filter.workerIDs)] });
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
      const present = this.#jobs.existing(PandaIDs);
      const missing = PandaIDs.filter((id) => !present.has(id));
      if (missing.length > 0) throw new StoreRecordNotFoundError(ctx.database, ctx.operation, 'job', missing);
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

  // ---- files ----

  async getFiles(filter: FileFilter): Promise<FileSpec[]> {
    const conditions: Condition[] = [];
    if (filter.PandaID !== undefined) conditions.push({ sql: `${quote('PandaID')} = ?`, parameters: [filter.PandaID] });
    if (filter.fileType !== undefined) conditions.push({ sql: inList('fileType'), parameters: [JSON.stringify(filter.fileType)] });
    if (filter.status !== undefined) conditions.push({ sql: inList('status'), parameters: [JSON.stringify(filter.status)] });
    return this.#read('getFiles', (ctx) => this.#select(ctx, this.#files, conditions, filter.limit));
  }

  async saveFiles(files: readonly FileSpec[]): Promise<void> {
    this.#write('saveFiles', (ctx, after) => {
      const jobIDs = distinct(files.filter((f) => f.fileID === null).map((f) => this.#requireColumn(ctx, this.#files, f, 'PandaID')));
      const present = this.#jobs.existing(jobIDs);
      const missing = jobIDs.filter((id) => !present.has(id));
      if (missing.length > 0) throw new StoreRecordNotFoundError(ctx.database, ctx.operation, 'job', missing);
      for (const file of files) this.#saveFile(ctx, file, file.PandaID as number, after);
    });
  }

  // ---- the embedded job queue ----

  async enqueueJobs(entries: readonly NewQueuedJob[]): Promise<number[]> {
    return this.#write('enqueueJobs', (ctx) => insertQueuedJobs(ctx, this.#statements, entries, Date.now()));
  }

  async takeQueuedJobs(take: QueuedJobTake): Promise<QueuedJob[]> {
    return this.#write('takeQueuedJobs', (ctx) => {
      const timing = claimTiming(ctx, take);
      if (typeof take.queueName !== 'string' || take.queueName === '') {
        throw new StoreArgumentError(ctx.database, ctx.operation, 'the queueName must be a non-empty string');
      }
      return takeQueuedRows(this.#statements, { ...timing, queueName: take.queueName });
    });
  }

  async listQueuedJobs(filter: QueuedJobFilter = {}): Promise<QueuedJob[]> {
    return this.#read('listQueuedJobs', (ctx) => listQueuedRows(this.#statements, filter.queueName, this.#limit(ctx, filter.limit)));
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
      const timing = claimTiming(ctx, { ...claim, limit: Math.max(1, claim.queueNames.length) });
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
      jobs: this.#clearLocks(JOB_TABLE, jobLockNames, owner),
      workers: this.#clearLocks(WORK_TABLE, workerLockNames, owner),
      queues: this.#statements.get(`UPDATE ${quote(QUEUE_TABLE)} SET "lockedBy" = NULL WHERE "lockedBy" = ?`).run(owner).changes,
    }));
  }

  async renewLocks(owner: string, now: Date = new Date()): Promise<RenewedLocks> {
    return this.#write('renewLocks', (ctx) => {
      // The same checks of owner and time as a claim's.
      const { nowMs } = claimTiming(ctx, { owner, lockIntervalSec: 0, limit: 1, now });
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

  #requireId<S extends Spec>(ctx: OperationContext, table: SpecTable<S>, spec: S): number {
    return this.#requireColumn(ctx, table, spec, table.primaryKey);
  }

  #requireColumn<S extends Spec>(ctx: OperationContext, table: SpecTable<S>, spec: S, column: string): number {
    const value = spec.getField(column);
    if (typeof value !== 'number') throw new StoreValueError(ctx.database, ctx.operation, spec.specKind, table.idOf(spec), column, 'is not set');
    return value;
  }

  #refuseDuplicates<S extends Spec>(ctx: OperationContext, table: SpecTable<S>, kind: 'job' | 'worker', specs: readonly S[]): void {
    const ids = specs.map((s) => table.idOf(s)).filter((id): id is number => id !== null);
    const seen = new Set<number>();
    const repeated = ids.filter((id) => (seen.has(id) ? true : (seen.add(id), false)));
    const present = table.existing(ids);
    const duplicates = distinct([...repeated, ...ids.filter((id) => present.has(id))]);
    if (duplicates.length > 0) throw new StoreDuplicateError(ctx.database, ctx.operation, kind, duplicates);
  }

  /** Inserts a job with its files; `newPandaID` for a job without one (drawn from the sequence). */
  #insertJob(ctx: OperationContext, job: JobSpec, after: AfterCommit, newPandaID: number | undefined): void {
    const PandaID = this.#jobs.insert(ctx, job, newPandaID === undefined ? {} : { PandaID: newPandaID });
    after.push(() => {
      job.PandaID = PandaID;
      job.resetChanges();
    });
    for (const file of [...job.inFiles, ...job.outFiles]) this.#saveFile(ctx, file, PandaID, after);
  }

  /** Inserts a file without fileID (for the given job), or writes the changed columns of one with. */
  #saveFile(ctx: OperationContext, file: FileSpec, PandaID: number, after: AfterCommit): void {
    if (file.fileID === null) {
      const fileID = this.#files.insert(ctx, file, { PandaID });
      after.push(() => {
        file.fileID = fileID;
        file.PandaID = PandaID;
        file.resetChanges();
      });
      return;
    }
    const changed = file.changedColumns().filter((name) => name !== 'fileID');
    if (changed.length === 0) return;
    const changes = this.#files.update(file.fileID, changed.map((name) => [name, this.#files.sqlValue(ctx, file, name)] as const));
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
    kind: 'job' | 'worker',
    specs: readonly S[],
    lock: (LockColumns & { owner: string; purpose: string }) | undefined,
    options: { releaseLock?: boolean; now?: Date },
    after: AfterCommit,
  ): void {
    const ids = specs.map((spec) => this.#requireId(ctx, table, spec));
    if (lock === undefined) {
      const holders = table.existing(ids);
      const missing = ids.filter((id) => !holders.has(id));
      if (missing.length > 0) throw new StoreRecordNotFoundError(ctx.database, ctx.operation, kind, missing);
    }
    const now = options.now ?? new Date();
    const release = options.releaseLock === true;
    // With a lock, each row is written only while the owner holds it (no separate read of 10,000 holders);
    // a row written by nobody means the lock was lost, and the whole write is refused below (rolled back).
    const guard = lock === undefined ? undefined : ([lock.lock, lock.owner] as const);
    const lostIds: number[] = [];
    specs.forEach((spec, i) => {
      const id = ids[i] as number;
      const changed = spec.changedColumns().filter((name) => name !== table.primaryKey);
      const assignments = changed.map((name) => [name, table.sqlValue(ctx, spec, name)] as [string, SqlValue]);
      const lockAssignments: [string, SqlValue][] = [];
      if (lock !== undefined && release) lockAssignments.push([lock.lock, null]);
      else if (lock !== undefined && !changed.includes(lock.lockTime)) lockAssignments.push([lock.lockTime, now.getTime()]);
      const all = [...assignments.filter(([name]) => !lockAssignments.some(([l]) => l === name)), ...lockAssignments];
      if (table.update(id, all, guard) === 0 && guard !== undefined) lostIds.push(id);
      after.push(() => {
        // Mirror what was written into the caller's spec (lock columns that are spec fields).
        for (const [name] of lockAssignments) {
          if (spec.layout.byName.has(name)) spec.setField(name, name === lock?.lock ? null : now);
        }
        spec.resetChanges();
      });
    });
    if (lock !== undefined && lostIds.length > 0) {
      // Who holds the rows the owner could not write (null: nobody, or the row is gone).
      const holders = table.existing(lostIds, lock.lock);
      const lost = lostIds.map((id) => ({ id, holder: (holders.get(id) as string | null | undefined) ?? null }));
      throw new StoreLockLostError(ctx.database, ctx.operation, kind, lock.purpose, lock.owner, lost);
    }
  }

  /** A filter's limit as SQL's LIMIT (-1: none); StoreArgumentError unless an integer >= 0. */
  #limit(ctx: OperationContext, limit: number | undefined): number {
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) {
      throw new StoreArgumentError(ctx.database, ctx.operation, `the limit must be an integer >= 0, got ${limit}`);
    }
    return limit ?? -1;
  }

  #select<S extends Spec>(ctx: OperationContext, table: SpecTable<S>, conditions: readonly Condition[], limit: number | undefined): S[] {
    return table.where(
      conditions.map((c) => c.sql).join(' AND '),
      [...conditions.flatMap((c) => c.parameters), this.#limit(ctx, limit)],
      `ORDER BY ${quote(table.primaryKey)} LIMIT ?`,
    );
  }

  /** Attaches each job's files: input types to inFiles, the rest to outFiles. */
  #withFiles(jobs: JobSpec[]): JobSpec[] {
    if (jobs.length === 0) return jobs;
    const files = this.#files.where(inList('PandaID'), [JSON.stringify(jobs.map((j) => j.PandaID))], `ORDER BY ${quote('fileID')}`);
    const byJob = new Map<number, FileSpec[]>();
    for (const file of files) {
      const list = byJob.get(file.PandaID as number) ?? [];
      list.push(file);
      byJob.set(file.PandaID as number, list);
    }
    for (const job of jobs) {
      const own = byJob.get(job.PandaID as number) ?? [];
      job.inFiles = own.filter((f) => inputFileTypes.has(f.fileType));
      job.outFiles = own.filter((f) => !inputFileTypes.has(f.fileType));
      job.resetChanges();
    }
    return jobs;
  }

  /** Attaches each worker's jobs (one JobSpec object per job, shared between its workers) and pandaid_list. */
  #withJobs(workers: WorkSpec[]): WorkSpec[] {
    if (workers.length === 0) return workers;
    const relations = this.#statements
      .get(`SELECT "PandaID", "workerID" FROM ${quote(JOB_WORKER_TABLE)} WHERE ${inList('workerID')} ORDER BY "workerID", "PandaID"`)
      .all(JSON.stringify(workers.map((w) => w.workerID))) as { PandaID: number; workerID: number }[];
    const jobs = new Map(this.#withFiles(this.#jobs.byIds(distinct(relations.map((r) => r.PandaID)))).map((job) => [job.PandaID as number, job]));
    const byWorker = new Map<number, number[]>();
    for (const r of relations) byWorker.set(r.workerID, [...(byWorker.get(r.workerID) ?? []), r.PandaID]);
    for (const worker of workers) {
      const ids = byWorker.get(worker.workerID as number) ?? [];
      worker.jobSpecs = ids.map((id) => jobs.get(id)).filter((job): job is JobSpec => job !== undefined);
      worker.pandaid_list = ids;
      worker.resetChanges();
    }
    return workers;
  }

  #workerCounts(operation: string, queueName: string | undefined): Map<string, WorkerCounts> {
    return this.#countsByQueue(operation, WORK_TABLE, queueName);
  }

  #countsByQueue(operation: string, table: string, queueName: string | undefined): Map<string, WorkerCounts> {
    return this.#read(operation, () => {
      const where = queueName === undefined ? `${quote('computingSite')} IS NOT NULL` : `${quote('computingSite')} = ?`;
      const rows = this.#statements
        .get(`SELECT "computingSite" AS queue, "status" AS status, COUNT(*) AS n FROM ${quote(table)} WHERE ${where} GROUP BY "computingSite", "status" ORDER BY "computingSite", "status"`)
        .all(...(queueName === undefined ? [] : [queueName])) as { queue: string; status: string | null; n: number }[];
      const counts = new Map<string, Record<string, number>>();
      for (const row of rows) {
        const queue = counts.get(row.queue) ?? {};
        queue[row.status ?? 'null'] = row.n;
        counts.set(row.queue, queue);
      }
      return counts;
    });
  }

  /** Sets the lock time of each lock the owner holds in a table to now; returns how many rows changed. */
  #touchLocks(table: string, locks: readonly LockColumns[], owner: string, nowMs: number): number {
    const set = locks.map((c) => `${quote(c.lockTime)} = CASE WHEN ${quote(c.lock)} = ? THEN ? ELSE ${quote(c.lockTime)} END`).join(', ');
    const where = locks.map((c) => `${quote(c.lock)} = ?`).join(' OR ');
    const setValues = locks.flatMap(() => [owner, nowMs]);
    return this.#statements.get(`UPDATE ${quote(table)} SET ${set} WHERE ${where}`).run(...setValues, ...locks.map(() => owner)).changes;
  }

  /** Clears the owner's locks in any lock column of a table; returns how many rows changed. */
  #clearLocks(table: string, lockColumns: readonly string[], owner: string): number {
    const set = lockColumns.map((c) => `${quote(c)} = CASE WHEN ${quote(c)} = ? THEN NULL ELSE ${quote(c)} END`).join(', ');
    const where = lockColumns.map((c) => `${quote(c)} = ?`).join(' OR ');
    return this.#statements.get(`UPDATE ${quote(table)} SET ${set} WHERE ${where}`).run(...lockColumns.map(() => owner), ...lockColumns.map(() => owner)).changes;
  }
}

/**
 * SQLite creates a new database file 0644 (less the umask), and its -wal and -shm files take the database
 * file's mode: created here first, 0600, none of them is readable by other users of the host. Any error but
 * EEXIST (another process made it meanwhile) is left to the driver's open just after, which reports it.
 */
function createOwnerOnly(database: string): void {
  if (existsSync(database)) return;
  try {
    closeSync(openSync(database, 'wx', 0o600));
  } catch (error) {
    // EACCES, EROFS, ENOSPC...: the driver's open fails on the same cause and names it (StoreOpenError/StoreReadOnlyError).
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return;
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

function distinct<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}
