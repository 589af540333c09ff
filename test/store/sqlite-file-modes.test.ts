// The SQLite store's files on a shared host: a database the store creates is 0600, and SQLite gives its -wal
// and -shm files the database file's mode, so none is readable by other users whatever the umask lets through.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite-store.js';

const dir = mkdtempSync(join(tmpdir(), 'hv-sqlite-modes-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function modeOf(path: string): string {
  return (statSync(path).mode & 0o777).toString(8);
}

describe('SQLite file modes', () => {
  test('a database the store creates is 0600, and so are its -wal and -shm files, under umask 022', async () => {
    const previous = process.umask(0o022);
    const file = join(dir, 'new.db');
    try {
      const store = await SqliteStore.open(file);
      try {
        await store.enqueueJobs([{ queueName: 'Q', jobParams: { transformation: 'true' } }]);
        assert.deepEqual([modeOf(file), modeOf(`${file}-wal`), modeOf(`${file}-shm`)], ['600', '600', '600']);
      } finally {
        await store.close();
      }
    } finally {
      process.umask(previous);
    }
  });

  test("an existing database keeps the mode the operator gave it", async () => {
    const file = join(dir, 'existing.db');
    writeFileSync(file, '');
    chmodSync(file, 0o640);
    const store = await SqliteStore.open(file);
    await store.close();
    assert.equal(modeOf(file), '640');
  });
});
