// Two `harvester run` processes on one database (two homes whose harvester.json name the same SQLite file and
// the same queue configuration): they split the work through the store's claims, and no job runs twice.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runCli, TempDirs, writeJson } from '../cli/support.js';
import { countByFirstWord, localProcessQueue, logRecords, makeRunHome, queryDatabase, recordingCommand, repeated, tally, type ListedJob } from './support.js';

const dirs = new TempDirs();
after(() => dirs.cleanup());

const JOBS = 40;

describe('two harvester instances on one database', () => {
  test('run every job exactly once between them, and every job finishes', async (t) => {
    const shared = dirs.make('two-shared');
    const database = join(shared, 'harvester.db');
    const submittedLog = join(shared, 'submitted.log');
    const outputs = join(shared, 'outputs.log');
    // Fewer new workers per cycle than jobs, so both instances have submission cycles with work to fight over.
    const queueConfigFile = writeJson(join(shared, 'queues.json'), {
      sharedq: localProcessQueue({ submittedLog, queue: { maxNewWorkersPerCycle: 8, nQueueLimitWorker: 16, maxWorkers: JOBS } }),
    });
    const a = makeRunHome(dirs, 'instance-a', { queueConfigFile, database });
    const b = makeRunHome(dirs, 'instance-b', { queueConfigFile, database });
    const added = await runCli(['jobs', 'add', '--queue', 'sharedq', '--count', String(JOBS), '--command', recordingCommand(outputs)], { home: a.home });
    assert.equal(added.status, 0, added.stderr);

    const [runA, runB] = await Promise.all(
      [a, b].map((home) => runCli(['run', '--until-done', '--timeout', '60'], { home: home.home, timeoutMs: 90_000 })),
    );
    for (const result of [runA!, runB!]) assert.equal(result.status, 0, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`);

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
    // Which instance submitted how many: for the reader (either may win every race, so it is not asserted).
    for (const [name, home] of [['a', a], ['b', b]] as const) {
      const submitted = logRecords(home.logFile)
        .filter((r) => r.agent === 'submitter' && typeof r['submitted'] === 'number')
        .reduce((sum, r) => sum + (r['submitted'] as number), 0);
      t.diagnostic(`instance ${name} submitted ${submitted} workers`);
    }
    const workers = queryDatabase<{ status: string }>(database, 'SELECT status FROM work_table');
    assert.deepEqual(tally(workers, (w) => w.status), { finished: JOBS }, 'one worker per job, each finished');
  });
});
