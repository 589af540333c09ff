// `harvester run --until-done` and `--once` on real homes: jobs added to the embedded queue travel the whole way
// (fetched, prepared, submitted as local processes, monitored, staged, reported) with nothing configured.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { agentNames } from '../../src/config/index.js';
import { outputLines, parseTable, runCli, TempDirs, writeJson } from '../cli/support.js';
import { localProcessQueue, makeRunHome, tally, type ListedJob, type ListedWorker } from './support.js';

const dirs = new TempDirs();
after(() => dirs.cleanup());

describe('harvester run --until-done on a fresh home', () => {
  test('runs jobs added to the shipped example queue to their end: finished ones finished, a failing one failed', async () => {
    // Not created: the first command creates the home, with the database and the log directory in it.
    const home = join(dirs.make('fresh'), 'home');
    const added = await runCli(['jobs', 'add', '--queue', 'local', '--count', '3', '--command', 'echo hi'], { home });
    assert.equal(added.status, 0, added.stderr);
    const failing = await runCli(['jobs', 'add', '--queue', 'local', '--command', 'exit 3'], { home });
    assert.equal(failing.status, 0, failing.stderr);
    const failingID = Number(outputLines(failing.stdout)[0]);

    const run = await runCli(['run', '--until-done', '--timeout', '60'], { home, timeoutMs: 90_000 });
    assert.equal(run.status, 0, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
    assert.match(run.stdout, /all work done after \d+ passes/);

    const workers = JSON.parse((await runCli(['workers', 'list', '--json'], { home })).stdout) as ListedWorker[];
    assert.equal(workers.length, 4);
    assert.deepEqual(tally(workers, (w) => w.status), { finished: 3, failed: 1 });
    const jobs = JSON.parse((await runCli(['jobs', 'list', '--json'], { home })).stdout) as ListedJob[];
    assert.equal(jobs.length, 4);
    assert.deepEqual(tally(jobs, (j) => j.status), { finished: 3, failed: 1 });
    assert.equal(jobs.find((j) => j.PandaID === failingID)?.status, 'failed', 'the job whose command exits 3 is the failed one');
    assert.ok(jobs.every((j) => j.subStatus === 'done'), `every job has been staged out and is done: ${JSON.stringify(jobs)}`);

    assert.ok(existsSync(join(home, 'harvester.db')), 'the database is in the home');
    assert.ok(existsSync(join(home, 'logs', 'harvester.log')), 'the log is in the home');
  });
});

describe('harvester run --once', () => {
  test('runs one cycle of every agent and prints one line per agent, in the order a job travels', async () => {
    const configDir = dirs.make('once-config');
    const queueConfigFile = writeJson(join(configDir, 'queues.json'), { onceq: localProcessQueue() });
    const { home } = makeRunHome(dirs, 'once', { queueConfigFile });
    const added = await runCli(['jobs', 'add', '--queue', 'onceq', '--count', '2', '--command', 'true'], { home });
    assert.equal(added.status, 0, added.stderr);

    const once = await runCli(['run', '--once'], { home, timeoutMs: 60_000 });
    assert.equal(once.status, 0, once.stderr);
    const rows = parseTable(once.stdout, 'agent');
    assert.deepEqual(
      rows.map((r) => r.agent),
      [...agentNames],
    );
    // One pass takes a job from the embedded queue to a running worker.
    const did = Object.fromEntries(rows.map((r) => [r.agent, r.did]));
    assert.match(did.jobfetcher!, /fetched 2/);
    assert.match(did.submitter!, /submitted 2/);
  });
});
