// Three `harvester run` processes on one PostgreSQL or MariaDB database (three homes whose harvester.json name
// the same server database and queue), submitting and monitoring 3,000 workers, one of them SIGKILLed midway
// while it holds workers it claimed for monitoring: the survivors take its rows over after lockInterval and
// finish them, every worker is submitted exactly once, and nothing is lost.
// The plugins are the cheapest there are (recording-plugins.ts: a line per worker, nothing runs), so the
// thousands of workers cost the agents and the database, which is what is under test.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli, TempDirs, writeJson } from '../cli/support.js';
import { openServerStore } from '../../src/store/server/open-server-store.js';
import { createTestDatabase, dbServersProblem, dropTestDatabases, loadDbServers, serverEngines, serverSettings } from '../support/store/db-servers.js';
import { fastAgentSettings, HarvesterProcess, makeRunHome, repeated, tally, waitFor } from './support.js';

const dirs = new TempDirs();
after(() => dirs.cleanup());

const WORKERS = 3000;
/** Rows claimed per cycle and agent: a tenth of the work, so each instance gets its share over several passes. */
const BATCH = 300;
/** Long enough for a cycle of BATCH rows on a loaded machine (a lock outliving its cycle is never taken over). */
const LOCK_INTERVAL = 8;
const plugins = fileURLToPath(new URL('../support/plugins/recording-plugins.js', import.meta.url));
const env = loadDbServers();

/** Agent settings for thousands of rows: whole batches per cycle, locks a loaded machine's cycles stay within. */
const scaleAgentSettings = Object.fromEntries(
  Object.entries(fastAgentSettings).map(([agent, settings]) => [agent, { ...settings, lockInterval: LOCK_INTERVAL, ...('queueLockInterval' in settings ? { queueLockInterval: LOCK_INTERVAL } : {}) }]),
);
Object.assign(scaleAgentSettings, {
  jobfetcher: { ...scaleAgentSettings.jobfetcher, maxJobs: BATCH },
  preparator: { ...scaleAgentSettings.preparator, maxJobsToPrepare: BATCH },
  submitter: { ...scaleAgentSettings.submitter, maxNewWorkers: BATCH },
  monitor: { ...scaleAgentSettings.monitor, maxWorkers: BATCH },
  stager: { ...scaleAgentSettings.stager, maxJobsToCheck: BATCH },
  propagator: { ...scaleAgentSettings.propagator, maxJobs: BATCH, maxWorkers: BATCH },
});

/** Lines of "<workerID> <pid>" logs: workerID -> the pids that wrote a line for it, in order. */
function linesByWorker(file: string): Map<number, number[]> {
  const byWorker = new Map<number, number[]>();
  if (!existsSync(file)) return byWorker;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [id, pid] = line.trim().split(/\s+/);
    if (id === undefined || id === '' || pid === undefined) continue;
    byWorker.set(Number(id), [...(byWorker.get(Number(id)) ?? []), Number(pid)]);
  }
  return byWorker;
}

if (env === undefined) {
  test('three harvester instances on one server database', (t) => t.skip(dbServersProblem()));
} else {
  for (const engine of serverEngines) {
    after(() => dropTestDatabases(env, engine));
    describe(`three harvester instances on one ${engine} database`, () => {
      test(`submit and monitor ${WORKERS} workers, one instance SIGKILLed midway: its rows taken over, every worker submitted once`, { timeout: 600_000 }, async (t) => {
        const started = Date.now();
        const shared = dirs.make(`server-${engine}`);
        const submittedLog = join(shared, 'submitted.log');
        const finishedLog = join(shared, 'finished.log');
        const holdFile = join(shared, 'hold');
        const heldFile = join(shared, 'held');
        const passwordFile = join(shared, 'db-password');
        writeFileSync(passwordFile, `${env.password}\n`, { mode: 0o600 });
        const server = env[engine];
        const schema = await createTestDatabase(env, engine);
        const db = { engine, host: server.host, port: server.port, user: server.user, password: { file: passwordFile }, schema };
        const queue = (monitorOptions: Record<string, unknown>) => ({
          sharedq: {
            queueStatus: 'online',
            prodSourceLabel: 'managed',
            mapType: 'OneToOne',
            nQueueLimitJob: WORKERS,
            nQueueLimitWorker: WORKERS,
            maxWorkers: WORKERS,
            maxNewWorkersPerCycle: BATCH,
            submitter: { name: 'RecordingSubmitter', module: plugins, submittedLog },
            monitor: { name: 'RecordingMonitor', module: plugins, finishedLog, ...monitorOptions },
            preparator: { name: 'DummyPreparator', module: 'pandaharvester.harvesterpreparator.dummy_preparator' },
            stager: { name: 'DummyStager', module: 'pandaharvester.harvesterstager.dummy_stager' },
            workerMaker: { name: 'SimpleWorkerMaker', module: 'pandaharvester.harvesterworkermaker.simple_worker_maker' },
          },
        });
        // Once `hold` appears, the survivors give no verdict until the victim holds a batch: it is sure to get one.
        const survivorQueues = writeJson(join(shared, 'queues.json'), queue({ pauseFile: holdFile, resumeFile: heldFile }));
        // The instance to be killed holds the workers of its first monitor call after `hold` appears.
        const victimQueues = writeJson(join(shared, 'queues-victim.json'), queue({ holdFile, heldFile }));
        const homes = ['a', 'b', 'c'].map((name) =>
          makeRunHome(dirs, `server-${engine}-${name}`, { queueConfigFile: name === 'c' ? victimQueues : survivorQueues, extra: { db, ...scaleAgentSettings } }),
        );
        const added = await runCli(['jobs', 'add', '--queue', 'sharedq', '--count', String(WORKERS), '--command', 'true'], { home: homes[0]!.home });
        assert.equal(added.status, 0, added.stderr);

        const runs = homes.map((home) => new HarvesterProcess(['run', '--until-done', '--timeout', '500'], home.home));
        after(() => runs.forEach((r) => r.killIfRunning()));
        const [a, b, victim] = runs as [HarvesterProcess, HarvesterProcess, HarvesterProcess];
        // Midway: a third of the workers submitted, then the victim is killed holding a monitor batch.
        await waitFor('a third of the workers submitted', () => (linesByWorker(submittedLog).size >= WORKERS / 3 ? true : undefined), 300_000, 100);
        writeFileSync(holdFile, '');
        await waitFor('the victim to hold a monitor batch', () => (existsSync(heldFile) ? true : undefined), 300_000, 50);
        victim.child.kill('SIGKILL');
        assert.equal((await victim.exit(30_000)).signal, 'SIGKILL');
        const held = readFileSync(heldFile, 'utf8').trim().split('\n').map(Number);

        const store = await openServerStore(serverSettings(env, engine, schema));
        try {
          const victimMark = `-${victim.pid}-`;
          const heldAtKill = (await store.listWorkers({ workerIDs: held })).filter((w) => w.lockedBy?.includes(victimMark));
          assert.equal(heldAtKill.length, held.length, 'the killed instance held its monitor batch locked when it died');

          for (const run of [a, b]) {
            const result = await run.exit(500_000);
            assert.equal(result.code, 0, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
          }

          const submitted = linesByWorker(submittedLog);
          assert.deepEqual(repeated(new Map([...submitted].map(([id, pids]) => [String(id), pids.length]))), [], 'no worker was submitted twice');
          assert.equal(submitted.size, WORKERS, 'every job got a worker, submitted');
          const finished = linesByWorker(finishedLog);
          const survivors = new Set([a.pid, b.pid]);
          const takenOver = held.filter((id) => finished.get(id)?.some((pid) => survivors.has(pid)) === true);
          assert.deepEqual(takenOver, held, 'every worker the killed instance held was taken over and found finished by a survivor');

          const workers = await store.listWorkers();
          assert.equal(workers.length, WORKERS, 'no worker beyond one per job');
          assert.deepEqual(tally(workers, (w) => w.status ?? 'null'), { finished: WORKERS });
          assert.deepEqual(workers.filter((w) => w.lockedBy !== null).map((w) => w.workerID), [], 'no worker is left locked');
          const jobs = await store.listJobs();
          assert.deepEqual(tally(jobs, (j) => `${j.status}/${j.subStatus}`), { 'finished/done': WORKERS });
          assert.deepEqual(await store.listQueuedJobs(), [], 'no job left in the embedded queue');
          const byInstance = tally([...submitted.values()].map((pids) => pids[0]!), (pid) => (pid === victim.pid ? 'killed' : pid === a.pid ? 'a' : 'b'));
          t.diagnostic(`submitted by instance: ${JSON.stringify(byInstance)}; held at the kill: ${held.length}; ${Math.round((Date.now() - started) / 1000)} s`);
        } finally {
          await store.close();
        }
      });
    });
  }
}
