// The store conformance suite against PostgreSQL and MariaDB (the servers of scripts/db-servers), each
// store on an empty database: one per engine, migrated once and emptied before every test
// (reusable-database.ts), since creating and migrating one per test was most of the suite's time.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FileSpec, JobSpec, WorkSpec } from '../../src/spec/index.js';
import { StoreSchemaTooNewError } from '../../src/store/errors.js';
import type { Store } from '../../src/store/store.js';
import { SERVER_SCHEMA_VERSION } from '../../src/store/server/schema.js';
import { openServerStore } from '../../src/store/server/open-server-store.js';
import { defineStoreConformance } from '../support/store/conformance.js';
import { reusableTestDatabase, type ReusableTestDatabase } from '../support/store/reusable-database.js';
import { adminQuery, createTestDatabase, dbServersProblem, dropTestDatabases, loadDbServers, serverEngines, serverSettings } from '../support/store/db-servers.js';

const env = loadDbServers();
if (env === undefined) {
  describe('server stores', () => {
    test('conformance on PostgreSQL and MariaDB', (t) => t.skip(dbServersProblem()));
  });
} else {
  for (const engine of serverEngines) {
    after(() => dropTestDatabases(env, engine));
    // One database per engine, migrated once and emptied before each test (a new, empty store each time).
    let database: Promise<ReusableTestDatabase> | undefined;
    defineStoreConformance(`ServerStore on ${engine}`, async () => {
      database ??= reusableTestDatabase(env, engine, async (name) => (await openServerStore(serverSettings(env, engine, name))).close());
      const db = await database;
      await db.empty();
      return openServerStore(serverSettings(env, engine, db.name));
    });
  }
}

/** The keys a store hands out first, and what it lists, after one row of each kind: the same on any new database. */
async function firstKeys(store: Store): Promise<unknown> {
  const before = { jobs: await store.listJobs(), workers: await store.listWorkers(), queued: await store.listQueuedJobs() };
  const worker = new WorkSpec({ computingSite: 'Q1', status: 'submitted' });
  await store.insertWorkers([worker]);
  const job = new JobSpec({ computingSite: 'Q1', status: 'starting' });
  job.addFile(new FileSpec({ lfn: 'f', fileType: 'input' }));
  await store.insertJobs([job]);
  const queued = await store.enqueueJobs([{ queueName: 'QE', jobParams: {} }]);
  await store.addDialogMessages([{ moduleName: 'm', identifier: null, messageLevel: 'WARNING', diagMessage: 'd', creationTime: new Date(0) }], { keep: 10 });
  const [message] = await store.claimDialogMessages({ owner: 'o', lockIntervalSec: 60, limit: 1 });
  return { before, workerID: worker.workerID, PandaID: job.PandaID, fileID: job.inFiles[0]?.fileID, queued, diagID: message?.diagID };
}

if (env !== undefined) {
  for (const engine of serverEngines) {
    test(`${engine}: a database emptied for the next conformance test is a new one to the store (no rows, the same first keys)`, async () => {
      const reused = await reusableTestDatabase(env, engine, async (name) => (await openServerStore(serverSettings(env, engine, name))).close());
      const used = await openServerStore(serverSettings(env, engine, reused.name));
      try {
        await firstKeys(used);
        await firstKeys(used);
      } finally {
        await used.close();
      }
      await reused.empty();
      const keysOf = async (schema: string): Promise<unknown> => {
        const store = await openServerStore(serverSettings(env, engine, schema));
        try {
          return await firstKeys(store);
        } finally {
          await store.close();
        }
      };
      assert.deepEqual(await keysOf(reused.name), await keysOf(await createTestDatabase(env, engine)));
    });

    describe(`ServerStore schema on ${engine}`, () => {
      test('a new database gets the current schema version; a newer one is refused with a message saying so', async () => {
        const schema = await createTestDatabase(env, engine);
        const store = await openServerStore(serverSettings(env, engine, schema));
        await store.close();
        const again = await openServerStore(serverSettings(env, engine, schema));
        await again.close();
        const bump = engine === 'postgresql' ? `INSERT INTO schema_version ("version", "appliedAt") VALUES (${SERVER_SCHEMA_VERSION + 1}, 0)` : `INSERT INTO schema_version (version, appliedAt) VALUES (${SERVER_SCHEMA_VERSION + 1}, 0)`;
        await adminQuery(env, engine, [bump], schema);
        await assert.rejects(openServerStore(serverSettings(env, engine, schema)), (error: unknown) => {
          assert.ok(error instanceof StoreSchemaTooNewError, String(error));
          assert.match(error.message, new RegExp(`schema version ${SERVER_SCHEMA_VERSION + 1}, newer than the ${SERVER_SCHEMA_VERSION}`));
          return true;
        });
      });
    });
  }
}
