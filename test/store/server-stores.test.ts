// The store conformance suite against PostgreSQL and MariaDB (the servers of scripts/db-servers), each
// store on a new, empty database.
import { after, describe, test } from 'node:test';
import { openServerStore } from '../../src/store/server/open-server-store.js';
import { defineStoreConformance } from '../support/store/conformance.js';
import { createTestDatabase, dbServersProblem, dropTestDatabases, loadDbServers, serverEngines, serverSettings } from '../support/store/db-servers.js';

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
