// Closing a server store while a transaction waits for an unreachable server (the process stops during an
// outage, e.g. `harvester run --until-done` finishing while the lock keeper's renewal waits): the waiting call
// ends at once with StoreClosedError instead of retrying against a closed pool until reconnectTimeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { StoreClosedError } from '../../src/store/errors.js';
import { openServerStore } from '../../src/store/server/open-server-store.js';
import type { ReconnectEvent } from '../../src/store/server/reconnect.js';
import { createTestDatabase, describeOnServerEngines, loadDbServers, serverSettings } from '../support/store/db-servers.js';

/** A TCP relay to the server that can be cut: the listener closes and every relayed connection is destroyed. */
async function cuttableRelay(host: string, port: number): Promise<{ port: number; cut: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(port, host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    cut: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

const env = loadDbServers();

describeOnServerEngines(env, 'closing a server store during an outage', (engine) => `closing a ${engine} store during an outage`, (env, engine) => {
  test('a call waiting for the server ends with StoreClosedError when the store closes', { timeout: 90_000 }, async () => {
    const relay = await cuttableRelay(env[engine].host, env[engine].port);
    const events: ReconnectEvent[] = [];
    let waiting: () => void = () => undefined;
    const firstWait = new Promise<void>((resolve) => (waiting = resolve));
    const settings = serverSettings(env, engine, await createTestDatabase(env, engine), {
      host: '127.0.0.1',
      port: relay.port,
      reconnectTimeoutSec: 600,
      connectTimeoutSec: 1,
      onEvent: (event) => {
        events.push(event);
        if (event.kind === 'retrying') waiting();
      },
    });
    const store = await openServerStore(settings);
    assert.deepEqual(await store.listWorkers(), []);
    await relay.cut();
    const call = store.renewLocks('monitor-host-1');
    await firstWait;
    await store.close();
    await assert.rejects(call, (error: unknown) => {
      assert.ok(error instanceof StoreClosedError, `${String(error)}`);
      assert.equal(error.operation, 'renewLocks');
      return true;
    });
    assert.ok(events.every((e) => e.kind === 'retrying'), 'the server never came back: only waits were told');
  });
});
