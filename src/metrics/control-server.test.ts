// The control endpoint on a unix socket (only its user may connect) and the opt-in Prometheus listener.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { askControlSocket, ControlEndpointError, ControlServer } from './control-server.js';
import { HarvesterMetrics } from './harvester-metrics.js';

const dir = mkdtempSync(join(tmpdir(), 'hv-control-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('ControlServer', () => {
  test('the socket is 0600 and answers /status and /metrics; TCP answers /metrics only', async () => {
    const metrics = new HarvesterMetrics({ version: '1.2.3' });
    const socketPath = join(dir, 'a.sock');
    const server = await ControlServer.start({ metrics, socketPath, listen: { host: '127.0.0.1', port: 0 }, status: async () => ({ ok: true }), onError: () => undefined });
    try {
      assert.equal(statSync(socketPath).mode & 0o777, 0o600);
      assert.deepEqual(JSON.parse((await askControlSocket(socketPath, '/status', 5000)).body), { ok: true });
      assert.match((await askControlSocket(socketPath, '/metrics', 5000)).body, /^harvester_info\{version="1.2.3"\} 1$/m);
      const port = server.tcpAddress!.port;
      const scraped = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(scraped.status, 200);
      assert.match(await scraped.text(), /harvester_info/);
      assert.equal((await fetch(`http://127.0.0.1:${port}/status`)).status, 404);
    } finally {
      await server.close();
    }
  });

  test('a second server on a live socket is refused; a stale socket file is taken over', async () => {
    const metrics = new HarvesterMetrics({ version: '1.2.3' });
    const socketPath = join(dir, 'b.sock');
    const options = { metrics, socketPath, status: async () => ({}), onError: () => undefined };
    const first = await ControlServer.start(options);
    await assert.rejects(ControlServer.start(options), ControlEndpointError);
    await first.close();
    const second = await ControlServer.start(options);
    await second.close();
  });

  test('a failing status is a 500 naming the failure, and is reported', async () => {
    const metrics = new HarvesterMetrics({ version: '1.2.3' });
    const socketPath = join(dir, 'c.sock');
    const reported: string[] = [];
    const server = await ControlServer.start({ metrics, socketPath, status: async () => Promise.reject(new Error('store closed')), onError: (what) => reported.push(what) });
    try {
      const answer = await askControlSocket(socketPath, '/status', 5000);
      assert.equal(answer.status, 500);
      assert.match(answer.body, /store closed/);
      assert.deepEqual(reported, ['/status']);
    } finally {
      await server.close();
    }
  });
});
