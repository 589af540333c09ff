// A transaction that MariaDB rolls back to break a deadlock leaves nothing behind, not even the statements the
// connector had already pipelined behind the failing one (the store pipelines a write-back's UPDATEs). With
// autocommit on, those ran outside any transaction and committed one by one: half a write-back applied, its
// locks released, and the retried transaction then found the rows no longer locked (StoreLockLostError).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { MariadbDriver } from '../../src/store/mariadb/driver.js';
import { createTestDatabase, dbServersProblem, dropTestDatabases, loadDbServers, serverSettings } from '../support/store/db-servers.js';

/** A promise with its resolve, for one transaction to wait for a step of the other. */
function signal(): { reached: Promise<void>; reach: () => void } {
  let reach: () => void = () => undefined;
  const reached = new Promise<void>((resolve) => (reach = resolve));
  return { reached, reach };
}

const env = loadDbServers();
if (env === undefined) {
  test('MariaDB deadlock victims leave nothing behind', (t) => t.skip(dbServersProblem()));
} else {
  after(() => dropTestDatabases(env, 'mariadb'));

  test('a deadlock victim commits none of the statements pipelined behind the failing one; its retry is the only write', { timeout: 120_000 }, async () => {
    const schema = await createTestDatabase(env, 'mariadb');
    const driver = await MariadbDriver.create(serverSettings(env, 'mariadb', schema, { nConnections: 4 }));
    try {
      await driver.transaction('setup', async (s) => {
        await s.execute('CREATE TABLE "t" ("id" INT PRIMARY KEY, "v" INT) ENGINE=InnoDB');
        await s.execute('CREATE TABLE "marks" ("attempt" INT) ENGINE=InnoDB');
        await s.execute('INSERT INTO "t" VALUES (1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (6, 0)');
      });
      const victimHolds = signal();
      const otherHolds = signal();
      let victimAttempts = 0;
      // The victim holds row 1, then pipelines "row 2" (held by the other) and a mark of its attempt.
      const victim = driver.transaction('victim', async (s) => {
        const attempt = ++victimAttempts;
        await s.execute('UPDATE "t" SET "v" = ? WHERE "id" = 1', [attempt]);
        if (attempt === 1) {
          victimHolds.reach();
          await otherHolds.reached;
        }
        await Promise.all([s.execute('UPDATE "t" SET "v" = ? WHERE "id" = 2', [attempt]), s.execute('INSERT INTO "marks" VALUES (?)', [attempt])]);
      });
      // The other changed more rows (InnoDB rolls the smaller transaction back), then wants row 1: a cycle.
      const other = driver.transaction('other', async (s) => {
        await s.execute('UPDATE "t" SET "v" = 100 WHERE "id" >= 2');
        otherHolds.reach();
        await victimHolds.reached;
        await s.execute('UPDATE "t" SET "v" = 100 WHERE "id" = 1');
      });
      await Promise.all([victim, other]);

      assert.equal(victimAttempts, 2, 'the victim was rolled back once to break the deadlock and retried');
      const marks = await driver.transaction('read', (s) => s.query('SELECT "attempt" FROM "marks" ORDER BY "attempt"'));
      assert.deepEqual(
        marks.map((r) => Number(r.attempt)),
        [2],
        'only the committed attempt left its mark (the rolled-back one committed nothing on its own)',
      );
      const rows = await driver.transaction('read', (s) => s.query('SELECT "id", "v" FROM "t" WHERE "id" <= 2 ORDER BY "id"'));
      assert.deepEqual(
        rows.map((r) => [Number(r.id), Number(r.v)]),
        [
          [1, 2],
          [2, 2],
        ],
      );
    } finally {
      await driver.close();
    }
  });
}
