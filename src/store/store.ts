// The store in harvester's terms (its db_proxy's queries): jobs to prepare, submit, stage out and propagate,
// workers to monitor, sweep and propagate, their files, the job-worker relation and queue statistics.
// Async throughout, so a PostgreSQL or MariaDB implementation fits behind the same interface and passes the
// same conformance suite (conformance.ts).
//
// Claims. An agent works on rows it has claimed: a claim sets the purpose's lock column to the owner and its
// lock time to now, atomically, so two claims never return the same row. A row is claimable when it is not
// locked and is due (see each purpose), or when its lock is older than the claimer's lockIntervalSec (a
// crashed process's rows come back). Updates on behalf of an owner are refused with StoreLockLostError when
// the owner no longer holds the lock, and refresh the lock time when they keep the lock.
import type { FileSpec, JobSpec, WorkSpec } from '../spec/index.js';

/**
 * Which agent claims jobs; each purpose has its own lock, so e.g. the propagator and the stager can hold
 * the same job at once, as in harvester:
 * - preparator, submitter: lockedBy, lock time modificationTime; due when preparatorTime / submitterTime is
 *   unset or older than checkIntervalSec (the claim sets it to now).
 * - stager: stagerLock / stagerTime (unset or older than checkIntervalSec).
 * - propagator: propagatorLock / propagatorTime; due only when propagatorTime is set (triggerPropagation)
 *   and older than checkIntervalSec.
 */
export const jobClaimPurposes = ['preparator', 'submitter', 'stager', 'propagator'] as const;
export type JobClaimPurpose = (typeof jobClaimPurposes)[number];

/**
 * Which agent claims workers:
 * - monitor, sweeper, submitter: lockedBy, lock time modificationTime; due when modificationTime is unset or
 *   older than checkIntervalSec (the sweeper's keep-time before cleanup). They share the lock, so none of
 *   them works on a worker another holds; the submitter re-claims the workers a crashed submitter left
 *   'ready'.
 * - propagator: a lock of its own (not a WorkSpec field); due only when lastUpdate is set
 *   (triggerPropagation) and older than checkIntervalSec; the claim sets lastUpdate to now, as harvester does.
 */
export const workerClaimPurposes = ['monitor', 'sweeper', 'submitter', 'propagator'] as const;
export type WorkerClaimPurpose = (typeof workerClaimPurposes)[number];

interface ClaimBase {
  /** Who claims: unique per agent thread and process, e.g. "monitor-host1-4711-0". */
  readonly owner: string;
  /** A lock older than this is taken over (harvester's lockInterval). */
  readonly lockIntervalSec: number;
  /** At most this many rows. */
  readonly limit: number;
  /** Only rows of this queue (the job's or worker's computingSite). */
  readonly queueName?: string;
  /** How long an unlocked row rests after its last claim before it is due again; default 0. */
  readonly checkIntervalSec?: number;
  /** The time the caller takes as now (an agent's clock); default: the current time. */
  readonly now?: Date;
}

export interface JobClaim extends ClaimBase {
  readonly for: JobClaimPurpose;
  /** Only jobs in one of these statuses. */
  readonly status?: readonly string[];
  /** Only jobs in one of these sub-statuses. */
  readonly subStatus?: readonly string[];
}

export interface WorkerClaim extends ClaimBase {
  readonly purpose: WorkerClaimPurpose;
  /** Only workers in one of these statuses; default: any status. */
  readonly statuses?: readonly string[];
  /** true: only workers whose killTime is set and not later than now (a kill was asked for); else no filter. */
  readonly killRequested?: boolean;
  /** Only workers whose endTime is set and earlier than this. */
  readonly endedBefore?: Date;
}

/** A lock the caller holds, named by purpose and owner. */
export interface LockHold<P extends string> {
  readonly purpose: P;
  readonly owner: string;
}

interface UpdateBase<P extends string> {
  /** Write only if this owner still holds this lock (else StoreLockLostError); without it, unconditionally (admin). */
  readonly lock?: LockHold<P>;
  /** Clear the lock after writing (needs `lock`). Without it, an owned update refreshes the lock time. */
  readonly releaseLock?: boolean;
  readonly now?: Date;
}

export type JobUpdate = UpdateBase<JobClaimPurpose>;

export interface WorkerUpdate extends UpdateBase<WorkerClaimPurpose> {
  /** Also write the changed columns (and files) of the jobs attached to the workers, in the same transaction. */
  readonly includeJobs?: boolean;
}

export interface JobFilter {
  readonly queueName?: string;
  readonly status?: readonly string[];
  readonly subStatus?: readonly string[];
  readonly PandaIDs?: readonly number[];
  /** Default: all. */
  readonly limit?: number;
  /** Attach the jobs' files (inFiles/outFiles); default false. */
  readonly withFiles?: boolean;
}

export interface WorkerFilter {
  readonly queueName?: string;
  readonly status?: readonly string[];
  readonly workerIDs?: readonly number[];
  readonly limit?: number;
  /** Attach the workers' jobs (with their files); default false. */
  readonly withJobs?: boolean;
}

export interface FileFilter {
  readonly PandaID?: number;
  readonly fileType?: readonly string[];
  readonly status?: readonly string[];
  readonly limit?: number;
}

/** Worker counts of one queue by status; statuses without workers are absent. */
export type WorkerCounts = Readonly<Record<string, number>>;

export interface QueueClaim {
  readonly queueNames: readonly string[];
  readonly owner: string;
  readonly lockIntervalSec: number;
  /** How long a released queue rests before it is due again; default 0. */
  readonly checkIntervalSec?: number;
  readonly now?: Date;
}

/** A job to put in the embedded job queue (`harvester jobs add`). */
export interface NewQueuedJob {
  /** The queue (computingSite) whose job fetcher takes it. */
  readonly queueName: string;
  /** The job's parameters, as PanDA's job dict would carry them (transformation, jobPars...). */
  readonly jobParams: Readonly<Record<string, unknown>>;
  readonly taskID?: number | null;
  /** Higher first; null after every number. */
  readonly currentPriority?: number | null;
  readonly nCore?: number | null;
}

/** An entry of the embedded job queue. */
export interface QueuedJob {
  /** Given at enqueue time, from the sequence insertJobs draws on: the job keeps it in the jobs table. */
  readonly PandaID: number;
  readonly queueName: string;
  readonly jobParams: Record<string, unknown>;
  readonly taskID: number | null;
  readonly currentPriority: number | null;
  readonly nCore: number | null;
  readonly creationTime: Date;
  /** set once a job fetcher took it (it may still be re-handed-out, see takeQueuedJobs) */
  readonly takenTime: Date | null;
}

export interface QueuedJobTake {
  readonly queueName: string;
  readonly limit: number;
  /** Who takes (the fetcher's node name), recorded for operators. */
  readonly owner: string;
  /** How long a taken entry is withheld from other takers while its job is not in the jobs table. */
  readonly lockIntervalSec: number;
  readonly now?: Date;
}

export interface QueuedJobFilter {
  readonly queueName?: string;
  readonly limit?: number;
}

/**
 * A message of harvester's agents for PanDA's operators (harvester's DiagSpec): an agent's warning or error,
 * kept until the propagator has sent it.
 */
export interface NewDialogMessage {
  /** The agent or module that logged it ("monitor", "panda"...). */
  readonly moduleName: string;
  /** What it is about ("queue=Q1 workerID=7"), null when the line named nothing; at most 100 characters kept. */
  readonly identifier: string | null;
  /** harvester's level names: "WARNING" or "ERROR". */
  readonly messageLevel: string;
  /** At most 500 characters kept. */
  readonly diagMessage: string;
  readonly creationTime: Date;
}

export interface DialogMessage extends NewDialogMessage {
  readonly diagID: number;
}

export interface DialogClaim {
  readonly owner: string;
  /** A message claimed longer ago than this (its sender died, or the send failed) is claimable again. */
  readonly lockIntervalSec: number;
  readonly limit: number;
  readonly now?: Date;
}

/** How many rows of each kind an owner's lock operation touched. */
export interface OwnerLockCounts {
  readonly jobs: number;
  readonly workers: number;
  readonly queues: number;
}

/** What releaseLocks cleared. */
export type ReleasedLocks = OwnerLockCounts;
/** What renewLocks refreshed. */
export type RenewedLocks = OwnerLockCounts;

export interface Store {
  /** For logs and errors: the SQLite file, later "host/database". */
  readonly database: string;

  /**
   * Inserts jobs with their files (inFiles, outFiles), all or nothing. A job without PandaID gets one from
   * the sequence enqueueJobs draws on; files get fileIDs and their PandaID. A job whose PandaID names an
   * entry of the embedded job queue takes that entry out of the queue. The specs are updated in place and
   * left with no pending changes. A PandaID already present: StoreDuplicateError.
   */
  insertJobs(jobs: readonly JobSpec[]): Promise<void>;
  /** Claims jobs for a purpose; they come with their files attached (inFiles: input/aux_input, outFiles: the rest). */
  claimJobs(claim: JobClaim): Promise<JobSpec[]>;
  /**
   * Writes the changed columns of the jobs, and inserts or updates their files that are new or changed,
   * all or nothing. The specs are left with no pending changes (and without the lock when released).
   */
  updateJobs(jobs: readonly JobSpec[], options?: JobUpdate): Promise<void>;
  /** Jobs by PandaID, with files, in the order asked; missing ids are left out. */
  getJobs(PandaIDs: readonly number[]): Promise<JobSpec[]>;
  /** One job with files; StoreRecordNotFoundError when absent. */
  getJob(PandaID: number): Promise<JobSpec>;
  /** Jobs matching all given criteria, by PandaID. */
  listJobs(filter?: JobFilter): Promise<JobSpec[]>;
  /** Deletes jobs, their files and their relations to workers; returns how many jobs were deleted. */
  deleteJobs(PandaIDs: readonly number[]): Promise<number>;

  /**
   * Inserts workers, all or nothing: a worker without workerID gets a new one (never reused), and each
   * worker's jobSpecs become its job-worker relations (the jobs must exist: else StoreRecordNotFoundError).
   * With `jobs`, the changed columns of those jobs are written in the same transaction, as updateJobs does
   * with these options: the submitter records a worker and its jobs' new state at once, or neither.
   */
  insertWorkers(workers: readonly WorkSpec[], options?: { readonly jobs?: JobUpdate }): Promise<void>;
  /** Claims workers for a purpose; they come with jobSpecs (with files) and pandaid_list attached. */
  claimWorkers(claim: WorkerClaim): Promise<WorkSpec[]>;
  /** Writes the changed columns of the workers (and, with includeJobs, their jobs), all or nothing. */
  updateWorkers(workers: readonly WorkSpec[], options?: WorkerUpdate): Promise<void>;
  /** Workers by id, with jobs, in the order asked; missing ids are left out. */
  getWorkers(workerIDs: readonly number[]): Promise<WorkSpec[]>;
  getWorker(workerID: number): Promise<WorkSpec>;
  listWorkers(filter?: WorkerFilter): Promise<WorkSpec[]>;
  /** Deletes workers and their job relations (the jobs stay); returns how many workers were deleted. */
  deleteWorkers(workerIDs: readonly number[]): Promise<number>;
  /** Relates existing jobs to an existing worker (late binding); relations already there are kept. */
  relateJobsToWorker(workerID: number, PandaIDs: readonly number[]): Promise<void>;
  /** The workerIDs related to a job, ascending. */
  getWorkerIDsOfJob(PandaID: number): Promise<number[]>;

  /** Worker counts of one queue by status. */
  getWorkerStats(queueName: string): Promise<WorkerCounts>;
  /** Worker counts of every queue that has workers, by status. */
  getWorkerStatsByQueue(): Promise<Map<string, WorkerCounts>>;
  /** Job counts of every queue (computingSite) that has jobs, by status (metrics, `harvester status`). */
  getJobStatsByQueue(): Promise<Map<string, WorkerCounts>>;
  /** The newest submitTime of each queue's workers (queues with no submitted worker absent): `harvester status`. */
  getLastSubmitTimeByQueue(): Promise<Map<string, Date>>;
  /**
   * How many workers of each queue in one of `statuses` were last seen (checkTime, else modificationTime, else
   * submitTime) before `before`: `harvester status`'s stuck workers. Queues with none are absent.
   */
  getUnseenWorkerCountsByQueue(statuses: readonly string[], before: Date): Promise<Map<string, number>>;

  /** Files matching all given criteria, by fileID. */
  getFiles(filter: FileFilter): Promise<FileSpec[]>;
  /** Inserts files (fileID assigned; PandaID must name an existing job) and updates changed ones. */
  saveFiles(files: readonly FileSpec[]): Promise<void>;

  /**
   * Claims queues for submission (harvester's get_queues_to_submit): one submitter at a time per queue, so
   * two instances never both make the same queue's new workers. Returns the names claimed.
   */
  claimQueues(claim: QueueClaim): Promise<string[]>;
  /** Releases queues claimed by the owner (only those it holds). */
  releaseQueues(queueNames: readonly string[], owner: string): Promise<void>;

  /**
   * Puts jobs in the embedded job queue, all or nothing, and returns their PandaIDs in order. The ids come
   * from the sequence insertJobs draws on for jobs without PandaID: they never collide with a stored job's
   * and are never handed out twice, even after the job is deleted.
   */
  enqueueJobs(entries: readonly NewQueuedJob[]): Promise<number[]>;
  /**
   * Hands out up to `limit` entries of a queue that are not yet in the jobs table, oldest first (priority
   * desc, then PandaID). An entry handed out less than lockIntervalSec ago is not handed out again; after
   * that, if its PandaID still is not in the jobs table (the fetcher died between getJobs and insertJobs),
   * it is. Once insertJobs stored its job, an entry leaves the queue for good (in the same transaction).
   */
  takeQueuedJobs(take: QueuedJobTake): Promise<QueuedJob[]>;
  /** Entries not yet in the jobs table (waiting to be fetched, or taken by a fetcher), by PandaID. */
  listQueuedJobs(filter?: QueuedJobFilter): Promise<QueuedJob[]>;

  /**
   * Stores dialog messages (texts cut to their column sizes), then drops the oldest beyond `keep` messages,
   * so a flood of warnings cannot fill the disk. Ids ascend in the order stored.
   */
  addDialogMessages(messages: readonly NewDialogMessage[], options: { readonly keep: number }): Promise<void>;
  /** Claims up to `limit` messages to send, oldest first (harvester's get_dialog_messages_to_send). */
  claimDialogMessages(claim: DialogClaim): Promise<DialogMessage[]>;
  /** Deletes messages by id (sent); returns how many were deleted. */
  deleteDialogMessages(diagIDs: readonly number[]): Promise<number>;

  /** Clears every lock the owner holds on jobs, workers and queues (graceful stop). */
  releaseLocks(owner: string): Promise<ReleasedLocks>;
  /**
   * Sets the lock time of every lock the owner holds (jobs, workers and queues, every purpose) to `now`
   * (default: the current time), so they do not expire while the owner still works on the rows (a long
   * plugin call). Rows whose lock another owner took over are not touched. Returns the rows renewed.
   */
  renewLocks(owner: string, now?: Date): Promise<RenewedLocks>;
  /** Closes the connection; safe to call twice. Any later call rejects with StoreClosedError. */
  close(): Promise<void>;
}
