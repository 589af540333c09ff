import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { AuthenticationError, ConnectionLostError, OutcomeUnknownError } from '../errors.js';
import { ClientSession } from '../protocol/client-session.js';
import { encodeFrame } from '../protocol/frames.js';
import type { CallHandler } from '../protocol/server-session.js';
import { RecordingLogger, TEST_SECRET, deferred, tempJournal } from '../protocol/test-fixtures.js';
import type { CallJournal } from './journal.js';
import { RpcServer, RpcServerOptionsError } from './server.js';

let journal: CallJournal;
let disposeJournal: () => void;
let log: RecordingLogger;
let server: RpcServer | undefined;
const sockets: Socket[] = [];
beforeEach(() => {
  log = new RecordingLogger();
  ({ journal, dispose: disposeJournal } = tempJournal(log));
});
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await server?.stop({ graceMs: 0 });
  server = undefined;
  disposeJournal();
});

async function startServer(handler: CallHandler, extra: Partial<ConstructorParameters<typeof RpcServer>[0]> = {}): Promise<RpcServer> {
  server = new RpcServer({
    port: 0,
    secret: TEST_SECRET,
    offer: { plugins: [] },
    handler,
    journal,
    botId: 'tcp-bot',
    programVersion: '0.0.0-test',
    log,
    ...extra,
  });
  await server.start();
  return server;
}

/** Polls `check` until it holds; fails naming `what` after 10 s (a hang guard, not a timing assertion). */
async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`gave up waiting for ${what}`);
    await sleep(5);
  }
}

function tcpConnect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
    sockets.push(socket);
    socket.once('error', reject);
  });
}

function closedPromise(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

async function client(port: number): Promise<ClientSession> {
  return ClientSession.connect(await tcpConnect(port), { secret: TEST_SECRET, programVersion: '0.0.0-test' });
}

describe('RpcServer', () => {
  test('refuses to listen anywhere but loopback', () => {
    for (const host of ['0.0.0.0', '192.168.1.10', '::', 'example.org']) {
      assert.throws(
        () => new RpcServer({ host, port: 0, secret: TEST_SECRET, offer: null, handler: async () => null, journal, programVersion: '1', log }),
        RpcServerOptionsError,
        host,
      );
    }
  });

  test('garbage and oversized frames close only their own connection; an authenticated client keeps working', async () => {
    const { port } = (await startServer(async (payload) => payload)).address();
    const good = await client(port);
    assert.equal(good.welcome.botId, 'tcp-bot');

    const garbage = await tcpConnect(port);
    const garbageClosed = closedPromise(garbage);
    garbage.write(Buffer.from('GET / HTTP/1.1\r\nHost: bot\r\n\r\n'));
    await garbageClosed;

    const oversized = await tcpConnect(port);
    const oversizedClosed = closedPromise(oversized);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(2 ** 31, 0);
    oversized.write(header);
    await oversizedClosed;

    const wrongSecret = ClientSession.connect(await tcpConnect(port), { secret: 'f'.repeat(64), programVersion: '1' });
    await assert.rejects(wrongSecret, AuthenticationError);

    assert.deepEqual(await good.call({ still: 'working' }, { deadlineMs: 2000 }), { payload: { still: 'working' }, replayed: false });
    const refusals = log.at('warn').filter((entry) => /refused during the handshake/.test(entry.message));
    assert.equal(refusals.length, 3, JSON.stringify(log.at('warn').map((e) => e.message)));
    good.close();
  });

  test('an authenticated connection sending garbage is closed and logged', async () => {
    const { port } = (await startServer(async (payload) => payload)).address();
    const socket = await tcpConnect(port);
    const session = await ClientSession.connect(socket, { secret: TEST_SECRET, programVersion: '1' });
    const closed = new Promise<Error | undefined>((resolve) => session.on('close', resolve));
    socket.write(encodeFrame('[1,2,3]'));
    assert.ok((await closed) instanceof ConnectionLostError);
    // The server logs once it has handled the close; poll for the line, with a hang guard.
    await until('the protocol error logged', () => log.at('warn').some((entry) => /after a protocol error/.test(entry.message)));
  });

  test('tells when its last open connection closes', async () => {
    let lastClosed = 0;
    const { port } = (await startServer(async () => 'ok', { onLastConnectionClosed: () => (lastClosed += 1) })).address();
    const first = await client(port);
    const second = await client(port);
    assert.equal(await first.call(null, { deadlineMs: 1000 }).then((r) => r.payload), 'ok');
    first.close();
    await sleep(50);
    assert.equal(lastClosed, 0, 'one connection is still open');
    second.close();
    for (let i = 0; i < 100 && lastClosed === 0; i++) await sleep(10);
    assert.equal(lastClosed, 1);
  });

  test('stop() lets calls in flight finish within the grace period and refuses new connections', async () => {
    const release = deferred();
    const started = deferred();
    const { port } = (
      await startServer(async () => {
        started.resolve();
        await release.promise;
        return 'finished';
      })
    ).address();
    const session = await client(port);
    const inFlight = session.call(null, { deadlineMs: 5000 });
    await started.promise;
    const stopping = server!.stop({ graceMs: 5000 });
    const again = server!.stop({ graceMs: 5000 });
    // The listener closes at once; a connection attempt is then refused (polled: the close is asynchronous).
    await until('new connections refused', async () => {
      try {
        (await tcpConnect(port)).destroy();
        return false;
      } catch (error) {
        assert.equal((error as NodeJS.ErrnoException).code, 'ECONNREFUSED');
        return true;
      }
    });
    release.resolve();
    assert.deepEqual(await inFlight, { payload: 'finished', replayed: false });
    await stopping;
    await again;
  });

  test('stop() aborts calls still running after the grace period; their outcome is then unknown', async () => {
    const aborted = deferred<unknown>();
    const running = deferred();
    const { port } = (
      await startServer(
        (_payload, { signal }) =>
          new Promise((_resolve, reject) => {
            signal.addEventListener('abort', () => {
              aborted.resolve(signal.reason);
              reject(signal.reason as Error);
            });
            running.resolve();
          }),
      )
    ).address();
    const session = await client(port);
    const inFlight = session.call(null, { id: 'doomed', deadlineMs: 5000 }).then(
      () => assert.fail('a call aborted by shutdown must not succeed'),
      (error: unknown) => error,
    );
    await running.promise;
    await server!.stop({ graceMs: 50 });
    const error = await inFlight;
    assert.ok(error instanceof OutcomeUnknownError);
    assert.match(error.message, /call doomed was aborted because the bot is stopping/);
    assert.ok(await aborted.promise);
    assert.equal(journal.stateOf('doomed'), 'started');

    // The herder retries the same id against the restarted bot.
    await startServer(async () => assert.fail('must not run again'));
    const retry = await client(server!.address().port);
    await assert.rejects(retry.call(null, { id: 'doomed', deadlineMs: 1000 }), OutcomeUnknownError);
    retry.close();
  });
});
