// The submitter agent over a real SqliteStore: dummy plugins, doubles that throw, hang, answer nonsense or
// lose the outcome, and the real LocalProcessSubmitter for a worker a dead process left 'ready'.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DummySubmitter, failed, LocalProcessSubmitter, retryLater, SharedFileMessenger, SimpleWorkerMaker, succeeded, type Outcome } from '../plugins/index.js';
import { section, testContext } from '../../test/support/plugins/plugin-fixtures.js';
import type { WorkSpec } from '../spec/index.js';
import { submissionOutcomeUnknownDiag, Submitter } from './submitter.js';
import { defaultAgentSettings } from '../config/index.js';
import {
  BotUnavailableError,
  CallCancelledError,
  ConnectionLostError,
  DeadlineExceededError,
  MethodNotFoundError,
  ProtocolError,
  RemoteMethodError,
} from '../middleware/errors.js';
import type { PluginContext } from '../plugins/index.js';

const { maxSubmissionAttempts } = defaultAgentSettings.submitter;
import {
  insertPreparedJobs,
  insertWorker,
  submitAnswers,
  SubmitterDouble,
  withWorkerSideEnv,
  workerQueue,
  type TestPlugins,
  type WorkerSideEnv,
} from '../../test/support/agents/worker-side-fixtures.js';

/** Moves past the submitter's checkInterval (queues and released workers rest that long) and runs a cycle. */
async function nextCycle(w: WorkerSideEnv): Promise<Readonly<Record<string, number>>> {
  w.clock.advance(w.env.settings.submitter.checkInterval + 1);
  return new Submitter(w.env).runCycle(w.signal);
}

function plugins(p: TestPlugins): Record<string, TestPlugins> {
  return { TEST_QUEUE: p };
}

/** A submitWorkers answer; `stop` stops the agent (aborts the signal its cycle runs with). */
type SubmitAnswer = (workSpecs: WorkSpec[], ctx: PluginContext, stop: () => void) => Promise<Outcome[]>;

function throwing(error: Error): SubmitAnswer {
  return async () => {
    throw error;
  };
}

/** Stops the agent while the call runs; the plugin sees its signal aborted and then throws `error`. */
function stopMidCall(error: Error): SubmitAnswer {
  return async (_workSpecs, ctx, stop) => {
    stop();
    assert.ok(ctx.signal.aborted, "the agent's stop reaches the plugin's signal");
    throw error;
  };
}

describe('Submitter', () => {
  test('makes as many workers as the queue has room for, one prepared job each, and records them submitted with their access points', async () => {
    const submitter = new DummySubmitter();
    await withWorkerSideEnv(
      { queues: [workerQueue({ nQueueLimitWorker: 2 })], plugins: plugins({ submitter, workerMaker: new SimpleWorkerMaker() }) },
      async (w) => {
        const PandaIDs = await insertPreparedJobs(w.store, ['echo 1', 'echo 2', 'echo 3']);
        const report = await new Submitter(w.env).runCycle(w.signal);
        assert.equal(report.submitted, 2);
        assert.equal(report.errors, 0);

        const workers = await w.store.listWorkers({ withJobs: true });
        assert.equal(workers.length, 2);
        for (const worker of workers) {
          assert.equal(worker.status, 'submitted');
          assert.equal(worker.lockedBy, null, 'released');
          assert.match(worker.batchID ?? '', /^batch_ID_/);
          assert.equal(worker.accessPoint, join(w.home, 'workdir', String(worker.workerID)));
          assert.equal((await readFile(join(worker.accessPoint!, 'status.txt'), 'utf8')).trim(), 'submitted');
          assert.ok(worker.submitTime !== null);
          assert.equal(worker.jobSpecs.length, 1);
          assert.equal(worker.jobSpecs[0]!.subStatus, 'submitted');
          assert.equal(worker.jobSpecs[0]!.lockedBy, null);
        }
        const [left] = await w.store.getJobs([PandaIDs[2]!]);
        assert.equal(left!.subStatus, 'prepared', 'the job without room waits');
        assert.equal(left!.lockedBy, null);

        assert.equal((await nextCycle(w)).submitted, 0, 'no room left: nothing more');
      },
    );
  });

  test('ManyToOne: full chunks of nJobsPerWorker jobs per worker; a partial chunk waits', async () => {
    const submitter = new SubmitterDouble();
    const workerMaker = new SimpleWorkerMaker({ nJobsPerWorker: 2 });
    await withWorkerSideEnv({ queues: [workerQueue({ mapType: 'ManyToOne' })], plugins: plugins({ submitter, workerMaker }) }, async (w) => {
      const PandaIDs = await insertPreparedJobs(w.store, ['echo 1', 'echo 2', 'echo 3', 'echo 4', 'echo 5']);
      assert.equal((await new Submitter(w.env).runCycle(w.signal)).submitted, 2);
      const workers = await w.store.listWorkers({ withJobs: true });
      assert.deepEqual(workers.map((x) => x.jobSpecs.map((j) => j.PandaID)), [PandaIDs.slice(0, 2), PandaIDs.slice(2, 4)]);
      assert.deepEqual(workers.map((x) => x.nJobs), [2, 2]);
      const left = await w.store.getJob(PandaIDs[4]!);
      assert.deepEqual([left.subStatus, left.lockedBy], ['prepared', null]);
    });
  });

  test('a NoJob queue gets workers without jobs, their access points created here when there is no messenger', async () => {
    const submitter = new SubmitterDouble();
    await withWorkerSideEnv({ queues: [workerQueue({ mapType: 'NoJob', nQueueLimitWorker: 3 })], plugins: plugins({ submitter }) }, async (w) => {
      const report = await new Submitter(w.env).runCycle(w.signal);
      assert.equal(report.submitted, 3);
      const workers = await w.store.listWorkers({ withJobs: true });
      assert.deepEqual(workers.map((x) => [x.status, x.jobSpecs.length, x.batchID]), workers.map((x) => ['submitted', 0, `batch-${x.workerID}`]));
      for (const worker of workers) assert.ok((await stat(worker.accessPoint!)).isDirectory());
    });
  });

  test('counts the workers already there: running ones against maxWorkers, queued ones against nQueueLimitWorker', async () => {
    const submitter = new SubmitterDouble();
    await withWorkerSideEnv({ queues: [workerQueue({ mapType: 'NoJob', nQueueLimitWorker: 3, maxWorkers: 4 })], plugins: plugins({ submitter }) }, async (w) => {
      await insertWorker(w.store, { status: 'running' });
      await insertWorker(w.store, { status: 'running' });
      await insertWorker(w.store, { status: 'submitted' });
      await insertWorker(w.store, { status: 'finished' });
      assert.equal((await new Submitter(w.env).runCycle(w.signal)).submitted, 1, 'maxWorkers 4 - 3 live');
    });
  });

  test('a throttled queue gets no new workers', async () => {
    const submitter = new SubmitterDouble();
    const throttler = { toBeThrottled: async (): Promise<Outcome<boolean>> => succeeded(true, 'too many missed') };
    await withWorkerSideEnv({ queues: [workerQueue({ mapType: 'NoJob' })], plugins: plugins({ submitter, throttler }) }, async (w) => {
      const report = await new Submitter(w.env).runCycle(w.signal);
      assert.equal(report.throttled, 1);
      assert.equal(report.submitted, 0);
      assert.deepEqual(submitter.calls, []);
      assert.deepEqual(await w.store.listWorkers(), []);
    });
  });

  test('a submitter whose error says it did not run (no tunnel to the bot) leaves the workers ready and released; the next cycle submits them with the same workerIDs', async () => {
    const submitter = new SubmitterDouble(submitAnswers.refused);
    await withWorkerSideEnv({ queues: [workerQueue()], plugins: plugins({ submitter }) }, async (w) => {
      await insertPreparedJobs(w.store, ['echo 1']);
      const first = await new Submitter(w.env).runCycle(w.signal);
      assert.equal(first.errors, 1);
      assert.equal(first.retry, 1);
      const [worker] = await w.store.listWorkers({ withJobs: true });
      assert.equal(worker!.status, 'ready');
      assert.equal(worker!.lockedBy, null);
      assert.match(worker!.diagMessage ?? '', /no working tunnel/);
      assert.equal(worker!.jobSpecs[0]!.subStatus, 'queued');

      submitter.answer = submitAnswers.succeed;
      const second = await nextCycle(w);
      assert.equal(second.resubmitted, 1);
      assert.equal(second.submitted, 1);
      assert.deepEqual(submitter.calls, [[worker!.workerID], [worker!.workerID]]);
      const [after] = await w.store.listWorkers({ withJobs: true });
      assert.equal(after!.status, 'submitted');
      assert.equal(after!.accessPoint, worker!.accessPoint);
      assert.equal(after!.jobSpecs[0]!.subStatus, 'submitted');
    });
  });

  // Every way submitWorkers can fail, and what becomes of the workers: 'unknown' = submitted with the
  // unknown-outcome diag, never submitted again (the monitor reconciles); 'ready' = submitted again next cycle.
  // The error's callEffect alone decides; each error is raised as its raise site raises it.
  const context = { queue: 'TEST_QUEUE', method: 'submitter.submitWorkers', callId: 'c1' };
  const sent = { callEffect: 'may-have-run' } as const;
  const notSent = { callEffect: 'not-run' } as const;
  const failures: { what: string; answer: SubmitAnswer; becomes: 'unknown' | 'ready' }[] = [
    { what: 'throws a plain Error (a local plugin, maybe half-way)', answer: submitAnswers.throws, becomes: 'unknown' },
    { what: 'throws a RemoteMethodError (the plugin threw on the bot)', answer: throwing(new RemoteMethodError('sbatch: error: Batch job submission failed', context)), becomes: 'unknown' },
    { what: 'throws OutcomeUnknownError (the bot stopped while it ran)', answer: submitAnswers.outcomeUnknown, becomes: 'unknown' },
    { what: "throws the herder's DeadlineExceededError (callTimeout shorter than pluginTimeout)", answer: throwing(new DeadlineExceededError('no answer within 100 ms', context, sent)), becomes: 'unknown' },
    { what: 'throws CallCancelledError after the call was sent', answer: throwing(new CallCancelledError('cancelled after it was sent', context, sent)), becomes: 'unknown' },
    { what: 'throws ConnectionLostError after the call was sent', answer: throwing(new ConnectionLostError('connection lost while in flight', context, sent)), becomes: 'unknown' },
    { what: 'throws ProtocolError for a malformed reply', answer: throwing(new ProtocolError('malformed reply from the bot', context, sent)), becomes: 'unknown' },
    { what: 'hangs past pluginTimeout', answer: submitAnswers.hangs, becomes: 'unknown' },
    { what: 'answers one outcome short', answer: submitAnswers.malformed, becomes: 'unknown' },
    { what: 'is interrupted by the agent stopping mid-call, and throws', answer: stopMidCall(new Error('interrupted')), becomes: 'unknown' },
    { what: 'is interrupted by the agent stopping mid-call, remote (CallCancelled after send)', answer: stopMidCall(new CallCancelledError('cancelled after it was sent', context, sent)), becomes: 'unknown' },
    { what: 'throws BotUnavailableError before sending', answer: submitAnswers.refused, becomes: 'ready' },
    { what: 'throws CallCancelledError before the call was sent', answer: throwing(new CallCancelledError('cancelled before it was sent', context, notSent)), becomes: 'ready' },
    { what: 'throws DeadlineExceededError before any delivery', answer: throwing(new DeadlineExceededError('no tunnel within the deadline', context, notSent)), becomes: 'ready' },
    { what: 'throws MethodNotFoundError', answer: throwing(new MethodNotFoundError('no method submitWorkers', context)), becomes: 'ready' },
    { what: 'throws an error of its own that says it did not run', answer: throwing(Object.assign(new Error('sbatch not found'), { callEffect: 'not-run' })), becomes: 'ready' },
    { what: 'is interrupted by the agent stopping while waiting for a tunnel (never sent)', answer: stopMidCall(new BotUnavailableError('no working tunnel', context)), becomes: 'ready' },
  ];
  for (const { what, answer, becomes } of failures) {
    test(`a submitter that ${what}: the workers become ${becomes === 'unknown' ? 'submitted for the monitor to reconcile, never submitted again' : 'ready, submitted again'}`, async () => {
      const agent = new AbortController();
      const submitter = new SubmitterDouble((ws, ctx) => answer(ws, ctx, () => agent.abort(new Error('stop requested'))));
      await withWorkerSideEnv(
        { queues: [workerQueue({ nQueueLimitWorker: 2 })], plugins: plugins({ submitter }), settings: { submitter: { pluginTimeout: 0.2 } } },
        async (w) => {
          await insertPreparedJobs(w.store, ['echo 1', 'echo 2']);
          const report = await new Submitter(w.env).runCycle(agent.signal);
          const workers = await w.store.listWorkers({ withJobs: true });
          assert.equal(workers.length, 2);
          for (const worker of workers) {
            assert.equal(worker.lockedBy, null, 'released');
            if (becomes === 'unknown') {
              assert.equal(worker.status, 'submitted');
              assert.ok(worker.diagMessage?.startsWith(submissionOutcomeUnknownDiag), worker.diagMessage ?? 'no diag');
              assert.equal(worker.jobSpecs[0]!.subStatus, 'submitted');
            } else {
              assert.equal(worker.status, 'ready');
              assert.equal(worker.jobSpecs[0]!.subStatus, 'queued');
            }
          }
          assert.equal(becomes === 'unknown' ? report.outcomeUnknown : report.retry, 2);

          submitter.answer = submitAnswers.succeed;
          // Past every lock interval: only what is 'ready' is claimable by the submitter.
          w.clock.advance(w.env.settings.submitter.lockInterval + 1);
          await nextCycle(w);
          const ids = workers.map((x) => x.workerID);
          assert.deepEqual(submitter.calls, becomes === 'unknown' ? [ids] : [ids, ids]);
        },
      );
    });
  }

  test("the agent stopping before submitWorkers is called leaves the workers 'ready', never sent", async () => {
    const agent = new AbortController();
    const submitter = new SubmitterDouble();
    const workerMaker = new SimpleWorkerMaker();
    const stoppingMaker = {
      getNumJobsPerWorker: async () => 1,
      getNumWorkersPerJob: async () => 1,
      makeWorker: async (...args: Parameters<SimpleWorkerMaker['makeWorker']>) => {
        const made = await workerMaker.makeWorker(...args);
        agent.abort(new Error('stop requested'));
        return made;
      },
    };
    await withWorkerSideEnv({ queues: [workerQueue()], plugins: plugins({ submitter, workerMaker: stoppingMaker }) }, async (w) => {
      await insertPreparedJobs(w.store, ['echo 1']);
      await new Submitter(w.env).runCycle(agent.signal);
      assert.deepEqual(submitter.calls, []);
      const [worker] = await w.store.listWorkers();
      assert.deepEqual([worker!.status, worker!.lockedBy], ['ready', null]);
    });
  });

  test('a worker whose submission failed is failed; its job goes to a new worker until it has failed too often', async () => {
    const submitter = new SubmitterDouble(submitAnswers.each(failed('no such partition')));
    await withWorkerSideEnv({ queues: [workerQueue()], plugins: plugins({ submitter }) }, async (w) => {
      const [PandaID] = await insertPreparedJobs(w.store, ['echo 1']);
      await new Submitter(w.env).runCycle(w.signal);
      const [first] = await w.store.listWorkers();
      assert.equal(first!.status, 'failed');
      assert.equal(first!.diagMessage, 'no such partition');
      assert.ok(first!.endTime !== null);
      assert.equal((await w.store.getJob(PandaID!)).subStatus, 'prepared');

      for (let i = 1; i < maxSubmissionAttempts; i++) await nextCycle(w);
      const workers = await w.store.listWorkers();
      assert.equal(workers.length, maxSubmissionAttempts, 'one new worker per attempt');
      assert.ok(workers.every((x) => x.status === 'failed'));
      const job = await w.store.getJob(PandaID!);
      assert.equal(job.status, 'failed');
      assert.equal(job.subStatus, 'to_transfer');
      assert.equal(job.submissionAttempts, maxSubmissionAttempts);
      assert.ok(job.propagatorTime !== null, 'reported to the job source');
      await nextCycle(w);
      assert.equal((await w.store.listWorkers()).length, maxSubmissionAttempts, 'no further attempt');
    });
  });

  test("a worker's submitTime is taken before the submit call (as harvester does), so a batch job that starts during the call never starts before it", async () => {
    let clock: WorkerSideEnv['clock'] | undefined;
    const submitter = new SubmitterDouble(async (workSpecs) => {
      // The submission takes a minute; the batch job starts half-way through.
      clock!.advance(30);
      for (const worker of workSpecs) worker.startTime = clock!.now();
      clock!.advance(30);
      return submitAnswers.succeed(workSpecs);
    });
    await withWorkerSideEnv({ queues: [workerQueue()], plugins: plugins({ submitter }) }, async (w) => {
      clock = w.clock;
      await insertPreparedJobs(w.store, ['echo 1']);
      const beforeTheCall = w.clock.now();
      await new Submitter(w.env).runCycle(w.signal);
      assert.equal(submitter.calls.length, 1);
      const [worker] = await w.store.listWorkers();
      assert.equal(worker!.status, 'submitted');
      assert.equal(worker!.submitTime?.getTime(), beforeTheCall.getTime(), 'the time before the call, not after it returned');
      assert.ok(worker!.submitTime! <= worker!.startTime!, `submitTime ${worker!.submitTime?.toISOString()} after startTime ${worker!.startTime?.toISOString()}`);
    });
  });

  test("the queue's own maxSubmissionAttempts caps a job's attempts instead of the submitter setting", async () => {
    const submitter = new SubmitterDouble(submitAnswers.each(failed('no such partition')));
    const queueCap = maxSubmissionAttempts + 2;
    await withWorkerSideEnv({ queues: [workerQueue({ maxSubmissionAttempts: queueCap })], plugins: plugins({ submitter }) }, async (w) => {
      const [PandaID] = await insertPreparedJobs(w.store, ['echo 1']);
      await new Submitter(w.env).runCycle(w.signal);
      for (let i = 1; i < maxSubmissionAttempts; i++) await nextCycle(w);
      assert.equal((await w.store.getJob(PandaID!)).subStatus, 'prepared', 'past the agent setting, still within the queue cap');
      for (let i = maxSubmissionAttempts; i < queueCap; i++) await nextCycle(w);
      const job = await w.store.getJob(PandaID!);
      assert.deepEqual([job.status, job.submissionAttempts], ['failed', queueCap]);
      await nextCycle(w);
      assert.equal((await w.store.listWorkers()).length, queueCap, 'no attempt past the queue cap');
    });
  });

  test("a queue's maxSubmissionAttempts of 1 fails the job at its first failed submission", async () => {
    const submitter = new SubmitterDouble(submitAnswers.each(failed('no such partition')));
    await withWorkerSideEnv({ queues: [workerQueue({ maxSubmissionAttempts: 1 })], plugins: plugins({ submitter }) }, async (w) => {
      const [PandaID] = await insertPreparedJobs(w.store, ['echo 1']);
      await new Submitter(w.env).runCycle(w.signal);
      assert.equal((await w.store.getJob(PandaID!)).status, 'failed');
    });
  });

  test('OneToMany: when one worker of a job fails and a sibling was submitted, the job follows the live sibling and gets no new worker', async () => {
    // The first worker is submitted, the second refused: the failed one comes last, as a shared job's last word.
    const submitter = new SubmitterDouble(async (workSpecs) =>
      workSpecs.map((w, i) => {
        if (i > 0) return failed('node allocation refused');
        w.batchID = `batch-${String(w.workerID)}`;
        return succeeded();
      }),
    );
    const workerMaker = new SimpleWorkerMaker({ nWorkersPerJob: 2 });
    await withWorkerSideEnv({ queues: [workerQueue({ mapType: 'OneToMany' })], plugins: plugins({ submitter, workerMaker }) }, async (w) => {
      const [PandaID] = await insertPreparedJobs(w.store, ['echo 1']);
      await new Submitter(w.env).runCycle(w.signal);
      const workers = await w.store.listWorkers({ withJobs: true });
      assert.deepEqual(workers.map((x) => x.status).sort(), ['failed', 'submitted']);
      assert.ok(workers.every((x) => x.jobSpecs.map((j) => j.PandaID).join() === String(PandaID)), 'both workers carry the one job');
      const job = await w.store.getJob(PandaID!);
      assert.deepEqual([job.status, job.subStatus], ['starting', 'submitted'], 'the job follows its live worker, not the failed one');
      await nextCycle(w);
      assert.equal((await w.store.listWorkers()).length, 2, 'no new worker for a job that has a live one');
    });
  });

  test('with a messenger: access points under its accessPoint template are set up and the jobs fed before submission', async () => {
    const submitter = new SubmitterDouble();
    const queue = workerQueue({ messenger: section('SharedFileMessenger', 'shared_file_messenger', { accessPoint: 'aps/${workerID}' }) });
    await withWorkerSideEnv({ queues: [queue], plugins: plugins({ submitter, messenger: new SharedFileMessenger() }) }, async (w) => {
      const [PandaID] = await insertPreparedJobs(w.store, ['echo fed']);
      assert.equal((await new Submitter(w.env).runCycle(w.signal)).submitted, 1);
      const [worker] = await w.store.listWorkers();
      assert.equal(worker!.accessPoint, join(w.home, 'aps', String(worker!.workerID)));
      const fed = JSON.parse(await readFile(join(worker!.accessPoint!, 'pandaJobData.out'), 'utf8')) as Record<string, { command?: string }>;
      assert.equal(fed[String(PandaID)]?.command, 'echo fed');
    });
  });

  test('jobs the worker maker refuses fail as failed_to_make; no worker is recorded for them', async () => {
    const submitter = new SubmitterDouble();
    const workerMaker = {
      makeWorker: async (): Promise<Outcome<WorkSpec>> => failed('the job asks for more cores than the queue has'),
      getNumJobsPerWorker: async () => 1,
      getNumWorkersPerJob: async () => 1,
    };
    await withWorkerSideEnv({ plugins: plugins({ submitter, workerMaker }) }, async (w) => {
      const [PandaID] = await insertPreparedJobs(w.store, ['echo 1']);
      const report = await new Submitter(w.env).runCycle(w.signal);
      assert.equal(report.failedToMake, 1);
      assert.deepEqual(await w.store.listWorkers(), []);
      assert.deepEqual(submitter.calls, []);
      const job = await w.store.getJob(PandaID!);
      assert.deepEqual([job.status, job.subStatus, job.lockedBy], ['failed', 'failed_to_make', null]);
      assert.ok(job.propagatorTime !== null, 'reported to the job source');
    });
  });

  test('a worker the submitter plugin asks to retry stays ready with its diag and is submitted again later', async () => {
    const submitter = new SubmitterDouble(submitAnswers.each(retryLater('scheduler busy')));
    await withWorkerSideEnv({ queues: [workerQueue({ mapType: 'NoJob', nQueueLimitWorker: 1 })], plugins: plugins({ submitter }) }, async (w) => {
      assert.equal((await new Submitter(w.env).runCycle(w.signal)).retry, 1);
      const [worker] = await w.store.listWorkers();
      assert.equal(worker!.status, 'ready');
      assert.equal(worker!.diagMessage, 'scheduler busy');
      submitter.answer = submitAnswers.succeed;
      assert.equal((await nextCycle(w)).submitted, 1);
      assert.deepEqual(submitter.calls, [[worker!.workerID], [worker!.workerID]]);
    });
  });

  test('a submitWorkers that runs longer than the lock intervals keeps its workers and queue: a second instance submits nothing again', { timeout: 20_000 }, async () => {
    await withWorkerSideEnv(
      { queues: [workerQueue({ nQueueLimitWorker: 2 })], settings: { submitter: { lockInterval: 0.3, queueLockInterval: 0.3 } } },
      async (w) => {
        let renewed!: () => void;
        const store = new Proxy(w.store, {
          get(target, property) {
            const value: unknown = Reflect.get(target, property, target);
            if (typeof value !== 'function') return value;
            const method = (value as (...a: unknown[]) => unknown).bind(target);
            if (property !== 'renewLocks') return method;
            return async (...args: unknown[]) => {
              const result = await method(...args);
              renewed();
              return result;
            };
          },
        });
        let secondReport: Readonly<Record<string, number>> | undefined;
        let looking = false;
        const submitter = new SubmitterDouble(async (workSpecs) => {
          if (!looking) {
            looking = true;
            // The call takes longer than every lock interval; another instance on the same store looks meanwhile.
            w.clock.advance(1);
            await new Promise<void>((resolve) => (renewed = resolve));
            secondReport = await new Submitter({ ...env, instance: 'otherhost-2' }).runCycle(w.signal);
          }
          return submitAnswers.succeed(workSpecs);
        });
        const agentPlugins: TestPlugins = { submitter };
        const env = { ...w.env, store, plugin: async (_queue, kind) => agentPlugins[kind] } satisfies typeof w.env;
        await insertPreparedJobs(w.store, ['echo 1', 'echo 2', 'echo 3', 'echo 4']);
        const report = await new Submitter(env).runCycle(w.signal);
        assert.equal(report.submitted, 2);
        assert.ok(secondReport !== undefined);
        assert.deepEqual(Object.entries(secondReport).filter(([, n]) => n > 0), [], 'the second instance got neither the queue nor the workers');
        assert.equal(submitter.calls.length, 1, 'submitted once');
        assert.equal((await w.store.listWorkers()).length, 2);
      },
    );
  });

  test("a worker a dead submitter left 'ready' is submitted again with the same workerID once its lock expired, and LocalProcessSubmitter does not start it twice", async () => {
    await withWorkerSideEnv({}, async (w) => {
      const submittedLog = join(w.home, 'submitted.log');
      const local = new LocalProcessSubmitter({ submittedLog });
      const [PandaID] = await insertPreparedJobs(w.store, ['echo hi']);
      const [job] = await w.store.getJobs([PandaID!]);
      job!.subStatus = 'queued';
      await w.store.updateJobs([job!]);
      const accessPoint = join(w.home, 'workdir', 'crashed');
      const worker = await insertWorker(w.store, { status: 'ready', lockedBy: 'submitter-deadhost-1', modificationTime: w.clock.now(), accessPoint }, [job!]);
      // The dead process got as far as starting the payload, not as far as recording it.
      const [started] = await local.submitWorkers(testContext(), [worker]);
      assert.equal(started!.kind, 'succeeded', started!.diag);

      const agentPlugins: TestPlugins = { submitter: local };
      const agent = new Submitter({ ...w.env, plugin: async (_queue, kind) => agentPlugins[kind] });
      assert.equal((await agent.runCycle(w.signal)).resubmitted, 0, 'the lock has not expired yet');
      assert.equal((await w.store.getWorker(worker.workerID!)).status, 'ready');

      w.clock.advance(w.env.settings.submitter.lockInterval + 1);
      const report = await agent.runCycle(w.signal);
      assert.equal(report.resubmitted, 1);
      assert.equal(report.submitted, 1);
      const after = await w.store.getWorker(worker.workerID!);
      assert.equal(after.status, 'submitted');
      assert.equal(after.accessPoint, accessPoint);
      assert.equal(after.batchID, worker.batchID, 'the payload already started');
      assert.equal((await w.store.listWorkers()).length, 1, 'no new worker: its job was queued already');
      const lines = (await readFile(submittedLog, 'utf8')).split('\n').filter((l) => l !== '');
      assert.deepEqual(lines, [`${worker.workerID} ${worker.batchID}`], 'started once');
    });
  });
});
