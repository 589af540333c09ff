import assert from 'node:assert/strict';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { AuthenticationError, ConnectionLostError, DeadlineExceededError, OutcomeUnknownError } from '../errors.js';
import { ClientSession } from '../protocol/client-session.js';
import { encodeFrame } from '../protocol/frames.js';
import type { CallHandler } from '../protocol/server-session.js';
import { RecordingLogger, TEST_SECRET, deferred, tempDirectory, tempJournal } from '../../../test/support/middleware/protocol-fixtures.js';
import type { CallJournal } from './journal.js';
import { DEFAULT_MAX_PRE_AUTH_CONNECTIONS, RpcServer, RpcServerOptionsError } from './server.js';
import { BotSocketError } from './unix-socket.js';

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

/** `promise`, or a failure naming `what` after ms (a hang guard, not a timing assertion). */
async function hangGuard<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_resolve, reject) => (timer = setTimeout(() => reject(new Error(`gave up waiting for ${what}`)), ms)));
  try {
    return await Promise.race([promise, guard]);
  } finally {
    clearTimeout(timer);
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
    // Refused handshakes are logged at a bounded rate: the first one, then a count of the others.
    const refusals = log.at('warn').filter((entry) => /refused during the handshake/.test(entry.message));
    assert.equal(refusals.length, 1, JSON.stringify(log.at('warn').map((e) => e.message)));
    good.close();
    await server!.stop({ graceMs: 0 });
    const summary = log.at('warn').find((entry) => /more connections refused during the handshake/.test(entry.message));
    assert.deepEqual((summary?.fields as { suppressed?: number } | undefined)?.suppressed, 2);
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
    await until('the server handled the first close', () => server!.sessionCount === 1);
    assert.equal(lastClosed, 0, 'one connection is still open');
    second.close();
    await until('the last connection closed', () => lastClosed > 0);
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

function unixConnect(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path }, () => resolve(socket));
    sockets.push(socket);
    socket.once('error', reject);
  });
}

describe('RpcServer: the unix socket', () => {
  let dir: { path: string; cleanup: () => void };
  let socketPath: string;
  beforeEach(() => {
    dir = tempDirectory('harvester-bot-socket-');
    socketPath = join(dir.path, 'bot.sock');
  });
  afterEach(() => dir.cleanup());

  test('serves the same handshake and calls as TCP, on a socket of mode 0600, removed at stop', async () => {
    await startServer(async (payload) => payload, { socketPath });
    assert.equal(statSync(socketPath).mode & 0o777, 0o600);
    const session = await ClientSession.connect(await unixConnect(socketPath), { secret: TEST_SECRET, programVersion: '1' });
    assert.equal(session.welcome.botId, 'tcp-bot');
    assert.deepEqual(await session.call({ over: 'unix' }, { deadlineMs: 2000 }), { payload: { over: 'unix' }, replayed: false });
    session.close();
    await server!.stop({ graceMs: 0 });
    assert.equal(existsSync(socketPath), false, 'the socket file is removed at stop');
  });

  test('replaces the socket file of a bot that died', async () => {
    // A socket file nobody listens on any more: a listener closed without removing it.
    const dead = createServer();
    await new Promise<void>((resolve) => dead.listen(socketPath, resolve));
    const { unlinkSync, linkSync } = await import('node:fs');
    linkSync(socketPath, `${socketPath}.keep`);
    await new Promise<void>((resolve) => dead.close(() => resolve()));
    linkSync(`${socketPath}.keep`, socketPath);
    unlinkSync(`${socketPath}.keep`);
    assert.ok(statSync(socketPath).isSocket());

    await startServer(async () => 'fresh', { socketPath });
    const session = await ClientSession.connect(await unixConnect(socketPath), { secret: TEST_SECRET, programVersion: '1' });
    assert.equal((await session.call(null, { deadlineMs: 2000 })).payload, 'fresh');
    session.close();
  });

  test('refuses a socket something still answers on, and a path that is not a socket', async () => {
    const live = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => live.listen(socketPath, resolve));
    try {
      await assert.rejects(startServer(async () => null, { socketPath }), (error: unknown) => {
        assert.ok(error instanceof BotSocketError);
        assert.match(error.message, /something already answers on the bot socket .*bot\.sock/);
        return true;
      });
      assert.ok(existsSync(socketPath), 'the live socket is left alone');
    } finally {
      await new Promise<void>((resolve) => live.close(() => resolve()));
    }
    server = undefined;
    const plain = join(dir.path, 'not-a-socket');
    writeFileSync(plain, 'data');
    await assert.rejects(startServer(async () => null, { socketPath: plain }), (error: unknown) => {
      assert.ok(error instanceof BotSocketError, `BotSocketError, got ${String(error)}`);
      assert.match(error.message, /exists and is not a socket/);
      return true;
    });
    server = undefined;
  });
});

describe('RpcServer: connections that do not authenticate', () => {
  test('200 idle connections are closed by the bot and do not keep an authenticated herder out', async () => {
    const { port } = (await startServer(async () => 'pong')).address();
    const idle = await Promise.all(Array.from({ length: 200 }, () => tcpConnect(port).catch(() => undefined)));
    // They read what the bot sends (so they see it close them) but never say a word.
    const idleClosed = idle.map((socket) => (socket === undefined || socket.destroyed ? Promise.resolve() : closedPromise(socket.resume())));
    // At most the cap of them may still wait for their handshake once the herder comes.
    await until('the idle connections beyond the cap closed', () => server!.preAuthCount <= DEFAULT_MAX_PRE_AUTH_CONNECTIONS);

    const herder = await client(port);
    assert.equal((await herder.call({ ping: true }, { deadlineMs: 5000 })).payload, 'pong');
    assert.equal(server!.sessionCount, 1);
    // Every idle connection is closed by the bot: pushed out by newer ones, or at its handshake timeout.
    await hangGuard(Promise.all(idleClosed), 20_000, 'the idle connections to be closed');
    assert.equal(server!.preAuthCount, 0);
    assert.equal((await herder.call({ ping: true }, { deadlineMs: 5000 })).payload, 'pong', 'the herder is still served');
    herder.close();
    // Refusals are logged at a bounded rate, not once per connection.
    const lines = log.at('warn').filter((entry) => /refused during the handshake/.test(entry.message));
    assert.ok(lines.length <= 2, `${lines.length} lines logged for 200 refusals`);
  });
});

describe('RpcServer: calls in flight per connection', () => {
  test('beyond the cap calls wait for their turn: all are answered, never more than the cap run at once', async () => {
    let running = 0;
    let most = 0;
    const { port } = (
      await startServer(
        async (payload) => {
          running += 1;
          most = Math.max(most, running);
          await sleep(20);
          running -= 1;
          return payload;
        },
        { maxCallsPerConnection: 4 },
      )
    ).address();
    const session = await client(port);
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => session.call({ i }, { deadlineMs: 20_000 })));
    assert.deepEqual(
      results.map((r) => r.payload),
      Array.from({ length: 30 }, (_, i) => ({ i })),
    );
    assert.equal(most, 4);
    session.close();
  });

  test('a call that reaches its deadline while waiting for a slot is answered without running', async () => {
    const release = deferred();
    const ran: string[] = [];
    const { port } = (
      await startServer(
        async (payload) => {
          ran.push(String(payload));
          await release.promise;
          return payload;
        },
        { maxCallsPerConnection: 1 },
      )
    ).address();
    const session = await client(port);
    const first = session.call('first', { deadlineMs: 20_000 });
    await assert.rejects(session.call('starved', { id: 'starved', deadlineMs: 100 }), DeadlineExceededError);
    await until('the starved call recorded', () => journal.stateOf('starved') === 'completed');
    release.resolve();
    assert.equal((await first).payload, 'first');
    assert.deepEqual(ran, ['first']);
    // Asked again, the bot answers from its record: the call never ran.
    const replay = await session.call('starved', { id: 'starved', deadlineMs: 2000 }).then(
      () => assert.fail('must not succeed'),
      (error: unknown) => error as DeadlineExceededError,
    );
    assert.ok(replay instanceof DeadlineExceededError);
    assert.match(replay.message, /while it waited for a free slot; it was not run/);
    assert.equal(replay.callEffect, 'not-run');
    session.close();
  });
});
