// Keeps an agent's row locks alive while it waits on a plugin. A claim's lock is taken over by another
// instance once it is older than lockInterval (the holder is presumed dead); a plugin call may take up to
// pluginTimeout, and one cycle makes several calls in a row while holding the same rows (the submitter:
// setupAccessPoints, feedJobs per worker, submitWorkers). Were the lock to expire meanwhile, a second
// instance would claim the same 'ready' workers and submit them again.
//
// Why renewal rather than refusing settings where pluginTimeout (or an rpc callTimeout) exceeds lockInterval:
// even pluginTimeout <= lockInterval is not enough when calls follow each other, and a lockInterval of
// several pluginTimeouts would make a crashed instance's rows wait that long before another takes them. So,
// as BullMQ does for a running job: while a call is in flight, every lock the agent's owner holds gets its
// lock time set to now every third of the shortest lock interval in play. A process that dies stops
// renewing, and its rows come back after lockInterval as before.
import type { AgentName } from '../config/index.js';
import type { Logger } from '../logging/index.js';
import { StoreClosedError, type Store } from '../store/index.js';
import { lockOwner, type AgentEnvironment } from './environment.js';
import type { LockHolder } from './plugin-call.js';

export interface LockKeeperOptions {
  readonly store: Store;
  /** The lock owner whose locks are renewed (the agent's, e.g. "submitter-host1-4711-ab12"). */
  readonly owner: string;
  /** The shortest lock interval of the locks the owner takes, in seconds; renewed three times per interval. */
  readonly lockIntervalSec: number;
  /** The agents' clock: the lock time written. */
  readonly now: () => Date;
  readonly log: Logger;
}

export class LockKeeper implements LockHolder {
  readonly #opts: LockKeeperOptions;
  readonly #periodMs: number;
  #inFlight = 0;
  #timer: NodeJS.Timeout | undefined;
  #renewals = 0;
  /** The renewal under way: ticks meanwhile are skipped (a store waiting for its server would pile them up). */
  #renewing = false;

  constructor(opts: LockKeeperOptions) {
    this.#opts = opts;
    this.#periodMs = Math.max(1, (opts.lockIntervalSec * 1000) / 3);
  }

  /** How many renewals were made (for logs and tests). */
  get renewals(): number {
    return this.#renewals;
  }

  /** Whether a call is in flight (the renewal timer runs). */
  get active(): boolean {
    return this.#inFlight > 0;
  }

  /** Runs `work`, renewing the owner's locks until it settles; calls may overlap (one timer serves them all). */
  async during<T>(work: () => Promise<T>): Promise<T> {
    if (this.#inFlight++ === 0) {
      this.#timer = setInterval(() => {
        if (!this.#renewing) void this.#renew();
      }, this.#periodMs);
    }
    try {
      return await work();
    } finally {
      if (--this.#inFlight === 0) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    }
  }

  async #renew(): Promise<void> {
    const { store, owner, now, log } = this.#opts;
    this.#renewing = true;
    try {
      const renewed = await store.renewLocks(owner, now());
      this.#renewals++;
      log.debug({ owner, ...renewed }, 'locks renewed while a plugin call runs');
    } catch (error) {
      if (error instanceof StoreClosedError) {
        // The process is stopping: its locks are released or expire; nothing to renew any more.
        log.debug({ owner, err: error }, 'lock renewal ended: the store is closed');
      } else {
        // The next tick tries again; if the locks do expire, the agent's write-back reports the rows it lost.
        log.warn({ owner, err: error }, 'cannot renew the locks held during a plugin call');
      }
    } finally {
      this.#renewing = false;
    }
  }
}

/**
 * The keeper of an agent's locks: its owner, its lockInterval (or a shorter interval of another lock it
 * takes, e.g. the submitter's queueLockInterval).
 */
export function lockKeeperFor(env: AgentEnvironment, agent: AgentName, lockIntervalSec = env.settings[agent].lockInterval): LockKeeper {
  return new LockKeeper({ store: env.store, owner: lockOwner(env, agent), lockIntervalSec, now: env.now, log: env.log.child({ agent }) });
}
