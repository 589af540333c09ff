// The preparator over a real SqliteStore: the dummy plugin, no plugin, an asynchronous stage-in, and plugins
// that fail, throw, hang or answer nonsense.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DummyPreparator, failed, retryLater, succeeded, type Outcome, type Preparator as PreparatorPlugin } from '../plugins/index.js';
import { testQueue } from '../../test/support/plugins/plugin-fixtures.js';
import type { JobSpec } from '../spec/index.js';
import { Preparator, ERR_STAGEIN_FAILED } from './preparator.js';
import { fetchedJob, hang, jobSideEnv, pluginDoing, type JobSideEnv, type JobSideEnvOptions } from '../../test/support/agents/job-side-fixtures.js';

const preparatorMethods = ['triggerPreparation', 'checkStageInStatus', 'resolveInputPaths'];

/** A preparator whose behaviour the test swaps between cycles. */
class SwappablePreparator implements PreparatorPlugin {
  constructor(public current: PreparatorPlugin) {}
  triggerPreparation: PreparatorPlugin['triggerPreparation'] = (ctx, job) => this.current.triggerPreparation(ctx, job);
  checkStageInStatus: PreparatorPlugin['checkStageInStatus'] = (ctx, job) => this.current.checkStageInStatus(ctx, job);
  resolveInputPaths: PreparatorPlugin['resolveInputPaths'] = (ctx, job) => this.current.resolveInputPaths(ctx, job);
}

async function withEnv(options: JobSideEnvOptions, body: (t: JobSideEnv) => Promise<void>): Promise<void> {
  const t = await jobSideEnv(options);
  try {
    await body(t);
  } finally {
    await t.cleanup();
  }
}

const withPlugin = (plugin: PreparatorPlugin, settings: { pluginTimeout?: number } = {}): JobSideEnvOptions => ({
  plugins: { TEST_QUEUE: { preparator: plugin } },
  settings: { preparator: settings },
});

async function jobs(t: JobSideEnv, ...ids: number[]): Promise<JobSpec[]> {
  return t.store.getJobs(ids);
}

describe('Preparator', () => {
  test('the dummy preparator takes fetched jobs to prepared in one cycle, with input paths set and files ready', async () => {
    await withEnv(withPlugin(new DummyPreparator({ localBasePath: '/scratch' })), async (t) => {
      await t.store.insertJobs([fetchedJob(1), fetchedJob(2, 'TEST_QUEUE', ['a.root', 'b.root'])]);
      const report = await new Preparator(t.env).runCycle(t.signal);
      assert.equal(report.prepared, 2);
      assert.equal(report.errors, 0);
      const [one, two] = await jobs(t, 1, 2);
      assert.deepEqual([one!.subStatus, two!.subStatus], ['prepared', 'prepared']);
      assert.deepEqual(two!.inFiles.map((f) => [f.path, f.status]), [['/scratch/a.root', 'ready'], ['/scratch/b.root', 'ready']]);
      assert.equal(one!.lockedBy, null, 'the lock is released');
    });
  });

  test('a queue without a preparator plugin has its fetched jobs prepared directly', async () => {
    await withEnv({}, async (t) => {
      await t.store.insertJobs([fetchedJob(3)]);
      const report = await new Preparator(t.env).runCycle(t.signal);
      assert.equal(report.prepared, 1);
      assert.equal((await t.store.getJob(3)).subStatus, 'prepared');
    });
  });

  test('an asynchronous stage-in leaves the job preparing, checked again only after checkInterval', async () => {
    let transferDone = false;
    const plugin: PreparatorPlugin = {
      triggerPreparation: async () => succeeded(),
      checkStageInStatus: async () => (transferDone ? succeeded() : retryLater('transfer in progress')),
      resolveInputPaths: async () => succeeded(),
    };
    await withEnv({ ...withPlugin(plugin), settings: { preparator: { checkInterval: 60 } } }, async (t) => {
      await t.store.insertJobs([fetchedJob(4)]);
      const preparator = new Preparator(t.env);
      assert.equal((await preparator.runCycle(t.signal)).preparing, 1);
      assert.equal((await t.store.getJob(4)).subStatus, 'preparing');
      transferDone = true;
      assert.equal((await preparator.runCycle(t.signal)).prepared, 0, 'not due before checkInterval');
      t.clock.advance(61);
      assert.equal((await preparator.runCycle(t.signal)).prepared, 1);
      assert.equal((await t.store.getJob(4)).subStatus, 'prepared');
    });
  });

  test('a failed stage-in fails the job with the pilot error and triggers its propagation', async () => {
    const plugin: PreparatorPlugin = {
      triggerPreparation: async () => failed('no such dataset'),
      checkStageInStatus: async () => succeeded(),
      resolveInputPaths: async () => succeeded(),
    };
    await withEnv(withPlugin(plugin), async (t) => {
      await t.store.insertJobs([fetchedJob(5)]);
      const report = await new Preparator(t.env).runCycle(t.signal);
      assert.equal(report.failed, 1);
      const job = await t.store.getJob(5);
      assert.equal(job.status, 'failed');
      assert.equal(job.subStatus, 'failed_to_prepare');
      assert.equal(job.getOneAttribute('pilotErrorCode'), ERR_STAGEIN_FAILED);
      assert.match(String(job.getOneAttribute('pilotErrorDiag')), /no such dataset/);
      assert.ok(job.propagatorTime !== null && job.propagatorTime < t.clock.now(), 'propagation is due');
    });
  });

  const brokenPlugins: ReadonlyArray<[string, string, () => PreparatorPlugin]> = [
    ['throws', 'threw', () => pluginDoing(preparatorMethods, async (m) => { throw new Error(`${m} exploded`); })],
    ['hangs', 'timeout', () => pluginDoing(preparatorMethods, () => hang())],
    ['answers something that is not an Outcome', 'malformed', () => pluginDoing(preparatorMethods, async () => ({ ok: true }))],
  ];
  for (const [what, failure, make] of brokenPlugins) {
    test(`a plugin that ${what} is logged with the job's id and counted; the jobs are released and the next cycle works`, async () => {
      const plugin = new SwappablePreparator(make());
      await withEnv(withPlugin(plugin, { pluginTimeout: 0.2 }), async (t) => {
        await t.store.insertJobs([fetchedJob(6), fetchedJob(7)]);
        const preparator = new Preparator(t.env);
        const report = await preparator.runCycle(t.signal);
        assert.ok(report.errors! >= 1);
        assert.equal(report.prepared, 0);
        const problems = t.log.problems('preparator plugin call failed');
        assert.ok(problems.some((l) => l.PandaID === 6 && l.failure === failure && l.method === 'triggerPreparation' && l.queue === 'TEST_QUEUE'));
        for (const job of await jobs(t, 6, 7)) {
          assert.equal(job.subStatus, 'fetched');
          assert.equal(job.lockedBy, null, `job ${job.PandaID} is released`);
        }
        plugin.current = new DummyPreparator();
        t.clock.advance(t.env.settings.preparator.checkInterval + 1);
        const next = await preparator.runCycle(t.signal);
        assert.equal(next.prepared, 2);
        assert.deepEqual((await jobs(t, 6, 7)).map((j) => j.subStatus), ['prepared', 'prepared']);
      });
    });
  }

  test('after a plugin call timed out, the rest of the batch is not tried this cycle and goes first next cycle', async () => {
    const called: number[] = [];
    const plugin = new SwappablePreparator(
      pluginDoing(preparatorMethods, () => hang()),
    );
    const recording: PreparatorPlugin = {
      triggerPreparation: async (ctx, job) => (called.push(job.PandaID as number), plugin.triggerPreparation(ctx, job)),
      checkStageInStatus: (ctx, job) => plugin.checkStageInStatus(ctx, job),
      resolveInputPaths: (ctx, job) => plugin.resolveInputPaths(ctx, job),
    };
    await withEnv(withPlugin(recording, { pluginTimeout: 0.2 }), async (t) => {
      await t.store.insertJobs([fetchedJob(8), fetchedJob(9), fetchedJob(10)]);
      const preparator = new Preparator(t.env);
      const report = await preparator.runCycle(t.signal);
      assert.deepEqual(called, [8], 'one hung call, no more');
      assert.equal(report.errors, 1);
      assert.equal(report.deferred, 2);
      plugin.current = new DummyPreparator();
      // Without moving the clock, only the jobs not tried are due again.
      called.length = 0;
      const next = await preparator.runCycle(t.signal);
      assert.deepEqual(called, [9, 10]);
      assert.equal(next.prepared, 2);
    });
  });

  test('a job whose plugin set a value the database cannot keep is released unchanged; the others are written', async () => {
    const plugin: PreparatorPlugin = {
      triggerPreparation: async (_ctx, job): Promise<Outcome> => {
        if (job.PandaID === 11) job.nCore = 1.5;
        return succeeded();
      },
      checkStageInStatus: async () => succeeded(),
      resolveInputPaths: async () => succeeded(),
    };
    await withEnv(withPlugin(plugin), async (t) => {
      await t.store.insertJobs([fetchedJob(11), fetchedJob(12)]);
      const report = await new Preparator(t.env).runCycle(t.signal);
      assert.equal(report.refused, 1);
      const [bad, good] = await jobs(t, 11, 12);
      assert.equal(bad!.subStatus, 'fetched');
      assert.equal(bad!.lockedBy, null);
      assert.equal(good!.subStatus, 'prepared');
      assert.ok(t.log.problems('the database refused a value').some((l) => l.PandaID === 11 && l.field === 'nCore'));
    });
  });

  test('an agent stopped during a cycle starts no new job and releases the jobs it claimed', async () => {
    const controller = new AbortController();
    const dummy = new DummyPreparator();
    const plugin: PreparatorPlugin = {
      triggerPreparation: async (ctx, job) => {
        controller.abort(new Error('stop requested'));
        return dummy.triggerPreparation(ctx, job);
      },
      checkStageInStatus: (ctx, job) => dummy.checkStageInStatus(ctx, job),
      resolveInputPaths: (ctx, job) => dummy.resolveInputPaths(ctx, job),
    };
    await withEnv(withPlugin(plugin), async (t) => {
      await t.store.insertJobs([fetchedJob(13), fetchedJob(16)]);
      const report = await new Preparator(t.env).runCycle(controller.signal);
      assert.equal(report.deferred, 1);
      const [first, second] = await jobs(t, 13, 16);
      assert.notEqual(first!.subStatus, 'fetched', 'the job in progress finished its step');
      assert.equal(second!.subStatus, 'fetched');
      assert.deepEqual([first!.lockedBy, second!.lockedBy], [null, null]);
    });
  });

  test("one queue's broken plugin does not stop the other queues", async () => {
    const queues = [testQueue({ queueName: 'BROKEN' }), testQueue({ queueName: 'GOOD' })];
    const broken = pluginDoing<PreparatorPlugin>(preparatorMethods, async () => {
      throw new Error('broken');
    });
    await withEnv({ queues, plugins: { BROKEN: { preparator: broken }, GOOD: { preparator: new DummyPreparator() } } }, async (t) => {
      await t.store.insertJobs([fetchedJob(14, 'BROKEN'), fetchedJob(15, 'GOOD')]);
      const report = await new Preparator(t.env).runCycle(t.signal);
      assert.equal(report.errors, 1);
      assert.equal(report.prepared, 1);
      assert.equal((await t.store.getJob(15)).subStatus, 'prepared');
    });
  });
});
