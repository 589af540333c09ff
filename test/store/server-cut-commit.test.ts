// A claim whose COMMIT is cut by a lost connection (server restarted, network cut) has an unknown outcome;
// the store reads the claim's stamp back from its rows: applied, the caller gets the rows; not applied, the
// claim runs again. Never a claim applied behind the caller's back (rows locked for lockInterval, unknown).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JobSpec, WorkSpec } from '../../src/spec/index.js';
import { StoreCommitUnknownError } from '../../src/store/errors.js';
import { openServerStore, serverDriverFor } from '../../src/store/server/open-server-store.js';
import { ServerStore } from '../../src/store/server/server-store.js';
import type { ServerDriver, SqlSession } from '../../src/store/server/session.js';
import { createTestDatabase, describeOnServerEngines, loadDbServers, serverSettings } from '../support/store/db-servers.js';

type Cut = 'applied' | 'not applied';

/** A real driver whose next transactions of one operation lose their COMMIT: applied or rolled back, then the error. */
class CuttingDriver implements ServerDriver {
  readonly cuts: { operation: string; outcome: Cut }[] = [];
  readonly operations: string[] = [];

  constructor(readonly inner: ServerDriver) {}

  get dialect(): ServerDriver['dialect'] {
    return this.inner.dialect;
  }

  get database(): string {
    return this.inner.database;
  }

  get schema(): string {
    return this.inner.schema;
  }

  /** Runs (once) just before a claim reads its stamp back: what another transaction did meanwhile. */
  meanwhile: ((session: SqlSession) => Promise<unknown>) | undefined;

  async transaction<T>(operation: string, work: (session: SqlSession) => Promise<T>): Promise<T> {
    this.operations.push(operation);
    const meanwhile = this.meanwhile;
    if (meanwhile !== undefined && operation.includes('reading back')) {
      this.meanwhile = undefined;
      await this.inner.transaction('meanwhile', meanwhile);
    }
    const index = this.cuts.findIndex((c) => c.operation === operation);
    if (index < 0) return this.inner.transaction(operation, work);
    const [cut] = this.cuts.splice(index, 1);
    if (cut!.outcome === 'applied') await this.inner.transaction(operation, work);
    else {
      const rolledBack = new Error('rolled back by the test');
      await this.inner.transaction(operation, async (s) => {
        await work(s);
        throw rolledBack;
      }).catch((error: unknown) => {
        // The driver wraps what the work threw (its cause).
        if ((error as Error).cause !== rolledBack) throw error;
      });
    }
    throw new StoreCommitUnknownError(this.database, operation, 'commit on the test server', { cause: new Error('socket has unexpectedly been closed') });
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

const env = loadDbServers();
describeOnServerEngines(env, 'claims whose COMMIT is cut', (engine) => `claims whose COMMIT is cut on ${engine}`, (env, engine) => {
  async function storeWithCuts(): Promise<{ store: ServerStore; driver: CuttingDriver }> {
    const settings = serverSettings(env, engine, await createTestDatabase(env, engine));
    await (await openServerStore(settings)).close(); // creates the tables
    const driver = new CuttingDriver(await serverDriverFor(settings));
    return { store: new ServerStore(driver), driver };
  }

  test('a claim applied before its COMMIT was cut returns its rows, once, without claiming again', async () => {
    const { store, driver } = await storeWithCuts();
    try {
      await store.insertWorkers(Array.from({ length: 5 }, () => new WorkSpec({ computingSite: 'Q1', status: 'running' })));
      driver.cuts.push({ operation: 'claimWorkers', outcome: 'applied' });
      const claimed = await store.claimWorkers({ purpose: 'monitor', owner: 'm1', lockIntervalSec: 600, limit: 3 });
      assert.deepEqual(claimed.map((w) => w.workerID), [1, 2, 3]);
      assert.equal(driver.operations.filter((o) => o === 'claimWorkers').length, 1, 'the claim was not run again');
      const locked = (await store.listWorkers()).filter((w) => w.lockedBy === 'm1').map((w) => w.workerID);
      assert.deepEqual(locked, [1, 2, 3], 'the rows the caller got are the rows locked for it');
      await store.updateWorkers(claimed, { lock: { purpose: 'monitor', owner: 'm1' }, releaseLock: true });
      assert.equal((await store.listWorkers()).filter((w) => w.lockedBy !== null).length, 0);
    } finally {
      await store.close();
    }
  });

  test('a claim not applied when its COMMIT was cut runs again and returns the rows it then locked', async () => {
    const { store, driver } = await storeWithCuts();
    try {
      await store.insertJobs(Array.from({ length: 4 }, (_, i) => new JobSpec({ PandaID: i + 1, computingSite: 'Q1', subStatus: 'fetched' })));
      driver.cuts.push({ operation: 'claimJobs', outcome: 'not applied' });
      const claimed = await store.claimJobs({ for: 'preparator', owner: 'p1', lockIntervalSec: 600, limit: 2 });
      assert.deepEqual(claimed.map((j) => j.PandaID), [1, 2]);
      assert.equal(driver.operations.filter((o) => o === 'claimJobs').length, 2, 'the claim ran again');
      const locked = (await store.listJobs()).filter((j) => j.lockedBy === 'p1').map((j) => j.PandaID);
      assert.deepEqual(locked, [1, 2]);
    } finally {
      await store.close();
    }
  });

  test('a take of queued jobs applied before its COMMIT was cut hands out its entries once, and no other taker gets them', async () => {
    const { store, driver } = await storeWithCuts();
    try {
      const ids = await store.enqueueJobs(Array.from({ length: 4 }, (_, i) => ({ queueName: 'Q1', jobParams: { n: i } })));
      driver.cuts.push({ operation: 'takeQueuedJobs', outcome: 'applied' });
      const taken = await store.takeQueuedJobs({ queueName: 'Q1', limit: 3, owner: 'f1', lockIntervalSec: 600 });
      assert.deepEqual(taken.map((q) => q.PandaID), ids.slice(0, 3));
      assert.equal(driver.operations.filter((o) => o === 'takeQueuedJobs').length, 1, 'the take was not run again');
      const other = await store.takeQueuedJobs({ queueName: 'Q1', limit: 10, owner: 'f2', lockIntervalSec: 600 });
      assert.deepEqual(other.map((q) => q.PandaID), ids.slice(3), 'only the entry the first take left is handed out again');
    } finally {
      await store.close();
    }
  });

  test('a claim of dialog messages not applied when its COMMIT was cut runs again and returns the messages it then locked', async () => {
    const { store, driver } = await storeWithCuts();
    try {
      const messages = Array.from({ length: 3 }, (_, i) => ({ moduleName: 'monitor', identifier: `workerID=${i}`, messageLevel: 'ERROR', diagMessage: `m${i}`, creationTime: new Date() }));
      await store.addDialogMessages(messages, { keep: 100 });
      driver.cuts.push({ operation: 'claimDialogMessages', outcome: 'not applied' });
      const claimed = await store.claimDialogMessages({ owner: 'd1', lockIntervalSec: 600, limit: 2 });
      assert.deepEqual(claimed.map((m) => m.diagMessage), ['m0', 'm1']);
      assert.equal(driver.operations.filter((o) => o === 'claimDialogMessages').length, 2, 'the claim ran again');
      const rest = await store.claimDialogMessages({ owner: 'd2', lockIntervalSec: 600, limit: 10 });
      assert.deepEqual(rest.map((m) => m.diagMessage), ['m2'], 'the messages the first claim got are locked for it');
    } finally {
      await store.close();
    }
  });

  test('a claim of queues applied before its COMMIT was cut returns the queues, and another instance does not get them', async () => {
    const { store, driver } = await storeWithCuts();
    try {
      driver.cuts.push({ operation: 'claimQueues', outcome: 'applied' });
      const got = await store.claimQueues({ queueNames: ['Q1', 'Q2'], owner: 's1', lockIntervalSec: 600 });
      assert.deepEqual(got, ['Q1', 'Q2']);
      assert.equal(driver.operations.filter((o) => o === 'claimQueues').length, 1, 'the claim was not run again');
      assert.deepEqual(await store.claimQueues({ queueNames: ['Q1', 'Q2'], owner: 's2', lockIntervalSec: 600 }), []);
    } finally {
      await store.close();
    }
  });

  test('a claim applied before its COMMIT was cut is still known as applied when the lock keeper renewed its locks meanwhile', async () => {
    const { store, driver } = await storeWithCuts();
    try {
      await store.insertWorkers(Array.from({ length: 2 }, () => new WorkSpec({ computingSite: 'Q1', status: 'running' })));
      const renew = (s: SqlSession): Promise<unknown> => store.renewLocks('m1', new Date(Date.now() + 60_000)).then(() => s.query('SELECT 1'));
      driver.cuts.push({ operation: 'claimWorkers', outcome: 'applied' });
      driver.meanwhile = renew;
      const claimed = await store.claimWorkers({ purpose: 'monitor', owner: 'm1', lockIntervalSec: 600, limit: 5 });
      assert.deepEqual(claimed.map((w) => w.workerID), [1, 2]);
      assert.equal(driver.operations.filter((o) => o === 'claimWorkers').length, 1, 'the claim was not run again');
      driver.cuts.push({ operation: 'claimQueues', outcome: 'applied' });
      driver.meanwhile = (s) => store.renewLocks('s1', new Date(Date.now() + 60_000)).then(() => s.query('SELECT 1'));
      assert.deepEqual(await store.claimQueues({ queueNames: ['Q1'], owner: 's1', lockIntervalSec: 600 }), ['Q1']);
      assert.equal(driver.operations.filter((o) => o === 'claimQueues').length, 1, 'the queue claim was not run again');
    } finally {
      await store.close();
    }
  });
});
