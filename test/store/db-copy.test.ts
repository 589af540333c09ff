// `harvester db copy` from a populated SQLite home into an empty PostgreSQL or MariaDB database: every row
// arrives with its id, the counts are checked, a workerID SQLite handed out is never handed out again, and a
// database that is not empty is refused.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSpec, JobSpec, WorkSpec } from '../../src/spec/index.js';
import { openServerStore } from '../../src/store/server/open-server-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { runCli } from '../cli/support.js';
import { createTestDatabase, dbServersProblem, dropTestDatabases, loadDbServers, serverEngines, serverSettings } from '../support/store/db-servers.js';

const env = loadDbServers();
const root = mkdtempSync(join(tmpdir(), 'hv-dbcopy-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A home whose SQLite database holds jobs with files, workers, relations, queued jobs, a queue lock and dialogs. */
async function populatedHome(): Promise<{ home: string; lastWorkerID: number }> {
  const home = mkdtempSync(join(root, 'home-'));
  const store = await SqliteStore.open(join(home, 'harvester.db'));
  try {
    const jobs = Array.from({ length: 120 }, (_, i) => {
      const job = new JobSpec({ PandaID: 5000 + i, computingSite: 'Q1', status: 'running', subStatus: 'submitted', jobParams: { i, text: `a\u0000b ${i}` } });
      job.inFiles = [new FileSpec({ lfn: `in-${i}`, fileType: 'input', status: 'ready' })];
      job.outFiles = [new FileSpec({ lfn: `out-${i}`, fileType: 'output', status: 'defined' })];
      return job;
    });
    await store.insertJobs(jobs);
    const workers = jobs.map((job) => {
      const w = new WorkSpec({ computingSite: 'Q1', status: 'running', batchID: `b${job.PandaID}`, modificationTime: new Date() });
      w.jobSpecs = [job];
      return w;
    });
    await store.insertWorkers(workers);
    const extra = [new WorkSpec({ computingSite: 'Q1', status: 'finished' })];
    await store.insertWorkers(extra);
    const lastWorkerID = extra[0]?.workerID as number;
    await store.deleteWorkers([lastWorkerID]);
    await store.enqueueJobs(Array.from({ length: 30 }, (_, i) => ({ queueName: 'QE', jobParams: { n: i } })));
    await store.claimQueues({ queueNames: ['Q1'], owner: 'old-instance', lockIntervalSec: 600 });
    await store.addDialogMessages([{ moduleName: 'monitor', identifier: 'Q1', messageLevel: 'WARNING', diagMessage: 'slow', creationTime: new Date() }], { keep: 100 });
    return { home, lastWorkerID };
  } finally {
    await store.close();
  }
}

if (env === undefined) {
  test('db copy to PostgreSQL and MariaDB', (t) => t.skip(dbServersProblem()));
} else {
  for (const engine of serverEngines) {
    after(() => dropTestDatabases(env, engine));
    describe(`db copy to ${engine}`, () => {
      test('copies every table of a populated SQLite home with the same ids, checks the counts, and refuses a second copy', { timeout: 120_000 }, async () => {
        const { home, lastWorkerID } = await populatedHome();
        const schema = await createTestDatabase(env, engine);
        const server = env[engine];
        const url = `${engine}://${server.user}@${server.host}:${server.port}/${schema}`;
        const copy = await runCli(['db', 'copy', '--from', home, '--to', url, '--json'], { home, env: { HARVESTER_DB_PASSWORD: env.password }, timeoutMs: 60_000 });
        assert.equal(copy.status, 0, copy.stderr);
        const report = JSON.parse(copy.stdout) as { rows: Record<string, number> };
        assert.equal(report.rows.job_table, 120);
        assert.equal(report.rows.work_table, 120);
        assert.equal(report.rows.file_table, 240);
        assert.equal(report.rows.jw_table, 120);
        assert.equal(report.rows.job_queue_table, 30);
        assert.equal(report.rows.diag_table, 1);
        assert.doesNotMatch(copy.stdout + copy.stderr, new RegExp(env.password));

        const source = await SqliteStore.open(join(home, 'harvester.db'));
        const target = await openServerStore(serverSettings(env, engine, schema));
        try {
          assert.deepEqual(
            (await target.listJobs({ withFiles: true })).map((j) => j.toJSON()),
            (await source.listJobs({ withFiles: true })).map((j) => j.toJSON()),
          );
          assert.deepEqual(
            (await target.listWorkers({ withJobs: true })).map((w) => w.toJSON()),
            (await source.listWorkers({ withJobs: true })).map((w) => w.toJSON()),
          );
          assert.deepEqual(await target.listQueuedJobs(), await source.listQueuedJobs());
          assert.deepEqual(await target.claimQueues({ queueNames: ['Q1'], owner: 'new-instance', lockIntervalSec: 600 }), [], 'the queue lock came along');
          const fresh = new WorkSpec({ computingSite: 'Q1', status: 'submitted' });
          await target.insertWorkers([fresh]);
          assert.ok((fresh.workerID as number) > lastWorkerID, `a new workerID (${fresh.workerID}) is past every id SQLite handed out (${lastWorkerID})`);
          const [queued] = await target.enqueueJobs([{ queueName: 'QE', jobParams: {} }]);
          assert.ok((queued as number) > Math.max(...(await source.listQueuedJobs()).map((q) => q.PandaID)), 'the PandaID sequence came along');
        } finally {
          await source.close();
          await target.close();
        }

        const again = await runCli(['db', 'copy', '--from', home, '--to', url], { home, env: { HARVESTER_DB_PASSWORD: env.password }, timeoutMs: 60_000 });
        assert.equal(again.status, 1);
        assert.match(again.stderr, /not empty .*nothing was copied/);
      });
    });
  }
}
