// The stager over a real SqliteStore: the dummy plugin, no plugin, an asynchronous stage-out, and plugins that
// fail, throw, hang or answer nonsense.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DummyStager, failed, retryLater, succeeded, type Stager as StagerPlugin } from '../plugins/index.js';
import { testQueue } from '../../test/support/plugins/plugin-fixtures.js';
import type { JobSpec } from '../spec/index.js';
import { Stager, ERR_STAGEOUT_FAILED } from './stager.js';
import { hang, jobSideEnv, jobToTransfer, pluginDoing, type JobSideEnv, type JobSideEnvOptions } from '../../test/support/agents/job-side-fixtures.js';

const stagerMethods = ['triggerStageOut', 'checkStageOutStatus', 'zipOutput'];

/** A stager whose behaviour the test swaps between cycles. */
class SwappableStager implements StagerPlugin {
  constructor(public current: StagerPlugin) {}
  triggerStageOut: StagerPlugin['triggerStageOut'] = (ctx, job) => this.current.triggerStageOut(ctx, job);
  checkStageOutStatus: StagerPlugin['checkStageOutStatus'] = (ctx, job) => this.current.checkStageOutStatus(ctx, job);
  zipOutput: StagerPlugin['zipOutput'] = (ctx, job) => this.current.zipOutput(ctx, job);
}

async function withEnv(options: JobSideEnvOptions, body: (t: JobSideEnv) => Promise<void>): Promise<void> {
  const t = await jobSideEnv(options);
  try {
    await body(t);
  } finally {
    await t.cleanup();
  }
}

const withPlugin = (plugin: StagerPlugin, settings: { pluginTimeout?: number; checkInterval?: number } = {}): JobSideEnvOptions => ({
  plugins: { TEST_QUEUE: { stager: plugin } },
  settings: { stager: settings },
});

async function jobs(t: JobSideEnv, ...ids: number[]): Promise<JobSpec[]> {
  return t.store.getJobs(ids);
}

describe('Stager', () => {
  test('the dummy stager takes jobs to done in one cycle: files finished, status kept, propagation triggered', async () => {
    await withEnv(withPlugin(new DummyStager()), async (t) => {
      await t.store.insertJobs([jobToTransfer(1), jobToTransfer(2, 'TEST_QUEUE', 'failed')]);
      const report = await new Stager(t.env).runCycle(t.signal);
      assert.equal(report.done, 2);
      const [one, two] = await jobs(t, 1, 2);
      assert.deepEqual([one!.status, one!.subStatus], ['finished', 'done']);
      assert.deepEqual([two!.status, two!.subStatus], ['failed', 'done']);
      assert.deepEqual(one!.outFiles.map((f) => f.status), ['finished', 'finished']);
      assert.ok(one!.propagatorTime !== null && one!.propagatorTime < t.clock.now(), 'propagation is due');
      assert.equal(one!.stagerLock, null, 'the lock is released');
      assert.equal(one!.getStatus(), 'finished', 'reported as finished, no longer transferring');
    });
  });

  test('a queue without a stager plugin has its jobs done directly', async () => {
    await withEnv({}, async (t) => {
      await t.store.insertJobs([jobToTransfer(3)]);
      assert.equal((await new Stager(t.env).runCycle(t.signal)).done, 1);
      const job = await t.store.getJob(3);
      assert.deepEqual([job.status, job.subStatus], ['finished', 'done']);
    });
  });

  test('an asynchronous stage-out leaves the job transferring, checked again only after checkInterval', async () => {
    let transferDone = false;
    const plugin: StagerPlugin = {
      triggerStageOut: async () => succeeded(),
      checkStageOutStatus: async () => (transferDone ? succeeded() : retryLater('transfer in progress')),
      zipOutput: async () => succeeded(),
    };
    await withEnv(withPlugin(plugin, { checkInterval: 60 }), async (t) => {
      await t.store.insertJobs([jobToTransfer(4)]);
      const stager = new Stager(t.env);
      assert.equal((await stager.runCycle(t.signal)).transferring, 1);
      const transferring = await t.store.getJob(4);
      assert.equal(transferring.subStatus, 'transferring');
      assert.deepEqual(transferring.outFiles.map((f) => f.status), ['transferring', 'transferring']);
      assert.equal(transferring.getStatus(), 'transferring');
      transferDone = true;
      assert.equal((await stager.runCycle(t.signal)).done, 0, 'not due before checkInterval');
      t.clock.advance(61);
      assert.equal((await stager.runCycle(t.signal)).done, 1);
      assert.equal((await t.store.getJob(4)).subStatus, 'done');
    });
  });

  test('a failed stage-out fails the job and its unfinished files, with the pilot error', async () => {
    const plugin: StagerPlugin = {
      triggerStageOut: async () => succeeded(),
      checkStageOutStatus: async () => failed('destination storage refused'),
      zipOutput: async () => succeeded(),
    };
    await withEnv(withPlugin(plugin), async (t) => {
      await t.store.insertJobs([jobToTransfer(5)]);
      assert.equal((await new Stager(t.env).runCycle(t.signal)).failed, 1);
      const job = await t.store.getJob(5);
      assert.deepEqual([job.status, job.subStatus], ['failed', 'done']);
      assert.deepEqual(job.outFiles.map((f) => f.status), ['failed', 'failed']);
      assert.equal(job.getOneAttribute('pilotErrorCode'), ERR_STAGEOUT_FAILED);
      assert.match(String(job.getOneAttribute('pilotErrorDiag')), /destination storage refused/);
      assert.ok(job.propagatorTime !== null && job.propagatorTime < t.clock.now());
    });
  });

  const brokenPlugins: ReadonlyArray<[string, string, () => StagerPlugin]> = [
    ['throws', 'threw', () => pluginDoing(stagerMethods, async (m) => { throw new Error(`${m} exploded`); })],
    ['hangs', 'timeout', () => pluginDoing(stagerMethods, () => hang())],
    ['answers something that is not an Outcome', 'malformed', () => pluginDoing(stagerMethods, async () => 'done')],
  ];
  for (const [what, failure, make] of brokenPlugins) {
    test(`a plugin that ${what} is logged with the job's id and counted; the jobs are released and the next cycle works`, async () => {
      const plugin = new SwappableStager(make());
      await withEnv(withPlugin(plugin, { pluginTimeout: 0.2 }), async (t) => {
        await t.store.insertJobs([jobToTransfer(6), jobToTransfer(7)]);
        const stager = new Stager(t.env);
        const report = await stager.runCycle(t.signal);
        assert.ok(report.errors! >= 1);
        assert.equal(report.done, 0);
        const problems = t.log.problems('stager plugin call failed');
        assert.ok(problems.some((l) => l.PandaID === 6 && l.failure === failure && l.method === 'triggerStageOut' && l.queue === 'TEST_QUEUE'));
        for (const job of await jobs(t, 6, 7)) {
          assert.equal(job.subStatus, 'to_transfer');
          assert.equal(job.stagerLock, null, `job ${job.PandaID} is released`);
        }
        plugin.current = new DummyStager();
        t.clock.advance(t.env.settings.stager.checkInterval + 1);
        assert.equal((await stager.runCycle(t.signal)).done, 2);
        assert.deepEqual((await jobs(t, 6, 7)).map((j) => j.subStatus), ['done', 'done']);
      });
    });
  }

  test('a check that throws after a successful trigger keeps the job transferring', async () => {
    const plugin: StagerPlugin = {
      triggerStageOut: async () => succeeded(),
      checkStageOutStatus: async () => {
        throw new Error('status service down');
      },
      zipOutput: async () => succeeded(),
    };
    await withEnv(withPlugin(plugin), async (t) => {
      await t.store.insertJobs([jobToTransfer(8)]);
      assert.equal((await new Stager(t.env).runCycle(t.signal)).errors, 1);
      const job = await t.store.getJob(8);
      assert.equal(job.subStatus, 'transferring', 'the trigger is not repeated');
      assert.equal(job.stagerLock, null);
    });
  });

  test("one queue's broken plugin does not stop the other queues", async () => {
    const queues = [testQueue({ queueName: 'BROKEN' }), testQueue({ queueName: 'GOOD' })];
    const broken = pluginDoing<StagerPlugin>(stagerMethods, async () => {
      throw new Error('broken');
    });
    await withEnv({ queues, plugins: { BROKEN: { stager: broken }, GOOD: { stager: new DummyStager() } } }, async (t) => {
      await t.store.insertJobs([jobToTransfer(9, 'BROKEN'), jobToTransfer(10, 'GOOD')]);
      const report = await new Stager(t.env).runCycle(t.signal);
      assert.equal(report.errors, 1);
      assert.equal(report.done, 1);
      assert.equal((await t.store.getJob(10)).subStatus, 'done');
    });
  });
});
