// The propagator over a real SqliteStore and a recording job source.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { JobSourceError, type HarvesterDialogs, type HarvesterReports } from '../communicator/index.js';
import { JobSpec, WorkSpec, type WorkerStatus } from '../spec/index.js';
import type { NewDialogMessage } from '../store/index.js';
import { ERR_PANDA_KILL, Propagator } from './propagator.js';
import { jobSideEnv, jobTaken, RecordingJobSource, type JobSideEnv } from '../../test/support/agents/job-side-fixtures.js';

async function withEnv(body: (t: JobSideEnv) => Promise<void>): Promise<void> {
  const t = await jobSideEnv({ settings: { propagator: { updateInterval: 60 } } });
  try {
    await body(t);
  } finally {
    await t.cleanup();
  }
}

/** A job whose propagation was triggered. */
function triggeredJob(t: JobSideEnv, PandaID: number, status: JobSpec['status'], subStatus: JobSpec['subStatus']): JobSpec {
  const job = new JobSpec({ PandaID, computingSite: 'TEST_QUEUE', status, subStatus });
  job.triggerPropagation(t.clock.now());
  return job;
}

function triggeredWorker(t: JobSideEnv, status: WorkerStatus): WorkSpec {
  const worker = new WorkSpec({ computingSite: 'TEST_QUEUE', queueName: 'TEST_QUEUE', status });
  worker.triggerPropagation(t.clock.now());
  return worker;
}

describe('Propagator', () => {
  test('reports triggered jobs; a final job done is not reported again, a running one is after updateInterval', async () => {
    await withEnv(async (t) => {
      await t.store.insertJobs([triggeredJob(t, 1, 'finished', 'done'), triggeredJob(t, 2, 'running', 'running'), triggeredJob(t, 3, 'finished', 'to_transfer')]);
      const propagator = new Propagator(t.env);
      const report = await propagator.runCycle(t.signal);
      assert.deepEqual([report.jobsReported, report.jobsCompleted], [3, 1]);
      assert.deepEqual(t.source.updateJobsCalls, [[1, 2, 3]]);
      const [done, running, staging] = await t.store.getJobs([1, 2, 3]);
      assert.equal(done!.propagatorTime, null, 'propagation disabled');
      assert.notEqual(running!.propagatorTime, null);
      assert.notEqual(staging!.propagatorTime, null, 'a job still staging out is reported again (as transferring)');
      assert.equal(running!.propagatorLock, null, 'the lock is released');
      await propagator.runCycle(t.signal);
      assert.equal(t.source.updateJobsCalls.length, 1, 'nothing due before updateInterval');
      t.clock.advance(61);
      await propagator.runCycle(t.signal);
      assert.deepEqual(t.source.updateJobsCalls[1], [2, 3]);
    });
  });

  test('a JobSourceError is logged and counted; the jobs come back after updateInterval', async () => {
    await withEnv(async (t) => {
      await t.store.insertJobs([triggeredJob(t, 4, 'finished', 'done')]);
      t.source.onUpdateJobs = async () => {
        throw new JobSourceError('updateJobsInBulk', 'PanDA unreachable');
      };
      const propagator = new Propagator(t.env);
      const report = await propagator.runCycle(t.signal);
      assert.deepEqual([report.errors, report.jobsReported], [1, 0]);
      assert.ok(t.log.problems('reporting to the source failed').some((l) => l.method === 'updateJobs' && String(l.subject).includes('4')));
      const job = await t.store.getJob(4);
      assert.notEqual(job.propagatorTime, null, 'still to be reported');
      assert.equal(job.propagatorLock, null);
      t.source.onUpdateJobs = async (jobs) => jobs.map((j) => jobTaken(j.PandaID));
      t.clock.advance(61);
      assert.equal((await propagator.runCycle(t.signal)).jobsCompleted, 1);
      assert.equal((await t.store.getJob(4)).propagatorTime, null);
    });
  });

  test('a report the source refuses, or an answer of the wrong length, leaves the jobs to be reported again', async () => {
    await withEnv(async (t) => {
      await t.store.insertJobs([triggeredJob(t, 5, 'failed', 'done'), triggeredJob(t, 6, 'failed', 'done')]);
      t.source.onUpdateJobs = async () => [{ PandaID: 5, StatusCode: 30, ok: false, command: null, errorDiag: 'refused', response: {} }, jobTaken(6)];
      const propagator = new Propagator(t.env);
      const report = await propagator.runCycle(t.signal);
      assert.deepEqual([report.jobsRefused, report.jobsCompleted], [1, 1]);
      assert.ok(t.log.problems('refused the job report').some((l) => l.PandaID === 5 && l.StatusCode === 30));
      assert.notEqual((await t.store.getJob(5)).propagatorTime, null);
      t.source.onUpdateJobs = async () => [];
      t.clock.advance(61);
      assert.equal((await propagator.runCycle(t.signal)).errors, 1);
      assert.ok(t.log.problems('wrong number of results').length > 0);
      assert.notEqual((await t.store.getJob(5)).propagatorTime, null);
    });
  });

  test('reports triggered workers; final ones are not reported again; a JobSourceError brings them back later', async () => {
    await withEnv(async (t) => {
      const finished = triggeredWorker(t, 'finished');
      const running = triggeredWorker(t, 'running');
      await t.store.insertWorkers([finished, running]);
      t.source.onUpdateWorkers = async () => {
        throw new JobSourceError('updateWorkers', 'PanDA unreachable');
      };
      const propagator = new Propagator(t.env);
      assert.equal((await propagator.runCycle(t.signal)).errors, 1);
      assert.notEqual((await t.store.getWorker(finished.workerID!)).lastUpdate, null);
      t.source.onUpdateWorkers = async (workers) => workers.map((w) => ({ workerID: w.workerID, ok: true }));
      t.clock.advance(61);
      const report = await propagator.runCycle(t.signal);
      assert.deepEqual([report.workersReported, report.workersCompleted], [2, 1]);
      assert.equal((await t.store.getWorker(finished.workerID!)).lastUpdate, null);
      assert.notEqual((await t.store.getWorker(running.workerID!)).lastUpdate, null);
      assert.deepEqual(t.source.updateWorkersCalls.at(-1), [finished.workerID, running.workerID]);
    });
  });

  test('a kill command of the source requests a kill of the job\'s active workers, or cancels a job without one', async () => {
    await withEnv(async (t) => {
      await t.store.insertJobs([triggeredJob(t, 7, 'running', 'running'), triggeredJob(t, 8, 'starting', 'prepared')]);
      const worker = new WorkSpec({ computingSite: 'TEST_QUEUE', status: 'running' });
      worker.jobSpecs = [await t.store.getJob(7)];
      await t.store.insertWorkers([worker]);
      t.source.onUpdateJobs = async (jobs) => jobs.map((j) => jobTaken(j.PandaID, 'tobekilled'));
      const report = await new Propagator(t.env).runCycle(t.signal);
      assert.equal(report.killRequested, 2);
      assert.equal((await t.store.getWorker(worker.workerID!)).killTime?.getTime(), t.clock.now().getTime());
      assert.equal((await t.store.getJob(7)).status, 'running', 'the worker is killed first, then the job follows it');
      const cancelled = await t.store.getJob(8);
      assert.deepEqual([cancelled.status, cancelled.subStatus], ['cancelled', 'killed']);
      assert.equal(cancelled.getOneAttribute('pilotErrorCode'), ERR_PANDA_KILL);
      assert.ok(cancelled.propagatorTime !== null && cancelled.propagatorTime < t.clock.now(), 'the cancellation is reported next');
    });
  });

  test('a source taking harvester reports gets each queue\'s active worker counts and the service metrics every statsInterval', async () => {
    await withEnv(async (t) => {
      class ReportingSource extends RecordingJobSource implements HarvesterReports {
        readonly stats: [string, unknown][] = [];
        readonly metrics: unknown[][] = [];
        fail = false;
        async reportWorkerStats(siteName: string, stats: Readonly<Record<string, unknown>>): Promise<void> {
          if (this.fail) throw new JobSourceError('harvester/report_worker_statistics', 'PanDA unreachable');
          this.stats.push([siteName, stats]);
        }
        async updateServiceMetrics(metrics: readonly unknown[]): Promise<void> {
          this.metrics.push([...metrics]);
        }
      }
      const source = new ReportingSource();
      const worker = (status: WorkerStatus, resourceType: string): WorkSpec =>
        new WorkSpec({ computingSite: 'TEST_QUEUE', queueName: 'TEST_QUEUE', status, jobType: 'managed', resourceType });
      await t.store.insertWorkers([worker('running', 'SCORE'), worker('running', 'SCORE'), worker('submitted', 'MCORE'), worker('finished', 'SCORE')]);
      const propagator = new Propagator({ ...t.env, jobSource: source });
      assert.equal((await propagator.runCycle(t.signal)).statsReported, 1, 'at the first cycle');
      const queue = t.env.queues[0]!;
      assert.deepEqual(source.stats, [[queue.siteName, { managed: { SCORE: { submitted: 0, running: 2, idle: 0 }, MCORE: { submitted: 1, running: 0, idle: 0 } } }]]);
      const [[entry]] = source.metrics as [[[string, string, string]]];
      assert.match(entry[0], /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
      assert.deepEqual(Object.keys(JSON.parse(entry[2]) as object), ['rss_mib', 'memory_pc', 'cpu_pc']);
      await propagator.runCycle(t.signal);
      assert.equal(source.stats.length, 1, 'not again before statsInterval');
      t.clock.advance(300);
      source.fail = true;
      assert.equal((await propagator.runCycle(t.signal)).errors, 1, 'a failed report is counted');
      source.fail = false;
      assert.equal((await propagator.runCycle(t.signal)).statsReported, 1, 'and tried again at the next cycle');
    });
  });

  describe('dialog messages', () => {
    class DialogSource extends RecordingJobSource implements HarvesterDialogs {
      readonly sent: Record<string, unknown>[][] = [];
      fail = false;
      async addDialogs(dialogs: readonly Readonly<Record<string, unknown>>[]): Promise<void> {
        if (this.fail) throw new JobSourceError('harvester/add_dialogs', 'PanDA unreachable');
        this.sent.push(dialogs.map((d) => ({ ...d })));
      }
    }
    const message = (t: JobSideEnv, n: number): NewDialogMessage => ({
      moduleName: 'monitor',
      identifier: `queue=TEST_QUEUE workerID=${n}`,
      messageLevel: 'WARNING',
      diagMessage: `worker ${n} lost`,
      creationTime: t.clock.now(),
    });

    test('sends up to maxDialogs per cycle, oldest first, as harvester\'s DiagSpec dicts, and deletes what the source took', async () => {
      const t = await jobSideEnv({ settings: { propagator: { maxDialogs: 2 } } });
      try {
        await t.store.addDialogMessages([1, 2, 3].map((n) => message(t, n)), { keep: 100 });
        const source = new DialogSource();
        const propagator = new Propagator({ ...t.env, jobSource: source });
        assert.equal((await propagator.runCycle(t.signal)).dialogsSent, 2);
        assert.equal((await propagator.runCycle(t.signal)).dialogsSent, 1);
        assert.deepEqual(source.sent.map((call) => call.map((d) => d['diagMessage'])), [['worker 1 lost', 'worker 2 lost'], ['worker 3 lost']]);
        const [first] = source.sent[0]!;
        assert.deepEqual(Object.keys(first!), ['diagID', 'moduleName', 'identifier', 'creationTime', 'messageLevel', 'diagMessage']);
        assert.match(String(first!['creationTime']), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
        assert.equal((await propagator.runCycle(t.signal)).dialogsSent, 0, 'nothing left: deleted once sent');
        assert.equal(source.sent.length, 2);
      } finally {
        await t.cleanup();
      }
    });

    test('a failed send keeps the messages: they are sent after lockInterval', async () => {
      const t = await jobSideEnv({ settings: { propagator: { lockInterval: 600 } } });
      try {
        await t.store.addDialogMessages([message(t, 1)], { keep: 100 });
        const source = new DialogSource();
        source.fail = true;
        const propagator = new Propagator({ ...t.env, jobSource: source });
        assert.equal((await propagator.runCycle(t.signal)).errors, 1);
        assert.ok(t.log.problems('reporting to the source failed').some((l) => l.method === 'addDialogs'));
        source.fail = false;
        assert.equal((await propagator.runCycle(t.signal)).dialogsSent, 0, 'still claimed by the failed send');
        t.clock.advance(601);
        assert.equal((await propagator.runCycle(t.signal)).dialogsSent, 1);
        assert.deepEqual(source.sent.map((call) => call.map((d) => d['diagMessage'])), [['worker 1 lost']]);
      } finally {
        await t.cleanup();
      }
    });

    test('a source without dialogs (the embedded queue) is not asked, and the messages stay', async () => {
      await withEnv(async (t) => {
        await t.store.addDialogMessages([message(t, 1)], { keep: 100 });
        assert.equal((await new Propagator(t.env).runCycle(t.signal)).dialogsSent, 0);
        assert.equal((await t.store.claimDialogMessages({ owner: 'check', lockIntervalSec: 60, limit: 5 })).length, 1);
      });
    });
  });
});
