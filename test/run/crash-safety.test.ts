// A `harvester run` killed with SIGKILL in the middle of submitting: the rows it held come back once their
// lock expired, and the next run finishes every job without starting any worker (or job payload) twice.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { TempDirs, runCli, writeJson } from '../cli/support.js';
import {
  countByFirstWord,
  HarvesterProcess,
  localProcessQueue,
  makeRunHome,
  queryDatabase,
  recordingCommand,
  repeated,
  tally,
  waitFor,
  waitUntilStopped,
  type ListedJob,
} from './support.js';

const dirs = new TempDirs();
const started: HarvesterProcess[] = [];
after(() => {
  for (const p of started) p.killIfRunning();
  dirs.cleanup();
});

const JOBS = 30;

describe('harvester run killed while submitting', () => {
  test('the next run finishes every job exactly once: no worker started twice, no payload run twice, no job lost', async () => {
    const shared = dirs.make('crash-shared');
    const submittedLog = join(shared, 'submitted.log');
    const outputs = join(shared, 'outputs.log');
    // Two new workers per cycle: submission takes many cycles, so the kill lands in the middle of it.
    const queueConfigFile = writeJson(join(shared, 'queues.json'), {
      crashq: localProcessQueue({ submittedLog, queue: { maxNewWorkersPerCycle: 2, nQueueLimitWorker: 4, maxWorkers: 8 } }),
    });
    const run = makeRunHome(dirs, 'crash', { queueConfigFile });
    const added = await runCli(['jobs', 'add', '--queue', 'crashq', '--count', String(JOBS), '--command', recordingCommand(outputs)], { home: run.home });
    assert.equal(added.status, 0, added.stderr);

    const first = new HarvesterProcess(['run', '--foreground'], run.home);
    started.push(first);
    // Kill it while a worker is between its insertion (status 'ready', locked by the submitter) and its start.
    // That window is short, so the process is frozen (SIGSTOP) when one is seen, looked at again, and killed
    // there, or let go (SIGCONT) to try again at the next worker. "Not started" = no payload.pid in its access
    // point yet: the submitter waits for that file before it writes 'submitted', so no committed write of it
    // can be under way (a write caught half done would be completed by SQLite's recovery when we read).
    const beingSubmitted = (): number[] =>
      queryDatabase<{ workerID: number; accessPoint: string | null }>(
        run.database,
        `SELECT "workerID", "accessPoint" FROM work_table WHERE status = 'ready' AND "lockedBy" IS NOT NULL ORDER BY "workerID"`,
      )
        .filter((w) => w.accessPoint !== null && !existsSync(join(w.accessPoint, 'payload.pid')))
        .map((w) => w.workerID);
    const caught = await waitFor(
      'a worker caught between insertion and start',
      () => {
        if (countByFirstWord(submittedLog).size < 4 || beingSubmitted().length === 0) return undefined;
        first.child.kill('SIGSTOP');
        waitUntilStopped(first.pid);
        const workers = beingSubmitted();
        if (workers.length > 0) return workers;
        first.child.kill('SIGCONT');
        return undefined;
      },
      30_000,
      2,
    );
    first.child.kill('SIGKILL');
    const killed = await first.exit(10_000);
    assert.equal(killed.signal, 'SIGKILL');

    const startedBeforeKill = countByFirstWord(submittedLog).size;
    assert.ok(startedBeforeKill < JOBS, `killed before every worker was started (${startedBeforeKill} of ${JOBS})`);
    // What the dead process left half done: jobs not done yet, rows still locked by its agents.
    const unfinished = queryDatabase<{ PandaID: number }>(run.database, `SELECT "PandaID" FROM job_table WHERE "subStatus" IS NOT 'done'`);
    const deadOwner = `%-${first.pid}-%`;
    const heldByDead = (): number[] =>
      queryDatabase<{ workerID: number }>(run.database, `SELECT "workerID" FROM work_table WHERE status = 'ready' AND "lockedBy" LIKE ? ORDER BY "workerID"`, deadOwner).map(
        (w) => w.workerID,
      );
    assert.ok(unfinished.length > 0, 'some jobs were in progress when the process died');
    assert.deepEqual(heldByDead(), caught, `the workers being submitted stay 'ready', locked by the dead process (${deadOwner})`);

    // The operator lets the next run submit faster: the test is about what the dead process left, not the pace.
    writeJson(queueConfigFile, { crashq: localProcessQueue({ submittedLog, queue: { maxNewWorkersPerCycle: JOBS, nQueueLimitWorker: JOBS, maxWorkers: JOBS } }) });
    const second = await runCli(['run', '--until-done', '--timeout', '60'], { home: run.home, timeoutMs: 90_000 });
    assert.equal(second.status, 0, `stdout:\n${second.stdout}\nstderr:\n${second.stderr}`);

    const starts = countByFirstWord(submittedLog);
    assert.deepEqual(repeated(starts), [], 'no worker was started twice');
    const payloads = countByFirstWord(outputs);
    assert.deepEqual(repeated(payloads), [], 'no job payload ran twice');
    const jobs = JSON.parse((await runCli(['jobs', 'list', '--json'], { home: run.home })).stdout) as ListedJob[];
    assert.equal(jobs.length, JOBS, 'no job lost');
    assert.deepEqual(tally(jobs, (j) => `${j.status}/${j.subStatus}`), { 'finished/done': JOBS });
    assert.deepEqual(
      [...payloads.keys()].map(Number).sort((a, b) => a - b),
      jobs.map((j) => j.PandaID).sort((a, b) => a - b),
      "every job's payload ran",
    );
    assert.deepEqual(heldByDead(), [], "the dead process's workers were taken over");
    const caughtNow = queryDatabase<{ workerID: number; status: string }>(
      run.database,
      `SELECT "workerID", status FROM work_table WHERE "workerID" IN (${caught.map(() => '?').join(', ')}) ORDER BY "workerID"`,
      ...caught,
    );
    assert.deepEqual(
      caughtNow.map((w) => w.status),
      caught.map(() => 'finished'),
      `the workers caught half submitted were submitted (once) and finished: ${JSON.stringify(caughtNow)}`,
    );
    for (const workerID of caught) assert.equal(starts.get(String(workerID)), 1, `worker ${workerID} was started once`);
  });
});
