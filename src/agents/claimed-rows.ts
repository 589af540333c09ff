// Writing back the rows an agent claimed (releasing or keeping its lock). Shared by every agent. Two things can make a batch write refuse a row without the whole store being at fault:
// - another process took some rows over (StoreLockLostError): those are left alone, the rest is written;
// - a row holds a value the database cannot keep (StoreValueError, e.g. a plugin set a fraction in an integer
//   field): the batch is written row by row, and such a row is only released (its changes dropped) and logged.
// Anything else the store throws is not about one row and is left to the caller (the cycle fails, the loop logs).
import type { Logger } from '../logging/index.js';
import { JobSpec, WorkSpec, type Spec } from '../spec/index.js';
import {
  StoreLockLostError,
  StoreValueError,
  type JobClaimPurpose,
  type JobUpdate,
  type LockHold,
  type Store,
  type WorkerClaimPurpose,
  type WorkerUpdate,
} from '../store/index.js';

export interface WriteBackResult<S extends Spec> {
  /** Rows written (released too, when asked). */
  readonly written: readonly S[];
  /** Ids of rows another process holds now: nothing was written for them. */
  readonly lockLost: readonly number[];
  /** Ids of rows whose changes the database refused: released unchanged. */
  readonly refused: readonly number[];
}

interface WriteBackPlan<S extends Spec> {
  readonly kind: 'job' | 'worker';
  readonly idOf: (spec: S) => number;
  /** Writes the specs and releases the lock. */
  readonly write: (specs: S[]) => Promise<void>;
  /** A spec of that id carrying no change: writing it only releases the lock. */
  readonly bare: (id: number) => S;
  readonly purpose: string;
  readonly log: Logger;
}

async function writeBack<S extends Spec>(specs: readonly S[], plan: WriteBackPlan<S>): Promise<WriteBackResult<S>> {
  const lockLost: number[] = [];
  const refused: number[] = [];
  let pending = [...specs];
  const written: S[] = [];
  while (pending.length > 0) {
    try {
      await plan.write(pending);
      written.push(...pending);
      break;
    } catch (error) {
      if (error instanceof StoreLockLostError) {
        const lost = new Set(error.lost.map((l) => l.id));
        const rest = pending.filter((s) => !lost.has(plan.idOf(s)));
        // A refusal naming none of our rows cannot be worked around by leaving rows out.
        if (rest.length === pending.length) throw error;
        plan.log.warn(
          { [plan.kind === 'job' ? 'PandaIDs' : 'workerIDs']: [...lost], purpose: plan.purpose, holders: error.lost },
          `another process took these ${plan.kind}s over (our lock expired); left alone`,
        );
        lockLost.push(...lost);
        pending = rest;
        continue;
      }
      if (error instanceof StoreValueError && pending.length > 1) {
        // Find the offending rows by writing one at a time; the others must not wait for them.
        for (const spec of pending) {
          const one = await writeBack([spec], plan);
          written.push(...one.written);
          lockLost.push(...one.lockLost);
          refused.push(...one.refused);
        }
        break;
      }
      if (error instanceof StoreValueError) {
        const id = plan.idOf(pending[0]!);
        plan.log.error(
          { [plan.kind === 'job' ? 'PandaID' : 'workerID']: id, field: error.field, reason: error.reason, purpose: plan.purpose },
          `the database refused a value of ${plan.kind} ${id}; its changes are dropped and it is released`,
        );
        await writeBack([plan.bare(id)], plan);
        refused.push(id);
        break;
      }
      throw error;
    }
  }
  return { written, lockLost, refused };
}

/** Writes claimed jobs (with their files) under the purpose's lock, releasing it when options say so. */
export function writeBackJobs(
  store: Store,
  jobs: readonly JobSpec[],
  options: JobUpdate & { readonly lock: LockHold<JobClaimPurpose> },
  log: Logger,
): Promise<WriteBackResult<JobSpec>> {
  return writeBack(jobs, {
    kind: 'job',
    idOf: (job) => job.PandaID as number,
    write: (specs) => store.updateJobs(specs, options),
    bare: (PandaID) => {
      const job = new JobSpec({ PandaID });
      job.resetChanges();
      return job;
    },
    purpose: options.lock.purpose,
    log,
  });
}

/** Writes claimed workers (and, with includeJobs, their jobs) under the purpose's lock, releasing it when options say so. */
export function writeBackWorkers(
  store: Store,
  workers: readonly WorkSpec[],
  options: WorkerUpdate & { readonly lock: LockHold<WorkerClaimPurpose> },
  log: Logger,
): Promise<WriteBackResult<WorkSpec>> {
  return writeBack(workers, {
    kind: 'worker',
    idOf: (worker) => worker.workerID as number,
    write: (specs) => store.updateWorkers(specs, options),
    bare: (workerID) => {
      const worker = new WorkSpec({ workerID });
      worker.resetChanges();
      return worker;
    },
    purpose: options.lock.purpose,
    log,
  });
}

/** Counts of what a cycle did, by plain name; every name starts at 0 so a report always has the same keys. */
export class Tally<K extends string> {
  readonly #counts: Record<string, number> = {};

  constructor(names: readonly K[]) {
    for (const name of names) this.#counts[name] = 0;
  }

  add(name: K, n = 1): void {
    this.#counts[name] = (this.#counts[name] ?? 0) + n;
  }

  get(name: K): number {
    return this.#counts[name] ?? 0;
  }

  report(): Readonly<Record<K, number>> {
    return { ...this.#counts } as Record<K, number>;
  }
}
