// Two `harvester run` processes on one database (two homes whose harvester.json name the same SQLite file and
// the same queue configuration): they split the work through the store's claims, and no job runs twice.
// Which instance wins a race is up to the scheduler, so the test arranges that each must do part of the work:
// A alone fills the queue's worker limit (the payloads wait at a gate), then B starts, A stalls (SIGSTOP, as
// a stuck process or a paused VM would) and the gate opens: only B can carry the work on until A resumes.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, TempDirs, writeJson } from '../cli/support.js';
import {
  countByFirstWord,
  HarvesterProcess,
  localProcessQueue,
  logRecords,
  makeRunHome,
  queryDatabase,
  recordingCommand,
  repeated,
  tally,
  waitFor,
  waitUntilStopped,
  type ListedJob,
  type RunHome,
} from './support.js';

const dirs = new TempDirs();
const processes: HarvesterProcess[] = [];
after(() => {
  for (const p of processes) {
    p.child.kill('SIGCONT');
    p.killIfRunning();
  }
  dirs.cleanup();
});

const JOBS = 40;
/** The queue's worker limit: A submits this many before the gate opens. */
const LIMIT = 16;

/** The workers an instance reported submitting in its log. */
function submittedBy(home: RunHome): number {
  return logRecords(home.logFile)
    .filter((r) => r.msg === 'workers submitted' && Array.isArray(r['workerIDs']))
    .reduce((sum, r) => sum + (r['workerIDs'] as unknown[]).length, 0);
}

describe('two harvester instances on one database', () => {
  test('both do part of the work, every job runs exactly once between them, and every job finishes', async (t) => {
    const shared = dirs.make('two-shared');
    const database = join(shared, 'harvester.db');
    const submittedLog = join(shared, 'submitted.log');
    const outputs = join(shared, 'outputs.log');
    const gate = join(shared, 'gate');
    const queueConfigFile = writeJson(join(shared, 'queues.json'), {
      sharedq: localProcessQueue({ submittedLog, queue: { maxNewWorkersPerCycle: 8, nQueueLimitWorker: LIMIT, maxWorkers: JOBS } }),
    });
    const a = makeRunHome(dirs, 'instance-a', { queueConfigFile, database });
    const b = makeRunHome(dirs, 'instance-b', { queueConfigFile, database });
    const command = `while [ ! -e '${gate}' ]; do sleep 0.5; done; ${recordingCommand(outputs)}`;
    const added = await runCli(['jobs', 'add', '--queue', 'sharedq', '--count', String(JOBS), '--command', command], { home: a.home });
    assert.equal(added.status, 0, added.stderr);

    // Generous hang guards: under a CPU hog a cycle takes seconds, and the gate loops' forks add to it.
    const runArgs = ['run', '--until-done', '--timeout', '400'];
    const runA = new HarvesterProcess(runArgs, a.home);
    processes.push(runA);
    await waitFor(`A alone submitting the first ${LIMIT} workers`, () => (countByFirstWord(submittedLog).size >= LIMIT ? true : undefined), 60_000, 50);
    const runB = new HarvesterProcess(runArgs, b.home);
    processes.push(runB);
    await waitFor('B ready', () => (logRecords(b.logFile).some((r) => r.msg === 'harvester runtime ready') ? true : undefined), 60_000, 50);

    // SQLite has one writer: stopped inside a write transaction, A holds the database for both until it resumes
    // (SQLite's nature; several instances that may stall belong on a server database). Such a stop is let go and
    // A is stopped again a moment later, until B gets on with the work (seen once in five runs under a CPU hog).
    for (let stall = 1; ; stall++) {
      runA.child.kill('SIGSTOP');
      waitUntilStopped(runA.pid);
      if (stall === 1) writeFileSync(gate, '');
      const moved = await waitFor('B submitting workers while A is stalled', () => (submittedBy(b) > 0 ? true : undefined), 60_000, 50).then(
        () => true,
        (error: unknown) => {
          if (stall >= 4) throw error;
          return false;
        },
      );
      runA.child.kill('SIGCONT');
      if (moved) break;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }

    const [exitA, exitB] = await Promise.all([runA.exit(420_000), runB.exit(420_000)]);
    assert.deepEqual(exitA, { code: 0, signal: null }, `A: ${runA.stderr}`);
    assert.deepEqual(exitB, { code: 0, signal: null }, `B: ${runB.stderr}`);

    const starts = countByFirstWord(submittedLog);
    assert.deepEqual(repeated(starts), [], 'no worker was started twice');
    const payloads = countByFirstWord(outputs);
    assert.deepEqual(repeated(payloads), [], 'no job payload ran twice');
    assert.equal(payloads.size, JOBS, "every job's payload ran");

    // Both homes see the same jobs: the database is one.
    for (const home of [a, b]) {
      const jobs = JSON.parse((await runCli(['jobs', 'list', '--json'], { home: home.home })).stdout) as ListedJob[];
      assert.equal(jobs.length, JOBS);
      assert.deepEqual(tally(jobs, (j) => `${j.status}/${j.subStatus}`), { 'finished/done': JOBS });
    }
    const byA = submittedBy(a);
    const byB = submittedBy(b);
    t.diagnostic(`instance a submitted ${byA} workers, instance b ${byB}`);
    assert.ok(byA >= LIMIT, `A submitted the first ${LIMIT} workers alone (${byA})`);
    assert.ok(byB > 0, `B submitted workers (${byB})`);
    assert.equal(byA + byB, JOBS, 'between them they submitted one worker per job, each once');
    const workers = queryDatabase<{ status: string }>(database, 'SELECT status FROM work_table');
    assert.deepEqual(tally(workers, (w) => w.status), { finished: JOBS }, 'one worker per job, each finished');
  });
});
