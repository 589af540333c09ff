// The job fetcher over a real SqliteStore and a recording job source.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { JobSourceError } from '../communicator/index.js';
import { testQueue } from '../../test/support/plugins/plugin-fixtures.js';
import { FileSpec, JobSpec } from '../spec/index.js';
import { JobFetcher } from './job-fetcher.js';
import { fetchedJob, jobSideEnv, type JobSideEnv, type JobSideEnvOptions } from '../../test/support/agents/job-side-fixtures.js';

async function withEnv(options: JobSideEnvOptions, body: (t: JobSideEnv) => Promise<void>): Promise<void> {
  const t = await jobSideEnv(options);
  try {
    await body(t);
  } finally {
    await t.cleanup();
  }
}

/** A job as a source hands it out: PandaID, parameters and an input file, nothing of harvester's state. */
function sourceJob(PandaID: number): JobSpec {
  const job = new JobSpec({ PandaID, jobParams: { transformation: 'run.sh' } });
  job.addInFile(new FileSpec({ lfn: `in.${PandaID}`, fileType: 'input' }));
  return job;
}

/** A source that hands out PandaIDs from `first` on, as many as asked. */
function countingSource(first: number): (request: { nJobs: number }) => Promise<JobSpec[]> {
  let next = first;
  return async ({ nJobs }) => Array.from({ length: nJobs }, () => sourceJob(next++));
}

describe('JobFetcher', () => {
  test('asks the source for a queue with its names and records the jobs as starting/fetched with their files', async () => {
    const queue = testQueue({ queueName: 'Q1', siteName: 'SITE1', prodSourceLabel: 'test', nQueueLimitJob: 2, extra: { ddmEndpointIn: 'EP_IN' } });
    await withEnv({ queues: [queue] }, async (t) => {
      t.source.onGetJobs = countingSource(100);
      const report = await new JobFetcher(t.env).runCycle(t.signal);
      assert.equal(report.fetched, 2);
      assert.deepEqual(t.source.getJobsCalls, [
        { siteName: 'SITE1', queueName: 'Q1', nodeName: 'testhost-1', prodSourceLabel: 'test', computingElement: 'Q1', nJobs: 2, ddmEndpointIn: 'EP_IN' },
      ]);
      const stored = await t.store.getJobs([100, 101]);
      assert.equal(stored.length, 2);
      for (const job of stored) {
        assert.deepEqual([job.computingSite, job.status, job.subStatus], ['Q1', 'starting', 'fetched']);
        assert.equal(job.creationTime?.getTime(), t.clock.now().getTime());
        assert.ok(job.propagatorTime !== null && job.propagatorTime < t.clock.now(), 'PanDA is told the job is starting');
        assert.equal(job.inFiles.length, 1);
      }
    });
  });

  test('nQueueLimitJob counts the jobs still waiting for a worker, and maxJobs caps one cycle', async () => {
    const queue = testQueue({ nQueueLimitJob: 5 });
    await withEnv({ queues: [queue], settings: { jobfetcher: { maxJobs: 10 } } }, async (t) => {
      const waiting = [fetchedJob(1), fetchedJob(2), fetchedJob(3)];
      waiting[1]!.subStatus = 'prepared';
      waiting[2]!.subStatus = 'preparing';
      const running = fetchedJob(4);
      running.subStatus = 'running';
      await t.store.insertJobs([...waiting, running]);
      t.source.onGetJobs = countingSource(100);
      const fetcher = new JobFetcher(t.env);
      assert.equal((await fetcher.runCycle(t.signal)).fetched, 2);
      assert.equal(t.source.getJobsCalls[0]!.nJobs, 2, 'room for 5 minus 3 waiting; the running job does not count');
      assert.equal((await fetcher.runCycle(t.signal)).fetched, 0);
      assert.equal(t.source.getJobsCalls.length, 1, 'a full queue does not ask the source');
    });
    await withEnv({ queues: [testQueue({ nQueueLimitJob: 50 })], settings: { jobfetcher: { maxJobs: 4 } } }, async (t) => {
      t.source.onGetJobs = countingSource(200);
      await new JobFetcher(t.env).runCycle(t.signal);
      assert.equal(t.source.getJobsCalls[0]!.nJobs, 4);
    });
  });

  test('jobs the store already holds are skipped and the others inserted', async () => {
    await withEnv({}, async (t) => {
      const held = fetchedJob(7);
      held.subStatus = 'running';
      await t.store.insertJobs([held]);
      t.source.onGetJobs = async () => [sourceJob(6), sourceJob(7), sourceJob(8), sourceJob(8)];
      const report = await new JobFetcher(t.env).runCycle(t.signal);
      assert.equal(report.fetched, 2);
      assert.equal(report.duplicates, 2);
      assert.deepEqual((await t.store.getJobs([6, 8])).map((j) => j.subStatus), ['fetched', 'fetched']);
      assert.equal((await t.store.getJob(7)).subStatus, 'running', 'the job held is not touched');
      assert.ok(t.log.problems('already in the store').some((l) => (l.PandaIDs as number[]).includes(7)));
    });
  });

  test('a NoJob queue is not asked for jobs', async () => {
    await withEnv({ queues: [testQueue({ mapType: 'NoJob' })] }, async (t) => {
      t.source.onGetJobs = countingSource(1);
      assert.equal((await new JobFetcher(t.env).runCycle(t.signal)).fetched, 0);
      assert.equal(t.source.getJobsCalls.length, 0);
    });
  });

  test("a source failing for one queue is logged and counted; the other queues get their jobs", async () => {
    const queues = [testQueue({ queueName: 'DOWN' }), testQueue({ queueName: 'UP', nQueueLimitJob: 1 })];
    await withEnv({ queues }, async (t) => {
      t.source.onGetJobs = async (request) => {
        if (request.queueName === 'DOWN') throw new JobSourceError('getJob', 'server unreachable');
        return [sourceJob(50)];
      };
      const report = await new JobFetcher(t.env).runCycle(t.signal);
      assert.deepEqual([report.errors, report.fetched], [1, 1]);
      assert.equal((await t.store.getJob(50)).computingSite, 'UP');
      assert.ok(t.log.problems('getting jobs failed').some((l) => l.queue === 'DOWN'));
    });
  });
});
