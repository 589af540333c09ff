// The lock keeper over a real SqliteStore: while a plugin call runs longer than the lock interval, the rows
// the agent holds are not taken over by another instance; once no call runs, nothing renews them.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { StoreClosedError, type Store } from '../store/index.js';
import { lockOwner } from './environment.js';
import { lockKeeperFor } from './lock-keeper.js';
import { insertWorker, withWorkerSideEnv, type WorkerSideEnv } from '../../test/support/agents/worker-side-fixtures.js';

/** The store, with renewLocks replaced by `renew` (given the real store). */
function withRenewLocks(store: Store, renew: (real: Store) => Store['renewLocks']): Store {
  return new Proxy(store, {
    get(target, property) {
      if (property === 'renewLocks') return renew(target);
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** A store wrapper telling each renewal to whoever waits for the next one. */
function renewals(): { store: (store: Store) => Store; next: () => Promise<void> } {
  const waiters: (() => void)[] = [];
  return {
    store: (store) =>
      withRenewLocks(store, (real) => async (...args) => {
        const renewed = await real.renewLocks(...args);
        for (const wake of waiters.splice(0)) wake();
        return renewed;
      }),
    next: () => new Promise<void>((resolve) => waiters.push(resolve)),
  };
}

async function claimAsOther(w: WorkerSideEnv): Promise<number> {
  const taken = await w.store.claimWorkers({ purpose: 'monitor', owner: 'monitor-otherhost-2', lockIntervalSec: w.env.settings.monitor.lockInterval, limit: 10, now: w.clock.now() });
  return taken.length;
}

describe('LockKeeper', () => {
  test('while a call runs past the lock interval, the held rows are renewed and not taken over; afterwards they expire as before', { timeout: 20_000 }, async () => {
    await withWorkerSideEnv({ settings: { monitor: { lockInterval: 0.3 } } }, async (w) => {
      await insertWorker(w.store, { status: 'submitted', modificationTime: w.clock.now() });
      w.clock.advance(1);
      const owner = lockOwner(w.env, 'monitor');
      const held = await w.store.claimWorkers({ purpose: 'monitor', owner, lockIntervalSec: 0.3, limit: 10, now: w.clock.now() });
      assert.equal(held.length, 1);
      const observed = renewals();
      const keeper = lockKeeperFor({ ...w.env, store: observed.store(w.store) }, 'monitor');

      await keeper.during(async () => {
        assert.equal(keeper.active, true);
        w.clock.advance(1); // the call has now run longer than the lock interval
        await observed.next();
        assert.equal(await claimAsOther(w), 0, 'renewed: not taken over');
      });
      assert.equal(keeper.active, false);
      assert.ok(keeper.renewals >= 1);
      const [worker] = await w.store.listWorkers();
      assert.equal(worker!.lockedBy, owner);

      w.clock.advance(1);
      assert.equal(await claimAsOther(w), 1, 'no call runs, nothing renews: the lock expires as before');
    });
  });

  test('renewal goes on while any of several overlapping calls runs, and stops with the last', { timeout: 20_000 }, async () => {
    await withWorkerSideEnv({ settings: { sweeper: { lockInterval: 0.3 } } }, async (w) => {
      const observed = renewals();
      const keeper = lockKeeperFor({ ...w.env, store: observed.store(w.store) }, 'sweeper');
      let releaseFirst!: () => void;
      const first = keeper.during(() => new Promise<void>((resolve) => (releaseFirst = resolve)));
      await keeper.during(async () => {
        await observed.next();
      });
      assert.equal(keeper.active, true, 'the first call still runs');
      await observed.next();
      releaseFirst();
      await first;
      assert.equal(keeper.active, false);
    });
  });

  test('a failing renewal is logged and does not fail the call', { timeout: 20_000 }, async () => {
    await withWorkerSideEnv({ settings: { sweeper: { lockInterval: 0.3 } } }, async (w) => {
      let failed!: () => void;
      const failedOnce = new Promise<void>((resolve) => (failed = resolve));
      const broken = withRenewLocks(w.store, () => async () => {
        setImmediate(failed);
        throw new Error('database is locked');
      });
      const keeper = lockKeeperFor({ ...w.env, store: broken }, 'sweeper');
      assert.equal(await keeper.during(async () => {
        await failedOnce;
        return 'answer';
      }), 'answer');
      assert.equal(w.log.problems('cannot renew the locks held during a plugin call').length >= 1, true);
    });
  });
  test('a renewal that waits (the server away) is not joined by more: one renewal at a time', { timeout: 20_000 }, async () => {
    await withWorkerSideEnv({ settings: { sweeper: { lockInterval: 0.03 } } }, async (w) => {
      let calls = 0;
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let started!: () => void;
      const first = new Promise<void>((resolve) => (started = resolve));
      const waiting = withRenewLocks(w.store, (real) => async (...args) => {
        calls++;
        started();
        await released;
        return real.renewLocks(...args);
      });
      const keeper = lockKeeperFor({ ...w.env, store: waiting }, 'sweeper');
      await keeper.during(async () => {
        await first;
        // Many renewal periods (10 ms each) pass while the first renewal waits.
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal(calls, 1, 'the ticks while a renewal waits start no other');
        release();
      });
    });
  });

  test('a renewal ended by the store closing (shutdown) is no warning', { timeout: 20_000 }, async () => {
    await withWorkerSideEnv({ settings: { sweeper: { lockInterval: 0.3 } } }, async (w) => {
      let ended!: () => void;
      const endedOnce = new Promise<void>((resolve) => (ended = resolve));
      const closing = withRenewLocks(w.store, () => async () => {
        setImmediate(ended);
        throw new StoreClosedError('db', 'renewLocks');
      });
      const keeper = lockKeeperFor({ ...w.env, store: closing }, 'sweeper');
      await keeper.during(async () => endedOnce);
      assert.deepEqual(w.log.problems('cannot renew the locks held during a plugin call'), []);
    });
  });
});
