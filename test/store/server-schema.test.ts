// The server schema's migrations beyond the first: a database made by an earlier version is brought to the
// current one on open, keeping its rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkSpec } from '../../src/spec/index.js';
import { openServerStore } from '../../src/store/server/open-server-store.js';
import { SERVER_SCHEMA_VERSION, workerIndexesDroppedInVersion3 } from '../../src/store/server/schema.js';
import type { ServerEngine } from '../../src/store/server/session.js';
import { adminQuery, createTestDatabase, type DbServersEnv, describeOnServerEngines, loadDbServers, serverSettings } from '../support/store/db-servers.js';

const q = (engine: ServerEngine, name: string): string => (engine === 'postgresql' ? `"${name}"` : `\`${name}\``);

const droppedInVersion2 = ['work_table_modificationTime', 'work_table_status_modificationTime', 'work_table_computingSite'];

async function workTableIndexes(env: DbServersEnv, engine: ServerEngine, schema: string): Promise<string[]> {
  const sql =
    engine === 'postgresql'
      ? `SELECT indexname AS name FROM pg_indexes WHERE tablename = 'work_table'`
      : `SELECT DISTINCT index_name AS name FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = 'work_table'`;
  const [rows] = (await adminQuery(env, engine, [sql], schema)) as [Array<{ name: string }>];
  return rows.map((r) => r.name).sort();
}

async function versions(env: DbServersEnv, engine: ServerEngine, schema: string): Promise<number[]> {
  const [rows] = (await adminQuery(env, engine, ['SELECT version FROM schema_version ORDER BY version'], schema)) as [Array<{ version: number | string }>];
  return rows.map((r) => Number(r.version));
}

/** A new database of the current version holding one worker of queue Q1. */
async function databaseWithOneWorker(env: DbServersEnv, engine: ServerEngine): Promise<string> {
  const schema = await createTestDatabase(env, engine);
  const store = await openServerStore(serverSettings(env, engine, schema));
  await store.insertWorkers([new WorkSpec({ computingSite: 'Q1', status: 'running' } as never)]);
  await store.close();
  return schema;
}

/** Opens the database again (which migrates it), checks its worker and version stayed or moved on, returns work_table's indexes. */
async function reopenedIndexes(env: DbServersEnv, engine: ServerEngine, schema: string): Promise<string[]> {
  const reopened = await openServerStore(serverSettings(env, engine, schema));
  try {
    assert.equal((await reopened.listWorkers({ queueName: 'Q1' })).length, 1, 'the rows stay');
  } finally {
    await reopened.close();
  }
  assert.deepEqual(await versions(env, engine, schema), Array.from({ length: SERVER_SCHEMA_VERSION }, (_, i) => i + 1));
  return workTableIndexes(env, engine, schema);
}

const env = loadDbServers();
describeOnServerEngines(env, 'server schema migrations on PostgreSQL and MariaDB', (engine) => `server schema migrations on ${engine}`, (env, engine) => {
  test('a version-1 database loses the worker table\'s lock-time indexes and those of version 3 on open (PostgreSQL: its pages keep room for updates), and keeps its rows', async () => {
    const schema = await databaseWithOneWorker(env, engine);
    const current = await workTableIndexes(env, engine, schema);
    assert.deepEqual(
      droppedInVersion2.filter((name) => current.includes(name)),
      [],
      'a new database has none of them',
    );
    // Back to what version 1 left.
    await adminQuery(
      env,
      engine,
      [
        `CREATE INDEX ${q(engine, 'work_table_modificationTime')} ON work_table (${q(engine, 'modificationTime')})`,
        `CREATE INDEX ${q(engine, 'work_table_status_modificationTime')} ON work_table (status, ${q(engine, 'modificationTime')})`,
        `CREATE INDEX ${q(engine, 'work_table_computingSite')} ON work_table (${q(engine, 'computingSite')})`,
        ...workerIndexesDroppedInVersion3.map((index) => `CREATE INDEX ${q(engine, index)} ON work_table (${q(engine, index.slice('work_table_'.length))})`),
        ...(engine === 'postgresql' ? ['ALTER TABLE work_table RESET (fillfactor)'] : []),
        'DELETE FROM schema_version WHERE version > 1',
      ],
      schema,
    );
    assert.deepEqual(await versions(env, engine, schema), [1]);

    const migrated = await reopenedIndexes(env, engine, schema);
    assert.deepEqual([...droppedInVersion2, ...workerIndexesDroppedInVersion3].filter((name) => migrated.includes(name)), [], 'version 1 to the current version in one open');
    assert.ok(migrated.includes('work_table_computingSite_status') && migrated.includes('work_table_status'), `the claims' indexes stay: ${migrated.join(', ')}`);
    if (engine === 'postgresql') {
      const [rows] = (await adminQuery(env, engine, [`SELECT reloptions FROM pg_class WHERE relname = 'work_table'`], schema)) as [Array<{ reloptions: string[] | null }>];
      assert.deepEqual(rows[0]?.reloptions, ['fillfactor=70']);
    }
  });

  test('a version-2 database loses the worker table\'s indexes that every status change wrote on open, and keeps its rows and the claims\' indexes', async () => {
    const schema = await databaseWithOneWorker(env, engine);
    const fresh = await workTableIndexes(env, engine, schema);
    assert.deepEqual(workerIndexesDroppedInVersion3.filter((name) => fresh.includes(name)), [], 'a new database has none of them');
    // Back to what version 2 left: the indexes harvester's column flags give.
    await adminQuery(
      env,
      engine,
      [...workerIndexesDroppedInVersion3.map((index) => `CREATE INDEX ${q(engine, index)} ON work_table (${q(engine, index.slice('work_table_'.length))})`), 'DELETE FROM schema_version WHERE version > 2'],
      schema,
    );
    assert.deepEqual(await versions(env, engine, schema), [1, 2]);

    const migrated = await reopenedIndexes(env, engine, schema);
    assert.deepEqual(workerIndexesDroppedInVersion3.filter((name) => migrated.includes(name)), []);
    for (const kept of ['work_table_computingSite_status', 'work_table_status', 'work_table_killTime']) {
      assert.ok(migrated.includes(kept), `${kept} stays (a claim reads it): ${migrated.join(', ')}`);
    }
  });
});
