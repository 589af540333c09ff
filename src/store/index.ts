// The store layer's public API: the Store interface in harvester's terms, its SQLite implementation and
// the typed errors. The conformance suite (conformance.ts) is test support and is imported directly.
export {
  jobClaimPurposes,
  workerClaimPurposes,
  type DialogClaim,
  type DialogMessage,
  type FileFilter,
  type JobClaim,
  type JobClaimPurpose,
  type JobFilter,
  type JobUpdate,
  type LockHold,
  type NewDialogMessage,
  type NewQueuedJob,
  type QueuedJob,
  type QueuedJobFilter,
  type QueuedJobTake,
  type QueueClaim,
  type OwnerLockCounts,
  type ReleasedLocks,
  type RenewedLocks,
  type Store,
  type WorkerClaim,
  type WorkerClaimPurpose,
  type WorkerCounts,
  type WorkerFilter,
  type WorkerUpdate,
} from './store.js';
export { SqliteStore, type SqliteStoreOptions } from './sqlite-store.js';
export { SCHEMA_VERSION } from './sqlite/schema.js';
export { jobLockColumns, workerLockColumns, type LockColumns } from './lock-columns.js';
export {
  StoreArgumentError,
  StoreBusyError,
  StoreClosedError,
  StoreCorruptError,
  StoreDiskFullError,
  StoreDuplicateError,
  StoreError,
  StoreLockLostError,
  StoreOpenError,
  StoreQueryError,
  StoreReadOnlyError,
  StoreRecordNotFoundError,
  StoreSchemaTooNewError,
  StoreValueError,
  type RecordKind,
} from './errors.js';
