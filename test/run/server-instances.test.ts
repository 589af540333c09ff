// Three `harvester run` processes on one PostgreSQL or MariaDB database (three homes whose harvester.json name
// the same server database and queue configuration), one of them SIGKILLed midway: the survivors take over
// its rows after lockInterval, every job's payload runs once, every worker is started once, nothing is lost.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, TempDirs, writeJson } from '../cli/support.js';
import { createTestDatabase, dbServersProblem, dropTestDatabases, loadDbServers, serverEngines } from '../support/store/db-servers.js';
import { countByFirstWord, HarvesterProcess, localProcessQueue, makeRunHome, recordingCommand, repeated, tally, waitFor, type ListedJob } from './support.js';

const dirs = new TempDirs();
after(() => dirs.cleanup());

const JOBS = 120;
const env = loadDbServers();

if (env === undefined) {
  test('three harvester instances on one server database', (t) => t.skip(dbServersProblem()));
} else {
  for (const engine of serverEngines) {
    after(() => dropTestDatabases(env, engine));
    describe(`three harvester instances on one ${engine} database`, () => {
      test('split the work, survive one of them SIGKILLed midway, and run every job exactly once', { timeout: 240_000 }, async (t) => {
        const shared = dirs.make(`server-${engine}`);
        const submittedLog = join(shared, 'submitted.log');
        const outputs = join(shared, 'outputs.log');
        const passwordFile = join(shared, 'db-password');
        writeFileSync(passwordFile, `${env.password}\n`, { mode: 0o600 });
        const server = env[engine];
        const db = { engine, host: server.host, port: server.port, user: server.user, password: { file: passwordFile }, schema: await createTestDatabase(env, engine) };
        const queueConfigFile = writeJson(join(shared, 'queues.json'), {
          sharedq: localProcessQueue({ submittedLog, queue: { maxNewWorkersPerCycle: 6, nQueueLimitWorker: 18, maxWorkers: JOBS, nQueueLimitJob: JOBS } }),
        });
        const homes = ['a', 'b', 'c'].map((name) => makeRunHome(dirs, `server-${engine}-${name}`, { queueConfigFile, extra: { db } }));
        const added = await runCli(['jobs', 'add', '--queue', 'sharedq', '--count', String(JOBS), '--command', recordingCommand(outputs)], { home: homes[0]!.home });
        assert.equal(added.status, 0, added.stderr);

        const runs = homes.map((home) => new HarvesterProcess(['run', '--until-done', '--timeout', '180'], home.home));
        after(() => runs.forEach((r) => r.killIfRunning()));
        // Midway: a third of the workers started.
        await waitFor('a third of the workers started', () => (countByFirstWord(submittedLog).size >= JOBS / 3 ? true : undefined), 120_000, 100);
        runs[2]!.child.kill('SIGKILL');
        const killed = await runs[2]!.exit(20_000);
        assert.equal(killed.signal, 'SIGKILL');
        for (const run of runs.slice(0, 2)) {
          const result = await run.exit(200_000);
          assert.equal(result.code, 0, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
        }

        const starts = countByFirstWord(submittedLog);
        assert.deepEqual(repeated(starts), [], 'no worker was started twice');
        const payloads = countByFirstWord(outputs);
        assert.deepEqual(repeated(payloads), [], 'no job payload ran twice');
        assert.equal(payloads.size, JOBS, "every job's payload ran");
        const jobs = JSON.parse((await runCli(['jobs', 'list', '--json'], { home: homes[1]!.home })).stdout) as ListedJob[];
        assert.equal(jobs.length, JOBS);
        assert.deepEqual(tally(jobs, (j) => `${j.status}/${j.subStatus}`), { 'finished/done': JOBS });
        t.diagnostic(`workers started: ${starts.size}`);
      });
    });
  }
}
