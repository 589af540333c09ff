// Writing specs back, on every engine: what each row of an update gets, what the caller's spec gets once the
// transaction committed, and the refusals (ids repeated or already stored, rows missing, locks lost). The
// engine reads the rows and writes them, one statement per row (SQLite) or set-based (server engines).
import type { FileSpec, JobSpec, Spec, WorkSpec } from '../../spec/index.js';
import type { OwnedLock } from '../claim-arguments.js';
import { StoreDuplicateError, StoreLockLostError, StoreRecordNotFoundError, type RecordKind } from '../errors.js';
import type { OperationContext } from './operation.js';
import type { SpecColumns } from './spec-columns.js';
import type { SqlValue } from './values.js';

/** One row of an update: its assignments, and what the caller's spec gets once the write committed. */
export interface SpecWrite {
  readonly id: number;
  readonly assignments: [string, SqlValue][];
  readonly committed: () => void;
}

/**
 * The rows an update of specs writes (`ids`: their keys, checked): the changed columns of each, and with a
 * lock, the lock released or its time refreshed to `now` (unless the spec sets it itself).
 */
export function specWrites<S extends Spec>(
  ctx: OperationContext,
  table: SpecColumns<S>,
  specs: readonly S[],
  ids: readonly number[],
  lock: OwnedLock | undefined,
  options: { releaseLock?: boolean; now?: Date },
): SpecWrite[] {
  const now = options.now ?? new Date();
  const release = options.releaseLock === true;
  return specs.map((spec, i) => {
    const assignments = table.changedValues(ctx, spec);
    const lockAssignments: [string, SqlValue][] = [];
    if (lock !== undefined && release) lockAssignments.push([lock.lock, null]);
    else if (lock !== undefined && !assignments.some(([name]) => name === lock.lockTime)) lockAssignments.push([lock.lockTime, now.getTime()]);
    return {
      id: ids[i] as number,
      assignments: [...assignments.filter(([name]) => !lockAssignments.some(([l]) => l === name)), ...lockAssignments],
      committed: () => {
        // Mirror what was written into the caller's spec (lock columns that are spec fields).
        for (const [name] of lockAssignments) {
          if (spec.layout.byName.has(name)) spec.setField(name, name === lock?.lock ? null : now);
        }
        spec.resetChanges();
      },
    };
  });
}

// What an inserted spec gets once its insert committed: the key it was given (and what else the row holds
// that the caller's spec does not know yet), with no pending changes.

export function jobInserted(job: JobSpec, PandaID: number): () => void {
  return () => {
    job.PandaID = PandaID;
    job.resetChanges();
  };
}

export function fileInserted(file: FileSpec, fileID: number, PandaID: number): () => void {
  return () => {
    file.fileID = fileID;
    file.PandaID = PandaID;
    file.resetChanges();
  };
}

export function workerInserted(worker: WorkSpec, workerID: number): () => void {
  return () => {
    worker.workerID = workerID;
    worker.pandaid_list = worker.jobSpecs.map((job) => job.PandaID as number);
    worker.resetChanges();
  };
}

/** The refusal of an owned update whose owner lost the lock of `lostIds`; `holders`: who holds them now. */
export function lockLostError(ctx: OperationContext, kind: RecordKind, lock: OwnedLock, lostIds: readonly number[], holders: ReadonlyMap<number, unknown>): StoreLockLostError {
  // null: nobody holds the row, or it is gone.
  const lost = lostIds.map((id) => ({ id, holder: (holders.get(id) as string | null | undefined) ?? null }));
  return new StoreLockLostError(ctx.database, ctx.operation, kind, lock.purpose, lock.owner, lost);
}

/** StoreDuplicateError for ids given twice or already stored (`present`), in the order given. */
export function refuseDuplicates(ctx: OperationContext, kind: RecordKind, ids: readonly number[], present: ReadonlyMap<number, unknown>): void {
  const seen = new Set<number>();
  const repeated = ids.filter((id) => (seen.has(id) ? true : (seen.add(id), false)));
  const duplicates = distinct([...repeated, ...ids.filter((id) => present.has(id))]);
  if (duplicates.length > 0) throw new StoreDuplicateError(ctx.database, ctx.operation, kind, duplicates);
}

/** StoreRecordNotFoundError for the ids that are not stored (`present`). */
export function refuseMissing(ctx: OperationContext, kind: RecordKind, ids: readonly number[], present: ReadonlyMap<number, unknown>): void {
  const missing = ids.filter((id) => !present.has(id));
  if (missing.length > 0) throw new StoreRecordNotFoundError(ctx.database, ctx.operation, kind, missing);
}

/** The ids of the specs that have one, in order. */
export function givenIds<S extends Spec>(table: SpecColumns<S>, specs: readonly S[]): number[] {
  return specs.map((spec) => table.idOf(spec)).filter((id): id is number => id !== null);
}

export function distinct<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}
