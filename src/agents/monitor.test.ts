// The monitor agent over a real SqliteStore: real local processes submitted by the submitter agent, the dummy
// batch system, and monitor doubles that throw, hang or answer nonsense, with the clock moved past timeouts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DummyMonitor,
  DummySubmitter,
  LocalProcessMonitor,
  LocalProcessSubmitter,
  retryLater,
  succeeded,
  type FileToStageOut,
  type Messenger,
  type Outcome,
  type WorkerCheck,
} from '../plugins/index.js';
import { defaultAgentSettings } from '../config/index.js';
import { JobSpec, type WorkerStatus, type WorkSpec } from '../spec/index.js';
import { multiWorkerJobStatus } from './jobs-follow-worker.js';
import { Monitor } from './monitor.js';
import { Submitter } from './submitter.js';
import {
  checkAs,
  hang,
  insertPreparedJobs,
  insertWorker,
  MonitorDouble,
  withWorkerSideEnv,
  workerQueue,
  type WorkerSideEnv,
} from '../../test/support/agents/worker-side-fixtures.js';

/** Moves past the monitor's checkInterval and runs a cycle. */
async function nextCheck(w: WorkerSideEnv): Promise<Readonly<Record<string, number>>> {
  w.clock.advance(w.env.settings.monitor.checkInterval + 1);
  return new Monitor(w.env).runCycle(w.signal);
}

/** Checks until no worker is submitted or running any more (the payloads here end within a second). */
async function checkUntilFinal(w: WorkerSideEnv): Promise<WorkSpec[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    await nextCheck(w);
    const workers = await w.store.listWorkers({ withJobs: true });
    if (workers.every((x) => x.isFinalStatus())) return workers;
    if (Date.now() > deadline) assert.fail(`workers still ${workers.map((x) => x.status).join(',')} after 10 s`);
    await sleep(50);
  }
}

async function theWorker(w: WorkerSideEnv): Promise<WorkSpec> {
  const [worker] = await w.store.listWorkers({ withJobs: true });
  assert.ok(worker !== undefined, 'a worker in the store');
  return worker;
}

/** A running worker with one running job, last checked now. */
async function runningWorker(w: WorkerSideEnv): Promise<WorkSpec> {
  const job = new JobSpec({ computingSite: 'TEST_QUEUE', status: 'running', subStatus: 'running' });
  await w.store.insertJobs([job]);
  const now = w.clock.now();
  return insertWorker(w.store, { status: 'running', submitTime: now, checkTime: now, batchID: 'b1' }, [job]);
}

describe('Monitor', () => {
  test("a worker whose submission never reached the batch system (answered 'ready', no batchID) goes back to the submitter, its job counting the attempt; one with a batchID keeps its status", async () => {
    const monitor = new MonitorDouble(checkAs('ready', 'never reached SLURM: to be submitted again'));
    await withWorkerSideEnv({ plugins: { TEST_QUEUE: { monitor } } }, async (w) => {
      const now = w.clock.now();
      const jobs = [0, 1].map(() => new JobSpec({ computingSite: 'TEST_QUEUE', status: 'starting', subStatus: 'submitted', submissionAttempts: 1 }));
      await w.store.insertJobs(jobs);
      const lost = await insertWorker(w.store, { status: 'submitted', submitTime: now, batchID: null }, [jobs[0]!]);
      const known = await insertWorker(w.store, { status: 'submitted', submitTime: now, batchID: '77' }, [jobs[1]!]);
      await nextCheck(w);
      const byID = new Map((await w.store.listWorkers({ withJobs: true })).map((x) => [x.workerID, x]));
      const again = byID.get(lost.workerID)!;
      assert.equal(again.status, 'ready', 'sent back to the submitter');
      assert.equal(again.submitTime, null);
      assert.match(again.diagMessage ?? '', /never reached SLURM/);
      assert.deepEqual([again.jobSpecs[0]!.status, again.jobSpecs[0]!.subStatus, again.jobSpecs[0]!.submissionAttempts], ['starting', 'ready', 2]);
      assert.equal(byID.get(known.workerID)!.status, 'submitted', 'a worker with a batch job is never un-submitted');
    });
  });

  test("a worker answered 'ready' whose jobs used up maxSubmissionAttempts fails instead of looping", async () => {
    const monitor = new MonitorDouble(checkAs('ready', 'never reached SLURM'));
    await withWorkerSideEnv({ plugins: { TEST_QUEUE: { monitor } } }, async (w) => {
      const job = new JobSpec({ computingSite: 'TEST_QUEUE', status: 'starting', subStatus: 'submitted', submissionAttempts: w.env.settings.submitter.maxSubmissionAttempts });
      await w.store.insertJobs([job]);
      await insertWorker(w.store, { status: 'submitted', submitTime: w.clock.now(), batchID: null }, [job]);
      await nextCheck(w);
      const worker = await theWorker(w);
      assert.equal(worker.status, 'failed');
      assert.match(worker.diagMessage ?? '', /not submitted again: its jobs had \d+ submission attempts/);
      assert.equal(worker.jobSpecs[0]!.status, 'failed');
    });
  });

  test("a worker answered 'ready' is sent back while its jobs are under the queue's own maxSubmissionAttempts", async () => {
    const monitor = new MonitorDouble(checkAs('ready', 'never reached SLURM'));
    const queueCap = defaultAgentSettings.submitter.maxSubmissionAttempts + 2;
    await withWorkerSideEnv({ queues: [workerQueue({ maxSubmissionAttempts: queueCap })], plugins: { TEST_QUEUE: { monitor } } }, async (w) => {
      const attempts = defaultAgentSettings.submitter.maxSubmissionAttempts;
      const job = new JobSpec({ computingSite: 'TEST_QUEUE', status: 'starting', subStatus: 'submitted', submissionAttempts: attempts });
      await w.store.insertJobs([job]);
      await insertWorker(w.store, { status: 'submitted', submitTime: w.clock.now(), batchID: null }, [job]);
      await nextCheck(w);
      const worker = await theWorker(w);
      assert.equal(worker.status, 'ready', 'the agent setting is used up, the queue cap is not');
      assert.equal(worker.jobSpecs[0]!.submissionAttempts, attempts + 1);
    });
  });

  test('real local processes: a payload exiting 0 finishes its worker and job, one exiting 3 fails them', async () => {
    const plugins = { TEST_QUEUE: { submitter: new LocalProcessSubmitter(), monitor: new LocalProcessMonitor() } };
    await withWorkerSideEnv({ plugins }, async (w) => {
      const [okJob, badJob] = await insertPreparedJobs(w.store, ['echo hi; exit 0', 'exit 3']);
      assert.equal((await new Submitter(w.env).runCycle(w.signal)).submitted, 2);

      const workers = await checkUntilFinal(w);
      const byJob = new Map(workers.map((x) => [x.jobSpecs[0]!.PandaID, x]));
      const ok = byJob.get(okJob!)!;
      const bad = byJob.get(badJob!)!;
      assert.equal(ok.status, 'finished');
      assert.equal(ok.nativeExitCode, 0);
      assert.equal(bad.status, 'failed');
      assert.equal(bad.nativeExitCode, 3);
      assert.match(bad.diagMessage ?? '', /exited with code 3/);
      assert.equal(await readFile(join(ok.accessPoint!, 'payload.stdout'), 'utf8'), 'hi\n');
      for (const x of [ok, bad]) {
        assert.ok(x.endTime !== null);
        assert.equal(x.lockedBy, null);
        assert.ok(x.lastUpdate !== null, 'the propagator reports it');
      }
      assert.deepEqual([ok.jobSpecs[0]!.status, ok.jobSpecs[0]!.subStatus], ['finished', 'to_transfer']);
      assert.deepEqual([bad.jobSpecs[0]!.status, bad.jobSpecs[0]!.subStatus], ['failed', 'to_transfer']);
    });
  });

  test('dummy batch system: the job follows its worker to running, then to finished', async () => {
    const plugins = { TEST_QUEUE: { submitter: new DummySubmitter(), monitor: new DummyMonitor() } };
    await withWorkerSideEnv({ plugins }, async (w) => {
      await insertPreparedJobs(w.store, ['echo 1']);
      await new Submitter(w.env).runCycle(w.signal);
      const submitted = await theWorker(w);
      const statusFile = join(submitted.accessPoint!, 'status.txt');

      await writeFile(statusFile, 'running\n');
      assert.equal((await nextCheck(w)).running, 1);
      const running = await theWorker(w);
      assert.equal(running.status, 'running');
      assert.ok(running.startTime !== null);
      assert.deepEqual([running.jobSpecs[0]!.status, running.jobSpecs[0]!.subStatus], ['running', 'running']);
      assert.ok(running.jobSpecs[0]!.startTime !== null);

      await writeFile(statusFile, 'finished\n');
      assert.equal((await nextCheck(w)).finished, 1);
      const finished = await theWorker(w);
      assert.equal(finished.status, 'finished');
      assert.deepEqual([finished.jobSpecs[0]!.status, finished.jobSpecs[0]!.subStatus], ['finished', 'to_transfer']);
    });
  });

  const noVerdicts: [string, () => Promise<Outcome<WorkerCheck[]>>, boolean][] = [
    ['throws', async () => Promise.reject(new Error('squeue: connection refused')), true],
    ['hangs', () => hang(), true],
    ['answers checks of the wrong length', async () => succeeded([]), true],
    ['answers retry', async () => retryLater('squeue busy'), false],
  ];
  for (const [what, answer, isError] of noVerdicts) {
    test(`a monitor that ${what} leaves the worker as it is until checkTimeout passes, then it is missed`, async () => {
      const monitor = new MonitorDouble(answer);
      await withWorkerSideEnv({ plugins: { TEST_QUEUE: { monitor } }, settings: { monitor: { pluginTimeout: 0.2, checkTimeout: 300 } } }, async (w) => {
        const worker = await runningWorker(w);
        const first = await new Monitor(w.env).runCycle(w.signal);
        assert.equal(first.checked, 1);
        assert.equal(first.errors, isError ? 1 : 0);
        const kept = await theWorker(w);
        assert.equal(kept.status, 'running');
        assert.equal(kept.lockedBy, null, 'released for the next check');

        w.clock.advance(300);
        const second = await nextCheck(w);
        assert.equal(second.missed, 1);
        const missed = await theWorker(w);
        assert.equal(missed.workerID, worker.workerID);
        assert.equal(missed.status, 'missed');
        assert.match(missed.diagMessage ?? '', /no verdict from the monitor .*checkTimeout 300 s/);
        assert.deepEqual([missed.jobSpecs[0]!.status, missed.jobSpecs[0]!.subStatus], ['missed', 'missed']);
        assert.equal(monitor.calls.length, 2);
      });
    });
  }

  test('OneToMany: a job follows all its workers — one failing while a sibling runs leaves it running; it ends finished when the last one finishes', async () => {
    const verdicts = new Map<number, WorkerStatus>();
    const monitor = new MonitorDouble(async (workSpecs) => succeeded(workSpecs.map((x) => ({ status: verdicts.get(x.workerID as number)!, diag: '' }))));
    await withWorkerSideEnv({ plugins: { TEST_QUEUE: { monitor } } }, async (w) => {
      const job = new JobSpec({ computingSite: 'TEST_QUEUE', status: 'running', subStatus: 'running' });
      await w.store.insertJobs([job]);
      const now = w.clock.now();
      const shared = { status: 'running', mapType: 'OneToMany', submitTime: now, checkTime: now } as const;
      const first = await insertWorker(w.store, { ...shared, batchID: 'b1' }, [job]);
      const second = await insertWorker(w.store, { ...shared, batchID: 'b2' }, [job]);

      verdicts.set(first.workerID!, 'failed').set(second.workerID!, 'running');
      await nextCheck(w);
      let stored = await w.store.getJob(job.PandaID!);
      assert.deepEqual([stored.status, stored.subStatus], ['running', 'running'], 'a sibling still runs: the job is not failed');

      verdicts.set(second.workerID!, 'finished');
      await nextCheck(w);
      assert.deepEqual(monitor.calls.at(-1), [second.workerID], 'the failed worker is not checked again; its status comes from the store');
      stored = await w.store.getJob(job.PandaID!);
      assert.deepEqual([stored.status, stored.subStatus], ['finished', 'to_transfer'], 'all done and one finished: finished');
    });
  });

  test("OneToMany: when every worker of a job failed, the job fails; a job's workers all cancelled or missed: cancelled", () => {
    assert.equal(multiWorkerJobStatus(['failed', 'failed'], true), 'failed');
    assert.equal(multiWorkerJobStatus(['failed', 'finished', 'missed'], true), 'finished');
    assert.equal(multiWorkerJobStatus(['cancelled', 'missed'], true), 'cancelled');
    assert.equal(multiWorkerJobStatus(['failed', 'submitted'], false), 'submitted', 'alive and never ran');
    assert.equal(multiWorkerJobStatus(['failed', 'submitted'], true), 'running', 'alive and ran before');
    assert.equal(multiWorkerJobStatus(['submitted', 'running'], false), 'running');
  });

  test('a worker still submitted after workerQueueTimeLimit is missed', async () => {
    const monitor = new MonitorDouble(checkAs('submitted'));
    await withWorkerSideEnv({ plugins: { TEST_QUEUE: { monitor } }, settings: { monitor: { workerQueueTimeLimit: 600 } } }, async (w) => {
      await insertWorker(w.store, { status: 'submitted', submitTime: w.clock.now() });
      assert.equal((await new Monitor(w.env).runCycle(w.signal)).missed, 0);
      assert.equal((await theWorker(w)).status, 'submitted');
      w.clock.advance(600);
      assert.equal((await nextCheck(w)).missed, 1);
      const missed = await theWorker(w);
      assert.equal(missed.status, 'missed');
      assert.match(missed.diagMessage ?? '', /still submitted \d+ s after submission \(workerQueueTimeLimit 600 s\)/);
    });
  });

  test("with a messenger, the payload's outputs become the job's output files; without them known the job does not move on", async () => {
    let answer: () => Promise<Record<string, FileToStageOut[]>> = async () => {
      throw new Error('cannot read the event status dump');
    };
    const messenger = { getFilesToStageOut: async () => answer() } as unknown as Messenger;
    const monitor = new MonitorDouble(checkAs('finished'));
    await withWorkerSideEnv({ plugins: { TEST_QUEUE: { monitor, messenger } } }, async (w) => {
      const worker = await runningWorker(w);
      const PandaID = worker.jobSpecs[0]!.PandaID!;
      const first = await new Monitor(w.env).runCycle(w.signal);
      assert.equal(first.errors, 1);
      assert.equal((await theWorker(w)).status, 'running', 'kept until its outputs are known');

      answer = async () => ({ [String(PandaID)]: [{ path: '/data/out/result.root', type: 'output', fsize: 42, chksum: 'ad:0000abcd' }] });
      assert.equal((await nextCheck(w)).finished, 1);
      const job = await w.store.getJob(PandaID);
      assert.deepEqual([job.status, job.subStatus], ['finished', 'to_transfer']);
      assert.deepEqual(
        job.outFiles.map((f) => [f.lfn, f.path, f.fileType, f.fsize, f.chksum, f.status, f.workerID]),
        [['result.root', '/data/out/result.root', 'output', 42, 'ad:0000abcd', 'defined', worker.workerID]],
      );
    });
  });

  test('a queue without a monitor plugin is skipped and its workers are left alone', async () => {
    await withWorkerSideEnv({}, async (w) => {
      await insertWorker(w.store, { status: 'running' });
      const report = await new Monitor(w.env).runCycle(w.signal);
      assert.equal(report.checked, 0);
      assert.equal((await theWorker(w)).lockedBy, null);
    });
  });
});
