// EmbeddedJobSource on a real SQLite store: jobs go from the queue to the jobs table without loss when a
// fetcher dies half-way, and two fetchers never get the same job.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { JobSourceError, type GetJobsRequest } from '../communicator/index.js';
import { createLogger, SecretRegistry } from '../logging/index.js';
import { JobSpec, WorkSpec } from '../spec/index.js';
import { SqliteStore, StoreClosedError } from '../store/index.js';
import { DEFAULT_EMBEDDED_LOCK_INTERVAL_SEC, EmbeddedJobSource } from './embedded-job-source.js';

const root = mkdtempSync(join(tmpdir(), 'harvester-embedded-'));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const newFile = (): string => join(root, `store-${counter++}.db`);

const T0 = new Date('2030-01-01T00:00:00.000Z');
const at = (seconds: number): Date => new Date(T0.getTime() + seconds * 1000);

const log = createLogger({ level: 'silent', destination: new Writable({ write: (_chunk, _encoding, done) => done() }), secrets: new SecretRegistry() });

/** A source whose clock the test sets. */
function sourceOn(store: SqliteStore, lockIntervalSec?: number): { source: EmbeddedJobSource; clock: { now: Date } } {
  const clock = { now: T0 };
  return { source: new EmbeddedJobSource({ store, log, now: () => clock.now, ...(lockIntervalSec === undefined ? {} : { lockIntervalSec }) }), clock };
}

const request = (nJobs: number, nodeName = 'node1', extra: Partial<GetJobsRequest> = {}): GetJobsRequest => ({
  siteName: 'SITE', queueName: 'Q1', nodeName, prodSourceLabel: 'managed', computingElement: 'CE', nJobs, ...extra,
});

async function withStore(body: (store: SqliteStore, file: string) => Promise<void>): Promise<void> {
  const file = newFile();
  const store = await SqliteStore.open(file);
  try {
    await body(store, file);
  } finally {
    await store.close();
  }
}

describe('EmbeddedJobSource', () => {
  test('queued jobs come out of getJobs as fetched JobSpecs of their queue, and leave the queue once stored', () =>
    withStore(async (store) => {
      const PandaIDs = await store.enqueueJobs([
        { queueName: 'Q1', jobParams: { command: 'echo hi' }, taskID: 3, currentPriority: 50, nCore: 2 },
        { queueName: 'Q1', jobParams: { command: 'echo second' } },
        { queueName: 'Q2', jobParams: { command: 'other queue' } },
      ]);
      const [queued] = await store.listQueuedJobs({ limit: 1 });
      const { source } = sourceOn(store);
      assert.equal(source.description, 'embedded job queue');
      const jobs = await source.getJobs(request(5));
      assert.deepEqual(jobs.map((j) => j.PandaID), PandaIDs.slice(0, 2));
      const [first] = jobs;
      assert.ok(first !== undefined && queued !== undefined);
      assert.deepEqual(
        [first.taskID, first.currentPriority, first.nCore, first.jobParams, first.computingSite, first.status, first.subStatus],
        [3, 50, 2, { command: 'echo hi' }, 'Q1', 'starting', 'fetched'],
      );
      assert.equal(first.creationTime?.getTime(), queued.creationTime.getTime());
      assert.ok(first.propagatorTime !== null, 'propagation triggered, as for a job from PanDA');

      await store.insertJobs(jobs);
      const back = await store.getJob(PandaIDs[0] as number);
      assert.deepEqual([back.subStatus, back.jobParams], ['fetched', { command: 'echo hi' }]);
      assert.deepEqual((await store.listQueuedJobs()).map((q) => q.PandaID), [PandaIDs[2]], 'only the other queue\'s entry is left');
      assert.deepEqual(await source.getJobs(request(5)), []);
    }));

  test('without queueName the request\'s siteName names the queue; asking for no jobs gets none', () =>
    withStore(async (store) => {
      const [id] = await store.enqueueJobs([{ queueName: 'SITE', jobParams: {} }]);
      const { source } = sourceOn(store);
      assert.deepEqual(await source.getJobs(request(0, 'node1', { queueName: undefined })), []);
      const jobs = await source.getJobs(request(1, 'node1', { queueName: undefined }));
      assert.deepEqual(jobs.map((j) => [j.PandaID, j.computingSite]), [[id, 'SITE']]);
    }));

  test('a fetcher that dies between getJobs and insertJobs loses no job: its jobs come back after the lock interval', () =>
    withStore(async (store) => {
      const PandaIDs = await store.enqueueJobs([{ queueName: 'Q1', jobParams: { n: 1 } }, { queueName: 'Q1', jobParams: { n: 2 } }]);
      const dead = sourceOn(store);
      assert.equal((await dead.source.getJobs(request(10, 'node-dead'))).length, 2);
      // The process dies here: insertJobs never runs.
      const alive = sourceOn(store);
      alive.clock.now = at(DEFAULT_EMBEDDED_LOCK_INTERVAL_SEC - 1);
      assert.deepEqual(await alive.source.getJobs(request(10, 'node-alive')), [], 'withheld while the dead fetcher could still be storing them');
      alive.clock.now = at(DEFAULT_EMBEDDED_LOCK_INTERVAL_SEC);
      const recovered = await alive.source.getJobs(request(10, 'node-alive'));
      assert.deepEqual(recovered.map((j) => j.PandaID), PandaIDs);
      await store.insertJobs(recovered);
      assert.deepEqual(await store.listQueuedJobs(), []);
      alive.clock.now = at(10 * DEFAULT_EMBEDDED_LOCK_INTERVAL_SEC);
      assert.deepEqual(await alive.source.getJobs(request(10, 'node-alive')), [], 'stored jobs never come back');
    }));

  test('the lock interval is the constructor\'s', () =>
    withStore(async (store) => {
      await store.enqueueJobs([{ queueName: 'Q1', jobParams: {} }]);
      const { source, clock } = sourceOn(store, 30);
      assert.equal((await source.getJobs(request(1))).length, 1);
      clock.now = at(29);
      assert.equal((await source.getJobs(request(1))).length, 0);
      clock.now = at(30);
      assert.equal((await source.getJobs(request(1))).length, 1);
    }));

  test('two fetchers on their own connections to one database never both get a job, and together get them all', () =>
    withStore(async (store, file) => {
      const total = 300;
      const PandaIDs = await store.enqueueJobs(Array.from({ length: total }, (_, i) => ({ queueName: 'Q1', jobParams: { i } })));
      const other = await SqliteStore.open(file);
      try {
        const fetchers = [sourceOn(store).source, sourceOn(other).source];
        const got: number[][] = [[], []];
        for (let round = 0; got[0]!.length + got[1]!.length < total && round < total; round++) {
          const batches = await Promise.all(fetchers.map((f, i) => f.getJobs(request(1 + ((round + i) % 7), `node${i}`))));
          await Promise.all(batches.map((jobs, i) => (i === 0 ? store : other).insertJobs(jobs)));
          batches.forEach((jobs, i) => got[i]!.push(...jobs.map((j) => j.PandaID as number)));
        }
        const fromFirst = new Set(got[0]);
        assert.deepEqual(got[1]!.filter((id) => fromFirst.has(id)), [], 'no job went to both fetchers');
        assert.deepEqual([...got[0]!, ...got[1]!].sort((a, b) => a - b), PandaIDs);
        assert.ok(got[0]!.length > 0 && got[1]!.length > 0, 'both fetchers got jobs');
      } finally {
        await other.close();
      }
    }));

  test('a store failure rejects getJobs with a JobSourceError naming the queue, with the store error as cause', async () => {
    const store = await SqliteStore.open(newFile());
    await store.close();
    const { source } = sourceOn(store);
    await assert.rejects(source.getJobs(request(2)), (e: unknown) => {
      assert.ok(e instanceof JobSourceError);
      assert.equal(e.method, 'getJobs');
      assert.match(e.message, /queue Q1/);
      assert.ok(e.cause instanceof StoreClosedError);
      return true;
    });
  });

  test('reports are taken as they are: jobs and workers ok, no event ranges, every event update accepted, always alive', () =>
    withStore(async (store) => {
      const { source } = sourceOn(store);
      const jobs = [new JobSpec({ PandaID: 11, status: 'running' }), new JobSpec({ PandaID: 12, status: 'finished' })];
      assert.deepEqual((await source.updateJobs(jobs)).map((r) => [r.PandaID, r.ok, r.StatusCode, r.command]), [[11, true, 0, null], [12, true, 0, null]]);
      assert.deepEqual(await source.updateWorkers([new WorkSpec({ workerID: 5 })]), [{ workerID: 5, ok: true }]);
      const ranges = await source.getEventRanges([{ pandaID: 11, taskID: 1, jobsetID: null, nRanges: 10 }]);
      assert.deepEqual(ranges, [{ pandaID: 11, eventRanges: [], error: null }]);
      const update = await source.updateEventRanges([{ eventRanges: [{ eventRangeID: 'a' }, { eventRangeID: 'b' }] }, { eventRanges: [{ eventRangeID: 'c' }] }]);
      assert.deepEqual(update.returns, [true, true, true]);
      assert.equal(await source.isAlive({ startTime: 'now' }), 'OK');
      assert.equal((await source.checkPanda()).alive, true);
      await source.close();
      await source.close();
    }));
});
