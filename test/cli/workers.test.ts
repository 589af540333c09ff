// `harvester workers list|kill` and `harvester queues list` on a home whose database the test fills with
// workers through SqliteStore directly: what is listed, what is counted, and that kill only marks (killTime)
// the workers that are neither final nor already marked.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { WorkSpec } from '../../src/spec/index.js';
import { adminHome, homeDatabase, JOB_QUEUE, NO_JOB_QUEUE, OTHER_JOB_QUEUE, withHomeStore } from './admin-support.js';
import { outputLines, parseTable, runCli, TempDirs, type CliResult } from './support.js';

const dirs = new TempDirs();
after(() => dirs.cleanup());

interface ListedWorker {
  workerID: number;
  queueName: string | null;
  computingSite: string;
  status: string;
  batchID: string | null;
  submitTime: string | null;
  startTime: string | null;
  endTime: string | null;
  killTime: string | null;
  nJobs: number | null;
  diagMessage: string | null;
}

interface KillReport {
  queueName: string;
  marked: number[];
  alreadyMarked: number[];
  final: number[];
}

const submitted = new Date('2024-05-01T10:00:00Z');
const started = new Date('2024-05-01T10:05:00Z');
const ended = new Date('2024-05-01T11:00:00Z');
const earlierKill = new Date('2024-05-01T10:30:00Z');

/** Workers of the test homes, by role; ids are assigned by the store. */
interface Seeded {
  running: WorkSpec;
  submittedW: WorkSpec;
  finished: WorkSpec;
  alreadyMarked: WorkSpec;
  elsewhere: WorkSpec;
}

async function seedWorkers(home: string): Promise<Seeded> {
  const seeded: Seeded = {
    running: new WorkSpec({ computingSite: JOB_QUEUE, status: 'running', batchID: 'b-run', submitTime: submitted, startTime: started, nJobs: 1 }),
    submittedW: new WorkSpec({ computingSite: JOB_QUEUE, status: 'submitted', batchID: 'b-sub', submitTime: submitted, nJobs: 0 }),
    finished: new WorkSpec({
      computingSite: JOB_QUEUE,
      status: 'finished',
      batchID: 'b-fin',
      submitTime: submitted,
      startTime: started,
      endTime: ended,
      diagMessage: 'exit code 0',
    }),
    alreadyMarked: new WorkSpec({ computingSite: JOB_QUEUE, status: 'running', batchID: 'b-mark', submitTime: submitted, killTime: earlierKill }),
    elsewhere: new WorkSpec({ computingSite: OTHER_JOB_QUEUE, status: 'running', batchID: 'b-other', submitTime: submitted }),
  };
  await withHomeStore(home, (store) => store.insertWorkers(Object.values(seeded)));
  return seeded;
}

const idOf = (w: WorkSpec): number => w.workerID as number;

async function killTimes(home: string, workers: readonly WorkSpec[]): Promise<Map<number, Date | null>> {
  const stored = await withHomeStore(home, (store) => store.getWorkers(workers.map(idOf)));
  return new Map(stored.map((w) => [idOf(w), w.killTime]));
}

async function workersJson(home: string, ...args: string[]): Promise<ListedWorker[]> {
  const result = await runCli(['workers', 'list', '--json', ...args], { home });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout) as ListedWorker[];
}

function assertBadInput(result: CliResult, reason: RegExp): void {
  assert.equal(result.status, 2, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  assert.equal(result.stdout, '');
  assert.equal(outputLines(result.stderr).length, 1, result.stderr);
  assert.match(result.stderr, reason);
}

describe('workers list', () => {
  test('lists every worker with harvester field names as a table and as JSON', async () => {
    const home = adminHome(dirs, 'workers-list');
    const seeded = await seedWorkers(home);
    const listed = await workersJson(home);
    assert.deepEqual(listed.map((w) => w.workerID).sort((a, b) => a - b), Object.values(seeded).map(idOf).sort((a, b) => a - b));
    const finished = listed.find((w) => w.workerID === idOf(seeded.finished))!;
    assert.deepEqual(
      {
        computingSite: finished.computingSite,
        status: finished.status,
        batchID: finished.batchID,
        submitTime: finished.submitTime,
        startTime: finished.startTime,
        endTime: finished.endTime,
        diagMessage: finished.diagMessage,
      },
      {
        computingSite: JOB_QUEUE,
        status: 'finished',
        batchID: 'b-fin',
        submitTime: submitted.toISOString(),
        startTime: started.toISOString(),
        endTime: ended.toISOString(),
        diagMessage: 'exit code 0',
      },
    );
    assert.equal(listed.find((w) => w.workerID === idOf(seeded.running))!.nJobs, 1);

    const table = await runCli(['workers', 'list'], { home });
    assert.equal(table.status, 0, table.stderr);
    const rows = parseTable(table.stdout, 'workerID');
    const row = rows.find((r) => Number(r.workerID) === idOf(seeded.finished))!;
    assert.deepEqual(
      { queueName: row.queueName, status: row.status, batchID: row.batchID, endTime: row.endTime, diagMessage: row.diagMessage },
      { queueName: JOB_QUEUE, status: 'finished', batchID: 'b-fin', endTime: '2024-05-01 11:00:00', diagMessage: 'exit code 0' },
    );
    assert.equal(rows.length, 5);
  });

  test('--queue and --status (comma-separated) narrow the list', async () => {
    const home = adminHome(dirs, 'workers-filter');
    const seeded = await seedWorkers(home);
    assert.deepEqual((await workersJson(home, '--queue', OTHER_JOB_QUEUE)).map((w) => w.workerID), [idOf(seeded.elsewhere)]);
    const finishedOrSubmitted = await workersJson(home, '--queue', JOB_QUEUE, '--status', 'finished,submitted');
    assert.deepEqual(finishedOrSubmitted.map((w) => w.workerID).sort((a, b) => a - b), [idOf(seeded.submittedW), idOf(seeded.finished)].sort((a, b) => a - b));
  });

  test('an unknown status is a usage error listing the statuses', async () => {
    const home = adminHome(dirs, 'workers-badstatus');
    assertBadInput(await runCli(['workers', 'list', '--status', 'runing'], { home }), /unknown status runing \(expected submitted, running/);
  });

  test('a fresh home lists no worker and creates no database', async () => {
    const home = adminHome(dirs, 'workers-fresh');
    assert.deepEqual(await workersJson(home), []);
    assert.equal(existsSync(homeDatabase(home)), false);
  });
});

describe('workers kill', () => {
  test('by id sets killTime on the workers that are not final and not yet marked, and reports the others', async () => {
    const home = adminHome(dirs, 'kill-id');
    const s = await seedWorkers(home);
    const asked = [s.running, s.finished, s.alreadyMarked];
    const before = Date.now();
    const result = await runCli(['workers', 'kill', '--queue', JOB_QUEUE, '--id', ...asked.map((w) => String(idOf(w))), '--json'], { home });
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout) as KillReport;
    assert.deepEqual(report, { queueName: JOB_QUEUE, marked: [idOf(s.running)], alreadyMarked: [idOf(s.alreadyMarked)], final: [idOf(s.finished)] });

    const times = await killTimes(home, Object.values(s));
    const marked = times.get(idOf(s.running));
    assert.ok(marked instanceof Date && marked.getTime() >= before - 1000, String(marked));
    assert.equal(times.get(idOf(s.finished)), null);
    assert.deepEqual(times.get(idOf(s.alreadyMarked)), earlierKill);
    assert.equal(times.get(idOf(s.submittedW)), null, 'a worker not asked for was marked');
    assert.equal(times.get(idOf(s.elsewhere)), null, 'a worker of another queue was marked');
  });

  test('by status marks every non-final worker of the queue in those statuses only, and says how many', async () => {
    const home = adminHome(dirs, 'kill-status');
    const s = await seedWorkers(home);
    const result = await runCli(['workers', 'kill', '--queue', JOB_QUEUE, '--status', 'running,finished'], { home });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^marked 1 worker\\(s\\) of queue ${JOB_QUEUE} to be killed: ${idOf(s.running)} `, 'm'));
    assert.match(result.stdout, new RegExp(`^already marked: ${idOf(s.alreadyMarked)}$`, 'm'));
    assert.match(result.stdout, new RegExp(`^in a final status, left alone: ${idOf(s.finished)}$`, 'm'));
    const times = await killTimes(home, Object.values(s));
    assert.ok(times.get(idOf(s.running)) instanceof Date);
    for (const untouched of [s.submittedW, s.finished, s.elsewhere]) assert.equal(times.get(idOf(untouched)), null, `worker ${idOf(untouched)}`);

    // Again: nothing left to mark.
    const again = await runCli(['workers', 'kill', '--queue', JOB_QUEUE, '--status', 'running', '--json'], { home });
    assert.equal(again.status, 0, again.stderr);
    assert.deepEqual((JSON.parse(again.stdout) as KillReport).marked, []);
  });

  test('an unknown queue is a usage error naming it and the known queues', async () => {
    const home = adminHome(dirs, 'kill-unknown-queue');
    await seedWorkers(home);
    assertBadInput(
      await runCli(['workers', 'kill', '--queue', 'nosuch', '--status', 'running'], { home }),
      new RegExp(`no queue 'nosuch' in .*panda_queueconfig\\.json \\(queues: ${JOB_QUEUE}, ${OTHER_JOB_QUEUE}, ${NO_JOB_QUEUE}\\)`),
    );
  });

  test('an id not in the queue is a usage error and marks nothing, not even the ids that are there', async () => {
    const home = adminHome(dirs, 'kill-unknown-id');
    const s = await seedWorkers(home);
    assertBadInput(
      await runCli(['workers', 'kill', '--queue', JOB_QUEUE, '--id', `${idOf(s.running)},${idOf(s.elsewhere)}`], { home }),
      new RegExp(`no worker ${idOf(s.elsewhere)} in queue '${JOB_QUEUE}'; nothing was marked`),
    );
    assert.equal((await killTimes(home, [s.running])).get(idOf(s.running)), null);
  });

  test('neither or both of --id and --status, or a bad id, is a usage error', async () => {
    const home = adminHome(dirs, 'kill-usage');
    assertBadInput(await runCli(['workers', 'kill', '--queue', JOB_QUEUE], { home }), /give either --id or --status/);
    assertBadInput(await runCli(['workers', 'kill', '--queue', JOB_QUEUE, '--id', '1', '--status', 'running'], { home }), /give either --id or --status/);
    assertBadInput(await runCli(['workers', 'kill', '--queue', JOB_QUEUE, '--id', 'x1'], { home }), /expected positive whole numbers, got 'x1'/);
  });
});

describe('queues list', () => {
  interface ListedQueue {
    queueName: string;
    queueStatus: string | null;
    mapType: string | null;
    nWorkers: Record<string, number>;
  }

  test('lists every configured queue with status, mapType and worker counts; a queue without workers shows zeros', async () => {
    const home = adminHome(dirs, 'queues-list');
    await seedWorkers(home);
    const result = await runCli(['queues', 'list', '--json'], { home });
    assert.equal(result.status, 0, result.stderr);
    const queues = new Map((JSON.parse(result.stdout) as ListedQueue[]).map((q) => [q.queueName, q]));
    assert.deepEqual([...queues.keys()].sort(), [JOB_QUEUE, NO_JOB_QUEUE, OTHER_JOB_QUEUE].sort());
    const jobq = queues.get(JOB_QUEUE)!;
    assert.equal(jobq.queueStatus, 'online');
    assert.equal(jobq.mapType, 'OneToOne');
    assert.deepEqual([jobq.nWorkers.running, jobq.nWorkers.submitted, jobq.nWorkers.finished, jobq.nWorkers.failed], [2, 1, 1, 0]);
    assert.equal(queues.get(OTHER_JOB_QUEUE)!.queueStatus, 'offline');
    assert.equal(queues.get(OTHER_JOB_QUEUE)!.nWorkers.running, 1);
    const pilotq = queues.get(NO_JOB_QUEUE)!;
    assert.equal(pilotq.mapType, 'NoJob');
    assert.ok(Object.values(pilotq.nWorkers).every((n) => n === 0), JSON.stringify(pilotq.nWorkers));

    const table = await runCli(['queues', 'list'], { home });
    assert.equal(table.status, 0, table.stderr);
    const row = parseTable(table.stdout, 'queueName').find((r) => r.queueName === JOB_QUEUE)!;
    assert.deepEqual([row.queueStatus, row.mapType, row.running, row.finished, row.missed], ['online', 'OneToOne', '2', '1', '0']);
  });

  test('workers of a queue no longer in the configuration are listed too, without status', async () => {
    const home = adminHome(dirs, 'queues-orphan');
    await withHomeStore(home, (store) => store.insertWorkers([new WorkSpec({ computingSite: 'retired', status: 'running' })]));
    const result = await runCli(['queues', 'list', '--json'], { home });
    assert.equal(result.status, 0, result.stderr);
    const retired = (JSON.parse(result.stdout) as ListedQueue[]).find((q) => q.queueName === 'retired');
    assert.deepEqual(retired && { status: retired.queueStatus, running: retired.nWorkers.running }, { status: null, running: 1 });
  });

  test('a fresh home lists its queues with zero workers and creates no database', async () => {
    const home = adminHome(dirs, 'queues-fresh');
    const result = await runCli(['queues', 'list'], { home });
    assert.equal(result.status, 0, result.stderr);
    const rows = parseTable(result.stdout, 'queueName');
    assert.deepEqual(rows.map((r) => r.queueName).sort(), [JOB_QUEUE, NO_JOB_QUEUE, OTHER_JOB_QUEUE].sort());
    assert.ok(rows.every((r) => r.running === '0' && r.submitted === '0'), result.stdout);
    assert.equal(existsSync(homeDatabase(home)), false);
  });
});
