import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { JobSpec } from '../../spec/index.js';
import { PluginOptionError } from '../errors.js';
import { section, testContext, testQueue } from '../../../test/support/plugins/plugin-fixtures.js';
import { SimpleWorkerMaker } from './simple-worker-maker.js';
import { SimpleThrottler, type MissedWorkerCounter, type MissedWorkerCriteria } from './simple-throttler.js';

const job = (PandaID: number, params: Record<string, unknown>) => new JobSpec({ PandaID, taskID: 1, jobParams: params });

describe('SimpleWorkerMaker', () => {
  test("a worker for one job takes the job's cores, memory, disk and walltime, and its label", async () => {
    const ctx = testContext(testQueue({ mapType: 'OneToOne', extra: { corecount: 8, maxrss: 16000, maxtime: 3600 } }));
    const made = await new SimpleWorkerMaker().makeWorker(
      ctx,
      [job(1, { coreCount: 4, minRamCount: 8000, maxDiskCount: 500, maxWalltime: 1200, prodSourceLabel: 'managed' })],
      'managed',
      'ANY',
    );
    assert.ok(made.kind === 'succeeded');
    const w = made.value;
    assert.deepEqual([w.nCore, w.minRamCount, w.maxDiskCount, w.maxWalltime], [4, 8000, 500, 1200]);
    assert.deepEqual([w.mapType, w.jobType, w.pilotType, w.resourceType], ['OneToOne', 'managed', 'PR', 'MCORE']);
    assert.equal(w.jobSpecs.length, 1);
    assert.ok(w.creationTime instanceof Date);
  });

  test('a ManyToOne worker sums its jobs, and refuses more jobs than nJobsPerWorker', async () => {
    const ctx = testContext(testQueue({ mapType: 'ManyToOne' }));
    const maker = new SimpleWorkerMaker({ nJobsPerWorker: 2 });
    assert.equal(await maker.getNumJobsPerWorker(ctx, 10), 2);
    assert.equal(await maker.getNumWorkersPerJob(ctx, 10), 1);
    const made = await maker.makeWorker(ctx, [job(1, { coreCount: 1 }), job(2, { coreCount: 1 })], 'managed', 'SCORE');
    assert.ok(made.kind === 'succeeded');
    assert.equal(made.value.nCore, 2);
    assert.equal(made.value.resourceType, 'SCORE', 'the asked resource type wins');
    const tooMany = await maker.makeWorker(ctx, [job(1, {}), job(2, {}), job(3, {})], 'managed', 'SCORE');
    assert.equal(tooMany.kind, 'failed');
    assert.match(tooMany.diag, /ManyToOne takes 1 to 2 jobs, got 3/);
  });

  test('a NoJob worker takes the queue resources from the section options; a unified queue sizes it by resource type', async () => {
    const plain = testContext(testQueue({ mapType: 'NoJob', workerMaker: section('SimpleWorkerMaker', 'simple_worker_maker', {}) }));
    const made = await new SimpleWorkerMaker({ corecount: 1, maxrss: 2000 }).makeWorker(plain, [], 'managed', 'ANY');
    assert.ok(made.kind === 'succeeded');
    assert.deepEqual([made.value.nCore, made.value.minRamCount, made.value.resourceType, made.value.jobType], [1, 2000, 'SCORE', 'managed']);
    assert.equal(made.value.jobSpecs.length, 0);

    const ucore = new SimpleWorkerMaker({ capability: 'ucore', corecount: 8, maxrss: 16000 });
    const score = await ucore.makeWorker(plain, [], 'managed', 'SCORE');
    const mcore = await ucore.makeWorker(plain, [], 'managed', 'MCORE');
    assert.ok(score.kind === 'succeeded' && mcore.kind === 'succeeded');
    assert.deepEqual([score.value.nCore, score.value.minRamCount], [1, 2000]);
    assert.deepEqual([mcore.value.nCore, mcore.value.minRamCount], [8, 16000]);
    assert.equal((await ucore.makeWorker(plain, [job(1, {})], 'managed', 'SCORE')).kind, 'failed', 'NoJob takes no jobs');
  });
});

class CountingStore implements MissedWorkerCounter {
  readonly asked: MissedWorkerCriteria[] = [];
  constructor(private readonly missed: (c: MissedWorkerCriteria) => number) {}
  async countMissedWorkers(_queueName: string, criteria: MissedWorkerCriteria): Promise<number> {
    this.asked.push(criteria);
    return this.missed(criteria);
  }
}

describe('SimpleThrottler', () => {
  const rules = [
    { level: 'site', timeWindow: 60, maxMissed: 5 },
    { level: 'pq', timeWindow: 10, maxMissed: 2 },
  ];

  test('OR throttles when one rule is exceeded and says which', async () => {
    const throttler = new SimpleThrottler({ rulesForMissed: rules });
    const store = new CountingStore((c) => (c.computingSite !== undefined ? 3 : 0));
    throttler.useMissedWorkerCounter(store);
    const verdict = await throttler.toBeThrottled(testContext());
    assert.ok(verdict.kind === 'succeeded');
    assert.equal(verdict.value, true);
    assert.match(verdict.diag, /nMissed=3 > maxMissed=2/);
    assert.deepEqual(store.asked.map((c) => c.siteName ?? c.computingSite), ['TEST_SITE', 'TEST_QUEUE']);
    assert.ok(Date.now() - store.asked[1]!.since.getTime() >= 10 * 60_000 - 1000);
  });

  test('AND throttles only when every rule is exceeded', async () => {
    const throttler = new SimpleThrottler({ rulesForMissed: rules, logicType: 'AND' });
    throttler.useMissedWorkerCounter(new CountingStore((c) => (c.siteName !== undefined ? 6 : 1)));
    const notAll = await throttler.toBeThrottled(testContext());
    assert.ok(notAll.kind === 'succeeded' && notAll.value === false);
    throttler.useMissedWorkerCounter(new CountingStore(() => 100));
    const all = await throttler.toBeThrottled(testContext());
    assert.ok(all.kind === 'succeeded' && all.value === true);
  });

  test('ce rules count per computing element of the submitter section', async () => {
    const throttler = new SimpleThrottler({ rulesForMissed: [{ level: 'ce', timeWindow: 5, maxMissed: 0 }] });
    const store = new CountingStore(() => 0);
    throttler.useMissedWorkerCounter(store);
    const queue = testQueue({ submitter: section('DummySubmitter', 'dummy_submitter', { computingElements: ['ce1', 'ce2'] }) });
    await throttler.toBeThrottled(testContext(queue));
    assert.deepEqual(store.asked.map((c) => c.computingElement), ['ce1', 'ce2']);
  });

  test('without counts or without rules nothing is throttled; a failing count is a retry', async () => {
    const uncounted = await new SimpleThrottler({ rulesForMissed: rules }).toBeThrottled(testContext());
    assert.ok(uncounted.kind === 'succeeded' && uncounted.value === false);
    assert.match(uncounted.diag, /no missed-worker counts/);
    const noRules = await new SimpleThrottler({ logicType: 'AND' }).toBeThrottled(testContext());
    assert.ok(noRules.kind === 'succeeded' && noRules.value === false);
    const broken = new SimpleThrottler({ rulesForMissed: rules });
    broken.useMissedWorkerCounter({ countMissedWorkers: () => Promise.reject(new Error('database is locked')) });
    const retry = await broken.toBeThrottled(testContext());
    assert.equal(retry.kind, 'retry');
    assert.match(retry.diag, /database is locked/);
  });

  test('malformed rules are refused at construction, naming the option', () => {
    assert.throws(() => new SimpleThrottler({ rulesForMissed: [{ level: 'planet', timeWindow: 1, maxMissed: 1 }] }), (e: unknown) => e instanceof PluginOptionError && /rulesForMissed\[0\]\.level/.test(e.message));
    assert.throws(() => new SimpleThrottler({ logicType: 'XOR' }), PluginOptionError);
  });
});
