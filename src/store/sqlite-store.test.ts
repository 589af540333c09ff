// SqliteStore: the conformance suite on a file in a temporary directory, and what is particular to a
// database file: schema versions, a corrupt file, a read-only or full file system.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { JobSpec, WorkSpec } from '../spec/index.js';
import { defineStoreConformance } from '../../test/support/store/conformance.js';
import {
  SCHEMA_VERSION,
  SqliteStore,
  StoreCorruptError,
  StoreDiskFullError,
  StoreOpenError,
  StoreReadOnlyError,
  StoreSchemaTooNewError,
} from './index.js';
import { migrate } from './sqlite/schema.js';
import { withTmpfs } from '../../test/support/store/tmpfs.js';

const root = mkdtempSync(join(tmpdir(), 'harvester-store-'));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const newFile = (): string => join(root, `store-${process.pid}-${counter++}.db`);

defineStoreConformance('SqliteStore (file in a temporary directory)', () => SqliteStore.open(newFile()));

describe('SqliteStore on a database file', () => {
  test('a new file is created at the current schema version and keeps its rows across reopening', async () => {
    const file = newFile();
    const store = await SqliteStore.open(file);
    await store.insertJobs([new JobSpec({ PandaID: 1, computingSite: 'Q1' })]);
    await store.close();
    const raw = new Database(file, { readonly: true });
    assert.equal((raw.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number }).v, SCHEMA_VERSION);
    assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
    raw.close();
    const again = await SqliteStore.open(file);
    assert.equal((await again.getJob(1)).computingSite, 'Q1');
    await again.close();
  });

  test('a spec column missing from an older file is added when it is opened', async () => {
    const file = newFile();
    await (await SqliteStore.open(file)).close();
    const raw = new Database(file);
    raw.exec('ALTER TABLE job_table DROP COLUMN "auxInput"');
    raw.close();
    const store = await SqliteStore.open(file);
    await store.insertJobs([new JobSpec({ PandaID: 1, auxInput: 2 })]);
    assert.equal((await store.getJob(1)).auxInput, 2);
    await store.close();
  });

  test('a version-1 file is upgraded in place: its jobs stay, and queued jobs get PandaIDs past them', async () => {
    const file = newFile();
    const v1 = new Database(file);
    v1.transaction(() => migrate(v1, 0, 1)).immediate();
    v1.prepare('INSERT INTO job_table ("PandaID", "computingSite", "status") VALUES (?, ?, ?)').run(41, 'Q1', 'running');
    assert.equal((v1.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number }).v, 1);
    assert.equal(v1.prepare("SELECT name FROM sqlite_master WHERE name = 'job_queue_table'").get(), undefined, 'a real version-1 file: no queue yet');
    v1.close();

    const store = await SqliteStore.open(file);
    try {
      const job = await store.getJob(41);
      assert.deepEqual([job.computingSite, job.status], ['Q1', 'running']);
      const [queued] = await store.enqueueJobs([{ queueName: 'Q1', jobParams: { command: 'true' } }]);
      assert.ok((queued as number) > 41, `the first queued PandaID ${queued} comes after the stored jobs`);
      await store.deleteJobs([41]);
      const fresh = new JobSpec({ computingSite: 'Q1' });
      await store.insertJobs([fresh]);
      assert.ok((fresh.PandaID as number) > (queued as number));
    } finally {
      await store.close();
    }
    const raw = new Database(file, { readonly: true });
    assert.deepEqual((raw.prepare('SELECT version FROM schema_version ORDER BY version').all() as { version: number }[]).map((r) => r.version), [1, 2, 3]);
    raw.close();
  });

  test('a version-2 file is upgraded in place: it gets the dialog message table, and its jobs stay', async () => {
    const file = newFile();
    const v2 = new Database(file);
    v2.transaction(() => migrate(v2, 0, 2)).immediate();
    v2.prepare('INSERT INTO job_table ("PandaID", "computingSite", "status") VALUES (?, ?, ?)').run(42, 'Q1', 'running');
    assert.equal(v2.prepare("SELECT name FROM sqlite_master WHERE name = 'diag_table'").get(), undefined, 'a real version-2 file: no dialogs yet');
    v2.close();

    const store = await SqliteStore.open(file);
    try {
      assert.equal((await store.getJob(42)).status, 'running');
      const message = { moduleName: 'monitor', identifier: null, messageLevel: 'ERROR', diagMessage: 'lost', creationTime: new Date(0) };
      await store.addDialogMessages([message], { keep: 10 });
      assert.deepEqual((await store.claimDialogMessages({ owner: 'A', lockIntervalSec: 60, limit: 5 })).map((m) => m.diagMessage), ['lost']);
    } finally {
      await store.close();
    }
  });

  test('a database with a newer schema version is refused with an error naming the file and both versions, and left untouched', async () => {
    const file = newFile();
    await (await SqliteStore.open(file)).close();
    const raw = new Database(file);
    raw.prepare('INSERT INTO schema_version (version, appliedAt) VALUES (?, ?)').run(SCHEMA_VERSION + 1, Date.now());
    raw.close();
    const before = readFileSync(file);
    await assert.rejects(SqliteStore.open(file), (e: unknown) => {
      assert.ok(e instanceof StoreSchemaTooNewError);
      assert.equal(e.databaseVersion, SCHEMA_VERSION + 1);
      assert.equal(e.supportedVersion, SCHEMA_VERSION);
      assert.match(e.message, new RegExp(`${file}.*version ${SCHEMA_VERSION + 1}.*${SCHEMA_VERSION}`));
      return true;
    });
    assert.deepEqual(readFileSync(file), before);
  });

  test('a file that is not a database is refused with StoreCorruptError naming the file', async () => {
    const file = newFile();
    writeFileSync(file, 'this is a text file, not SQLite '.repeat(200));
    await assert.rejects(SqliteStore.open(file), (e: unknown) => e instanceof StoreCorruptError && e.message.includes(file));
  });

  test('a file in a directory that does not exist is StoreOpenError naming the directory', async () => {
    const file = join(root, 'missing', 'harvester.db');
    await assert.rejects(SqliteStore.open(file), (e: unknown) => e instanceof StoreOpenError && e.message.includes(join(root, 'missing')));
  });

  test('a database on a read-only file system is refused with StoreReadOnlyError', async (t) => {
    await withTmpfs(t, '1m', async (dir, remountReadOnly) => {
      const file = join(dir, 'harvester.db');
      await (await SqliteStore.open(file)).close();
      remountReadOnly();
      await assert.rejects(SqliteStore.open(file), (e: unknown) => e instanceof StoreReadOnlyError && e.message.includes(file));
    });
  });

  test('a full disk fails the write with StoreDiskFullError, writes nothing of it, and the store stays usable', async (t) => {
    await withTmpfs(t, '1m', async (dir) => {
      const store = await SqliteStore.open(join(dir, 'harvester.db'));
      try {
        await store.insertWorkers([new WorkSpec({ computingSite: 'Q1', status: 'submitted' })]);
        const big = Array.from({ length: 400 }, () => new WorkSpec({ computingSite: 'Q1', status: 'submitted', diagMessage: 'x'.repeat(4000) }));
        await assert.rejects(store.insertWorkers(big), (e: unknown) => e instanceof StoreDiskFullError && e.operation === 'insertWorkers');
        assert.equal((await store.listWorkers()).length, 1, 'the failed batch left no rows');
        assert.ok(big.every((w) => w.workerID === null), 'the caller\'s specs got no ids');
        assert.deepEqual(await store.getWorkerStats('Q1'), { submitted: 1 });
      } finally {
        await store.close();
      }
    });
  });
});
