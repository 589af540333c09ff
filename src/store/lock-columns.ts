// Which columns carry each claim purpose's lock, shared by every store implementation so they all lock
// the same way (harvester's columns where it has them).
import type { JobClaimPurpose, WorkerClaimPurpose } from './store.js';

export interface LockColumns {
  /** Holds the owner while claimed; NULL when free. */
  readonly lock: string;
  /** When the lock was taken (or last refreshed): a lock older than the lock interval is taken over. */
  readonly lockTime: string;
  /** When the row is next due: unlocked rows are claimable once this is older than the check interval. */
  readonly due: string;
  /** true: a NULL due column means "not wanted" (propagation not triggered); false: "never done, due now". */
  readonly dueRequired: boolean;
}

export const jobLockColumns: Readonly<Record<JobClaimPurpose, LockColumns>> = {
  preparator: { lock: 'lockedBy', lockTime: 'modificationTime', due: 'preparatorTime', dueRequired: false },
  submitter: { lock: 'lockedBy', lockTime: 'modificationTime', due: 'submitterTime', dueRequired: false },
  stager: { lock: 'stagerLock', lockTime: 'stagerTime', due: 'stagerTime', dueRequired: false },
  propagator: { lock: 'propagatorLock', lockTime: 'propagatorTime', due: 'propagatorTime', dueRequired: true },
};

/** Worker columns the store keeps beyond WorkSpec's: the propagator's lock (harvester has none). */
export const workerInternalColumns = [
  { name: 'propagatorLock', kind: 'text' },
  { name: 'propagatorLockTime', kind: 'timestamp' },
] as const;

export const workerLockColumns: Readonly<Record<WorkerClaimPurpose, LockColumns>> = {
  monitor: { lock: 'lockedBy', lockTime: 'modificationTime', due: 'modificationTime', dueRequired: false },
  sweeper: { lock: 'lockedBy', lockTime: 'modificationTime', due: 'modificationTime', dueRequired: false },
  submitter: { lock: 'lockedBy', lockTime: 'modificationTime', due: 'modificationTime', dueRequired: false },
  propagator: { lock: 'propagatorLock', lockTime: 'propagatorLockTime', due: 'lastUpdate', dueRequired: true },
};

/** Every distinct lock column of jobs and of workers (what releaseLocks clears). */
export const jobLockNames: readonly string[] = [...new Set(Object.values(jobLockColumns).map((c) => c.lock))];
export const workerLockNames: readonly string[] = [...new Set(Object.values(workerLockColumns).map((c) => c.lock))];

/** Every distinct (lock, lock time) pair of jobs and of workers (what renewLocks refreshes). */
export const jobLockTimes: readonly LockColumns[] = distinctLocks(Object.values(jobLockColumns));
export const workerLockTimes: readonly LockColumns[] = distinctLocks(Object.values(workerLockColumns));

function distinctLocks(columns: readonly LockColumns[]): LockColumns[] {
  return columns.filter((c, i) => columns.findIndex((d) => d.lock === c.lock && d.lockTime === c.lockTime) === i);
}
