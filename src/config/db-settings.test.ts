// The [db] section in harvester's keys: engines, defaults per engine, the password as a secret (file or
// environment, masked when shown), and clear errors for bad values.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMasterConfig } from './master-config.js';
import { describeDbSettings } from './db-settings.js';
import { ConfigInvalidError } from './problems.js';

function withHome(db: unknown, body: (home: string) => void): void {
  const home = mkdtempSync(join(tmpdir(), 'hv-db-'));
  try {
    writeFileSync(join(home, 'harvester.json'), JSON.stringify({ db }));
    body(home);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

describe('the [db] section', () => {
  test('without engine the store is SQLite, as before', () => {
    withHome({ database_filename: 'x.db' }, (home) => {
      const { db } = loadMasterConfig({ home, env: {} });
      assert.equal(db.engine, 'sqlite');
      assert.equal(db.server, undefined);
      assert.equal(db.databaseFile, join(home, 'x.db'));
    });
  });

  test("harvester's mysql is MariaDB, with harvester's defaults for what is not given", () => {
    withHome({ engine: 'mysql', host: 'db1' }, (home) => {
      const { db } = loadMasterConfig({ home, env: {} });
      assert.equal(db.engine, 'mariadb');
      assert.deepEqual({ ...db.server }, { engine: 'mariadb', host: 'db1', port: 3306, user: 'harvester', schema: 'harvester', nConnections: 10, reconnectTimeout: 300 });
    });
  });

  test('postgresql takes port 5432 by default and the password from an environment variable, shown masked', () => {
    withHome({ engine: 'postgresql', user: 'hv', password: { env: 'HV_DB_SECRET' }, schema: 'hvdb', tls: true }, (home) => {
      const { db } = loadMasterConfig({ home, env: { HV_DB_SECRET: 'a-long-db-secret' } });
      assert.equal(db.server?.port, 5432);
      assert.equal(db.server?.password?.value, 'a-long-db-secret');
      assert.deepEqual(db.server?.tls, { rejectUnauthorized: true });
      const shown = JSON.stringify(describeDbSettings(db));
      assert.doesNotMatch(shown, /a-long-db-secret/);
      assert.match(shown, /\*\*\* \(from env HV_DB_SECRET\)/);
    });
  });

  test('an unknown engine, a bad port or a missing password variable is an error naming db.<key>', () => {
    for (const [db, where] of [
      [{ engine: 'oracle' }, /db\.engine/],
      [{ engine: 'mariadb', port: 70000 }, /db\.port/],
      [{ engine: 'mariadb', password: { env: 'NOPE_NOT_SET' } }, /db\.password\.env.*NOPE_NOT_SET is not set/],
    ] as const) {
      withHome(db, (home) => {
        assert.throws(() => loadMasterConfig({ home, env: {} }), (error: unknown) => {
          assert.ok(error instanceof ConfigInvalidError);
          assert.match(error.message, where);
          return true;
        });
      });
    }
  });
});
