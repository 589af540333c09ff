import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MiddlewareConfig } from '../../config/index.js';
import { NotOurBotError } from '../errors.js';
import { handshakeWithBot, parsePortHolder, portHolder } from './bot-handshake.js';
import { LoopbackLink } from './bot-link.js';

function mw(port: number): MiddlewareConfig {
  return { key: 'rpc', name: 'RpcHerder', module: 'm', remoteHost: 'hpc', remotePort: 22, remoteBindPort: port, numTunnels: 1, sshUserName: 'u', jumpPort: 22, launchBot: false, useAgent: false, strictHostKeyChecking: false, botHome: '.harvester', remoteCommand: 'harvester', transport: 'tcp', callTimeout: 60, connectTimeout: 30, extra: {} } as MiddlewareConfig;
}

/** A server on a loopback port answering every connection with `answer` (an HTTP server squatting the bot's port). */
async function listen(answer: (socket: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(answer);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return { server, port: address.port };
}

describe('who holds the bot port when the handshake fails', () => {
  const home = mkdtempSync(join(tmpdir(), 'hv-handshake-'));
  const link = new LoopbackLink(home);
  let http: { server: Server; port: number };

  before(async () => {
    http = await listen((socket) => socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'));
  });
  after(() => {
    http.server.close();
    link.close();
    rmSync(home, { recursive: true, force: true });
  });

  test('the holder of a listening port is found in /proc/net/tcp: our own uid, marked mine', async () => {
    const holder = await portHolder(link, http.port);
    assert.ok(holder !== undefined, 'the listening port was found');
    assert.equal(holder.uid, process.getuid!());
    assert.equal(holder.mine, true);
    assert.equal(holder.userName, userInfo().username);
  });

  test('a port nobody listens on has no holder', async () => {
    const { server, port } = await listen(() => undefined);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    assert.equal(await portHolder(link, port), undefined);
  });

  test('an HTTP server on the bot port: NotOurBotError in one line naming the host, the port, its holder and the way out', async () => {
    const stream = await link.forward(http.port);
    const opened = { stream, used: { kind: 'tcp' as const, port: http.port, why: 'test' } };
    await assert.rejects(handshakeWithBot(link, opened, mw(http.port), async () => 'x'.repeat(64)), (error: unknown) => {
      assert.ok(error instanceof NotOurBotError, `NotOurBotError, got ${String(error)}`);
      assert.equal(error.message.split('\n').length, 1, 'one line');
      assert.match(error.message, new RegExp(`^not our bot on hpc: 127\\.0\\.0\\.1:${http.port} is held by your own user ${userInfo().username} \\(uid ${process.getuid!()}\\)`));
      assert.match(error.message, /does not speak the bot protocol/);
      assert.match(error.message, /"transport": "auto"/);
      return true;
    });
  });

  test('the lookup output of another user\'s socket is read as not mine, with its name and without a process', () => {
    assert.deepEqual(parsePortHolder('1001 65534 nobody\n'), { uid: 65534, userName: 'nobody', mine: false, process: undefined });
    assert.deepEqual(parsePortHolder('1001 1001 hv\nusers:(("python3",pid=7,fd=3))\n'), {
      uid: 1001,
      userName: 'hv',
      mine: true,
      process: 'users:(("python3",pid=7,fd=3))',
    });
    assert.equal(parsePortHolder('1001 4242 ?\n').userName, undefined, 'a uid without a passwd entry has no name');
    assert.throws(() => parsePortHolder('garbage'), /unexpected lookup output/);
  });
});
