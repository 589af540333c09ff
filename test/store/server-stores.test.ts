// The store conformance suite against PostgreSQL and MariaDB (the servers of scripts/db-servers), each
// store on a new, empty database.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { StoreSchemaTooNewError } from '../../src/store/errors.js';
import { SERVER_SCHEMA_VERSION } from '../../src/store/server/schema.js';
import { openServerStore } from '../../src/store/server/open-server-store.js';
import { defineStoreConformance } from '../support/store/conformance.js';
import { adminQuery, createTestDatabase, dbServersProblem, dropTestDatabases, loadDbServers, serverEngines, serverSettings } from '../support/store/db-servers.js';

const env = loadDbServers();
if (env === undefined) {
  describe('server stores', () => {
    test('conformance on PostgreSQL and MariaDB', (t) => t.skip(dbServersProblem()));
  });
} else {
  for (const engine of serverEngines) {
    after(() => dropTestDatabases(env, engine));
    defineStoreConformance(`ServerStore on ${engine}`, async () => openServerStore(serverSettings(env, engine, await createTestDatabase(env, engine))));
  }
}

if (env !== undefined) {
  for (const engine of serverEngines) {
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
