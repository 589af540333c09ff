// Several processes claiming from one PostgreSQL or MariaDB database at once never get the same job, worker
// or queued job, and together they get every one: the claims are atomic across instances (row locks, SKIP
// LOCKED). A lock left by an owner that is gone is taken over after lockInterval, and worker IDs drawn by
// concurrent inserts never collide.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { JobSpec, WorkSpec } from '../../src/spec/index.js';
import { openServerStore } from '../../src/store/server/open-server-store.js';
import type { ServerConnectionSettings } from '../../src/store/server/settings.js';
import { reusableTestDatabase, type ReusableTestDatabase } from '../support/store/reusable-database.js';
import { describeOnServerEngines, loadDbServers, serverSettings } from '../support/store/db-servers.js';

interface Claimed {
  jobs: number[];
  workers: number[];
  queued: number[];
}

function startClaimer(settings: ServerConnectionSettings, owner: string): { ready: Promise<void>; go: () => void; result: Promise<Claimed> } {
  const script = fileURLToPath(new URL('../support/store/claim-loop.js', import.meta.url));
  const child = spawn(process.execPath, [script, JSON.stringify(settings), owner], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (stdout.startsWith('ready\n')) markReady();
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const result = new Promise<Claimed>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(JSON.parse(stdout.slice('ready\n'.length)) as Claimed);
      else reject(new Error(`claimer ${owner} exited with ${code}: ${stderr}`));
    });
  });
  // go is safe to call again (the test's cleanup lets claimers that never got it finish).
  const go = (): void => void (child.stdin.writableEnded || child.stdin.end('go\n'));
  return { ready: Promise.race([ready, result.then(() => undefined)]), go, result };
}

const env = loadDbServers();
describeOnServerEngines(env, 'claims across processes on PostgreSQL and MariaDB', (engine) => `claims across instances on ${engine}`, (env, engine) => {
  // One database per engine, migrated once and emptied before each test (creating one per test cost more than most tests).
  let database: Promise<ReusableTestDatabase> | undefined;
  const emptyDatabase = async (): Promise<ServerConnectionSettings> => {
    database ??= reusableTestDatabase(env, engine, async (name) => (await openServerStore(serverSettings(env, engine, name))).close());
    const db = await database;
    await db.empty();
    return serverSettings(env, engine, db.name);
  };
  test('three processes claiming in a loop never claim the same job, worker or queued job, and claim them all', { timeout: 180_000 }, async () => {
    const settings = await emptyDatabase();
    const store = await openServerStore(settings);
    // Started first: the processes come up (node, the store) while the rows are written, and wait for "go".
    const claimers = ['instance-A', 'instance-B', 'instance-C'].map((owner) => startClaimer(settings, owner));
    try {
      const rows = 900;
      await store.insertJobs(Array.from({ length: rows }, (_, i) => new JobSpec({ PandaID: i + 1, computingSite: 'Q1', subStatus: 'fetched' })));
      await store.insertWorkers(Array.from({ length: rows }, () => new WorkSpec({ computingSite: 'Q1', status: 'submitted' })));
      await store.enqueueJobs(Array.from({ length: rows }, (_, i) => ({ queueName: 'QE', jobParams: { i } })));
      await Promise.all(claimers.map((c) => c.ready));
      for (const c of claimers) c.go();
      const results = await Promise.all(claimers.map((c) => c.result));
      for (const kind of ['jobs', 'workers', 'queued'] as const) {
        const all = results.flatMap((r) => r[kind]);
        assert.equal(all.length, rows, `every one of the ${kind} claimed once`);
        assert.equal(new Set(all).size, rows, `no ${kind} claimed twice`);
        assert.ok(results.filter((r) => r[kind].length > 0).length >= 2, `several processes got ${kind} (the claims did not serialize on one)`);
      }
      assert.equal((await store.listJobs({ queueName: 'Q1', subStatus: ['prepared'] })).length, rows);
      assert.equal((await store.listJobs({ queueName: 'QE' })).length, rows, 'every queued job was stored');
      assert.deepEqual(await store.listQueuedJobs(), [], 'the embedded queue is empty');
      assert.deepEqual(await store.getWorkerStats('Q1'), { running: rows });
    } finally {
      for (const c of claimers) c.go();
      await Promise.allSettled(claimers.map((c) => c.result));
      await store.close();
    }
  });

  test('workers inserted by several instances at once get distinct IDs', { timeout: 120_000 }, async () => {
    const settings = await emptyDatabase();
    const stores = await Promise.all([0, 1, 2].map(() => openServerStore(settings)));
    try {
      const batches = await Promise.all(
        stores.map(async (store) => {
          const ids: number[] = [];
          for (let round = 0; round < 20; round++) {
            const workers = Array.from({ length: 10 }, () => new WorkSpec({ computingSite: 'Q1', status: 'submitted' }));
            await store.insertWorkers(workers);
            ids.push(...workers.map((w) => w.workerID as number));
          }
          return ids;
        }),
      );
      const all = batches.flat();
      assert.equal(new Set(all).size, 600);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  test('an instance that died holding locks loses them to another after lockInterval, and its late write is refused', async () => {
    const settings = await emptyDatabase();
    const dead = await openServerStore(settings);
    const alive = await openServerStore(settings);
    try {
      const t0 = new Date('2030-01-01T00:00:00Z');
      await alive.insertWorkers(Array.from({ length: 5 }, () => new WorkSpec({ computingSite: 'Q1', status: 'running', modificationTime: t0 })));
      const held = await dead.claimWorkers({ purpose: 'monitor', owner: 'dead-1', lockIntervalSec: 600, limit: 10, now: t0 });
      assert.equal(held.length, 5);
      const early = await alive.claimWorkers({ purpose: 'monitor', owner: 'alive-1', lockIntervalSec: 600, limit: 10, now: new Date(t0.getTime() + 599_000) });
      assert.deepEqual(early, [], 'locks within lockInterval are respected');
      const late = await alive.claimWorkers({ purpose: 'monitor', owner: 'alive-1', lockIntervalSec: 600, limit: 10, now: new Date(t0.getTime() + 601_000) });
      assert.equal(late.length, 5, 'expired locks are taken over');
      for (const w of held) w.status = 'finished';
      await assert.rejects(dead.updateWorkers(held, { lock: { purpose: 'monitor', owner: 'dead-1' } }), { name: 'StoreLockLostError' });
    } finally {
      await dead.close();
      await alive.close();
    }
  });
});
