// Writing rows an agent claimed. An update under a lock is all or nothing, and refused when another process
// took one of the rows over (its lock expired): those rows are left to their new holder, the others written.
import type { Logger } from '../logging/index.js';
import { StoreLockLostError, type JobUpdate, type Store, type WorkerUpdate } from '../store/index.js';
import type { JobSpec, WorkSpec } from '../spec/index.js';

/** Writes the workers; returns those written (the others were taken over and are left alone, with a warning). */
export async function updateHeldWorkers(store: Store, workers: readonly WorkSpec[], options: WorkerUpdate, log: Logger): Promise<WorkSpec[]> {
  return writeHeld(workers, (w) => w.workerID, (rows) => store.updateWorkers(rows, options), log, 'worker');
}

/** Writes the jobs; returns those written (the others were taken over and are left alone, with a warning). */
export async function updateHeldJobs(store: Store, jobs: readonly JobSpec[], options: JobUpdate, log: Logger): Promise<JobSpec[]> {
  return writeHeld(jobs, (j) => j.PandaID, (rows) => store.updateJobs(rows, options), log, 'job');
}

async function writeHeld<T>(
  rows: readonly T[],
  idOf: (row: T) => number | null,
  write: (rows: readonly T[]) => Promise<void>,
  log: Logger,
  kind: 'worker' | 'job',
): Promise<T[]> {
  let left = [...rows];
  // Each refusal removes at least one row, so this ends.
  while (left.length > 0) {
    try {
      await write(left);
      return left;
    } catch (error) {
      if (!(error instanceof StoreLockLostError)) throw error;
      const lost = new Set(error.lost.map((l) => l.id));
      log.warn({ err: error, [kind === 'worker' ? 'workerIDs' : 'PandaIDs']: [...lost] }, `${kind}s taken over by another process; leaving them alone`);
      const kept = left.filter((row) => !lost.has(idOf(row) ?? Number.NaN));
      if (kept.length === left.length) throw error;
      left = kept;
    }
  }
  return left;
}
