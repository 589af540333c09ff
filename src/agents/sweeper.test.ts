// The sweeper agent over a real SqliteStore: killing on request (a real local process, and a sweeper double
// that refuses), and cleaning up final workers once their keep time has passed.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalProcessSubmitter, LocalProcessSweeper, retryLater, succeeded, type Messenger, type Outcome } from '../plugins/index.js';
import { JobSpec, type WorkSpec } from '../spec/index.js';
import { Submitter } from './submitter.js';
import { Sweeper } from './sweeper.js';
import { insertPreparedJobs, insertWorker, SweeperDouble, withWorkerSideEnv, type WorkerSideEnv } from '../../test/support/agents/worker-side-fixtures.js';

/** Live (not zombie) processes of a process group, from ps. */
function liveMembersOf(pgid: number): number[] {
  const out = execFileSync('ps', ['-e', '-o', 'pid=,pgid=,stat='], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([, group, state]) => Number(group) === pgid && state !== undefined && !state.startsWith('Z'))
    .map(([pid]) => Number(pid));
}

async function requestKill(w: WorkerSideEnv, worker: WorkSpec): Promise<void> {
  const [stored] = await w.store.getWorkers([worker.workerID!]);
  stored!.killTime = w.clock.now();
  await w.store.updateWorkers([stored!]);
}

async function finalJob(w: WorkerSideEnv, reported: boolean): Promise<JobSpec> {
  const job = new JobSpec({ computingSite: 'TEST_QUEUE', status: 'finished', subStatus: 'done' });
  if (!reported) job.triggerPropagation(w.clock.now());
  await w.store.insertJobs([job]);
  return job;
}

const HOUR = 3600;

describe('Sweeper', () => {
  test('kills a real local payload on request: the worker is cancelled, its job follows, the process group is gone', async () => {
    const plugins = { TEST_QUEUE: { submitter: new LocalProcessSubmitter(), sweeper: new LocalProcessSweeper({ killGracePeriod: 1 }) } };
    await withWorkerSideEnv({ plugins }, async (w) => {
      await insertPreparedJobs(w.store, ['sleep 30']);
      await new Submitter(w.env).runCycle(w.signal);
      const [worker] = await w.store.listWorkers();
      const pgid = Number(worker!.batchID);
      assert.ok(pgid > 0, `batchID ${worker!.batchID}`);
      for (const deadline = Date.now() + 3000; liveMembersOf(pgid).length === 0; await sleep(20)) {
        if (Date.now() > deadline) assert.fail('the payload never started');
      }

      assert.equal((await new Sweeper(w.env).runCycle(w.signal)).killed, 0, 'no kill requested yet');
      await requestKill(w, worker!);
      const report = await new Sweeper(w.env).runCycle(w.signal);
      assert.equal(report.killed, 1);
      const [killed] = await w.store.listWorkers({ withJobs: true });
      assert.equal(killed!.status, 'cancelled');
      assert.ok(killed!.endTime !== null);
      assert.equal(killed!.lockedBy, null);
      assert.deepEqual([killed!.jobSpecs[0]!.status, killed!.jobSpecs[0]!.subStatus], ['cancelled', 'to_transfer']);
      assert.deepEqual(liveMembersOf(pgid), []);
    });
  });

  test('a kill the sweeper plugin cannot do yet is tried again after checkInterval', async () => {
    const sweeper = new SweeperDouble();
    sweeper.killAnswer = async () => retryLater('batch system busy');
    await withWorkerSideEnv({ plugins: { TEST_QUEUE: { sweeper } } }, async (w) => {
      const worker = await insertWorker(w.store, { status: 'running', killTime: w.clock.now() });
      const first = await new Sweeper(w.env).runCycle(w.signal);
      assert.equal(first.killFailed, 1);
      const kept = await w.store.getWorker(worker.workerID!);
      assert.equal(kept.status, 'running');
      assert.equal(kept.lockedBy, null);
      assert.ok(kept.killTime!.getTime() > w.clock.now().getTime(), 'the next try is put off');

      sweeper.killAnswer = async () => succeeded();
      assert.equal((await new Sweeper(w.env).runCycle(w.signal)).killed, 0, 'not before checkInterval');
      w.clock.advance(w.env.settings.sweeper.checkInterval + 1);
      assert.equal((await new Sweeper(w.env).runCycle(w.signal)).killed, 1);
      assert.equal((await w.store.getWorker(worker.workerID!)).status, 'cancelled');
      assert.deepEqual(sweeper.killed, [worker.workerID, worker.workerID]);
    });
  });

  test('OneToMany: killing one worker of a job leaves the job running with its sibling; killing the last cancels it', async () => {
    const sweeper = new SweeperDouble();
    await withWorkerSideEnv({ plugins: { TEST_QUEUE: { sweeper } } }, async (w) => {
      const job = new JobSpec({ computingSite: 'TEST_QUEUE', status: 'running', subStatus: 'running' });
      await w.store.insertJobs([job]);
      const first = await insertWorker(w.store, { status: 'running', mapType: 'OneToMany', killTime: w.clock.now() }, [job]);
      const second = await insertWorker(w.store, { status: 'running', mapType: 'OneToMany' }, [job]);
      assert.equal((await new Sweeper(w.env).runCycle(w.signal)).killed, 1);
      let stored = await w.store.getJob(job.PandaID!);
      assert.deepEqual([stored.status, stored.subStatus], ['running', 'running'], 'its sibling still runs the job');

      await requestKill(w, second);
      assert.equal((await new Sweeper(w.env).runCycle(w.signal)).killed, 1);
      stored = await w.store.getJob(job.PandaID!);
      assert.deepEqual([stored.status, stored.subStatus], ['cancelled', 'to_transfer'], 'every worker cancelled: the job is cancelled');
      assert.deepEqual(sweeper.killed, [first.workerID, second.workerID]);
    });
  });

  test('a sweeper plugin that throws on kill is counted as an error and the worker left as it is', async () => {
    const sweeper = new SweeperDouble();
    sweeper.killAnswer = async () => Promise.reject(new Error('scancel not found'));
    await withWorkerSideEnv({ plugins: { TEST_QUEUE: { sweeper } } }, async (w) => {
      const worker = await insertWorker(w.store, { status: 'submitted', killTime: w.clock.now() });
      const report = await new Sweeper(w.env).runCycle(w.signal);
      assert.equal(report.errors, 1);
      assert.equal(report.killed, 0);
      const kept = await w.store.getWorker(worker.workerID!);
      assert.deepEqual([kept.status, kept.lockedBy], ['submitted', null]);
    });
  });

  test('cleans up final workers after their keep time: the access point removed, the rows deleted, reported jobs with them', async () => {
    const plugins = { TEST_QUEUE: { sweeper: new LocalProcessSweeper() } };
    await withWorkerSideEnv({ plugins }, async (w) => {
      const ended = w.clock.now();
      const reported = await finalJob(w, true);
      const awaiting = await finalJob(w, false);
      const shared = await finalJob(w, true);
      const accessPoint = join(w.home, 'workdir', 'done-1');
      await mkdir(accessPoint, { recursive: true });
      await writeFile(join(accessPoint, 'payload.stdout'), 'hi\n');
      const done = await insertWorker(w.store, { status: 'finished', endTime: ended, accessPoint }, [reported, awaiting, shared]);
      const failedWorker = await insertWorker(w.store, { status: 'failed', endTime: ended });
      const stillRunning = await insertWorker(w.store, { status: 'running' }, [shared]);

      w.clock.advance(w.env.settings.sweeper.checkInterval + 1);
      assert.equal((await new Sweeper(w.env).runCycle(w.signal)).deleted, 0, 'kept within keepFinished');

      w.clock.advance(w.env.settings.sweeper.keepFinished * HOUR);
      const report = await new Sweeper(w.env).runCycle(w.signal);
      assert.equal(report.deleted, 1, 'the finished worker; the failed one is kept for keepFailed');
      assert.equal(report.jobsDeleted, 1);
      await assert.rejects(stat(accessPoint), { code: 'ENOENT' });
      assert.deepEqual((await w.store.listWorkers()).map((x) => x.workerID), [failedWorker.workerID, stillRunning.workerID]);
      assert.deepEqual(
        (await w.store.listJobs()).map((j) => j.PandaID),
        [awaiting.PandaID, shared.PandaID],
        'kept: the job awaiting propagation, and the job another worker still has',
      );
      assert.ok(!(await w.store.listWorkers()).some((x) => x.workerID === done.workerID));

      w.clock.advance((w.env.settings.sweeper.keepFailed - w.env.settings.sweeper.keepFinished) * HOUR + 1);
      assert.equal((await new Sweeper(w.env).runCycle(w.signal)).deleted, 1, 'the failed worker after keepFailed');
    });
  });

  test('a clean-up the plugin or the messenger cannot do yet keeps the worker for a later try', async () => {
    const sweeper = new SweeperDouble();
    const cleaned: number[] = [];
    let cleanUpAnswer: Outcome = retryLater('files in use');
    const messenger = {
      cleanUp: async (_ctx: unknown, workSpec: WorkSpec): Promise<Outcome> => {
        cleaned.push(workSpec.workerID!);
        return cleanUpAnswer;
      },
    } as unknown as Messenger;
    await withWorkerSideEnv({ plugins: { TEST_QUEUE: { sweeper, messenger } }, settings: { sweeper: { keepCancelled: 1 } } }, async (w) => {
      const worker = await insertWorker(w.store, { status: 'cancelled', endTime: w.clock.now() });
      w.clock.advance(HOUR + 1);
      const first = await new Sweeper(w.env).runCycle(w.signal);
      assert.equal(first.sweepFailed, 1);
      assert.equal((await w.store.getWorker(worker.workerID!)).lockedBy, null);

      cleanUpAnswer = succeeded();
      w.clock.advance(w.env.settings.sweeper.checkInterval + 1);
      assert.equal((await new Sweeper(w.env).runCycle(w.signal)).deleted, 1);
      assert.deepEqual(sweeper.swept, [worker.workerID, worker.workerID]);
      assert.deepEqual(cleaned, [worker.workerID, worker.workerID]);
      assert.deepEqual(await w.store.listWorkers(), []);
    });
  });
});
