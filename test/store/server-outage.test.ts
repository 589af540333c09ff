// An outage seen by every caller: while the database server is unreachable, each store call that waits for
// it says so (a "retrying" event, logged by harvester run) and says when it is back, also a call queued on
// the connection pool behind the others (MariaDB's pool would keep such a caller silent until its acquire
// timeout, 11 s).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ReconnectEvent } from '../../src/store/server/reconnect.js';
import { openServerStore } from '../../src/store/server/open-server-store.js';
import { startTcpRelay } from '../support/store/tcp-relay.js';
import { createTestDatabase, describeOnServerEngines, loadDbServers, serverSettings } from '../support/store/db-servers.js';

const env = loadDbServers();

/** The first retry of an operation that has reached this attempt: the outage has lasted ~3 s of backoff. */
const restoreAtAttempt = 6;

describeOnServerEngines(env, 'outages seen by every caller on PostgreSQL and MariaDB', (engine) => `an outage on ${engine}`, (env, engine) => {
  test('every call that waits for the server says so and says when it is back, also the calls queued on the pool', { timeout: 120_000 }, async () => {
    const schema = await createTestDatabase(env, engine);
    const proxy = await startTcpRelay(env[engine]);
    const events: ReconnectEvent[] = [];
    let longOutage: () => void = () => undefined;
    const outageLasted = new Promise<void>((resolve) => (longOutage = resolve));
    const store = await openServerStore(
      serverSettings(env, engine, schema, {
        port: proxy.port,
        nConnections: 2,
        reconnectTimeoutSec: 100,
        onEvent: (event) => {
          events.push(event);
          if (event.kind === 'retrying' && event.attempt >= restoreAtAttempt) longOutage();
        },
      }),
    );
    try {
      await store.listWorkers();
      await proxy.cut();
      // Six callers on a pool of two connections: four of them queue on the pool.
      const calls = {
        listWorkers: store.listWorkers(),
        listJobs: store.listJobs(),
        getWorkerStatsByQueue: store.getWorkerStatsByQueue(),
        getJobStatsByQueue: store.getJobStatsByQueue(),
        listQueuedJobs: store.listQueuedJobs(),
        getWorkers: store.getWorkers([1]),
      };
      let guard: NodeJS.Timeout | undefined;
      await Promise.race([
        outageLasted,
        new Promise((_, reject) => (guard = setTimeout(() => reject(new Error(`no call reached attempt ${restoreAtAttempt} in 60 s: ${JSON.stringify(events)}`)), 60_000))),
      ]).finally(() => clearTimeout(guard));
      await proxy.restore();
      const results = await Promise.all(Object.values(calls));
      assert.deepEqual(results[0], [], 'the calls were answered after the outage');
      for (const operation of Object.keys(calls)) {
        const own = events.filter((e) => e.operation === operation);
        assert.ok(own.some((e) => e.kind === 'retrying'), `${operation} said it waits for the server: ${JSON.stringify(own)}`);
        assert.ok(own.some((e) => e.kind === 'recovered'), `${operation} said the server is back: ${JSON.stringify(own)}`);
      }
    } finally {
      await store.close();
      await proxy.close();
    }
  });
});
