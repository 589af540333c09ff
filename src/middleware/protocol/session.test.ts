import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { Duplex } from 'node:stream';
import {
  AuthenticationError,
  CallCancelledError,
  ConnectionLostError,
  DeadlineExceededError,
  FrameTooLargeError,
  HandshakeTimeoutError,
  MethodNotFoundError,
  NotOurBotError,
  ProtocolError,
  ProtocolVersionError,
  RemoteMethodError,
} from '../errors.js';
import type { CallJournal } from '../bot/journal.js';
import { newNonce, proofFor } from './auth.js';
import { createChannelPair } from './channel-pair.js';
import { ClientSession } from './client-session.js';
import { MessageConnection } from './connection.js';
import { PROTOCOL_VERSION } from './messages.js';
import { encodeFrame } from './frames.js';
import type { JsonValue } from './json.js';
import type { Message, MessageOf } from './messages.js';
import { ServerSession, type CallHandler } from './server-session.js';
import { TEST_SECRET, connectSessionPair, deferred, tempJournal } from '../../../test/support/middleware/protocol-fixtures.js';

let journal: CallJournal;
let disposeJournal: () => void;
beforeEach(() => {
  ({ journal, dispose: disposeJournal } = tempJournal());
});
afterEach(() => disposeJournal());

const echo: CallHandler = async (payload) => payload;

/** A hand-driven peer speaking raw messages, to play a misbehaving or foreign client or bot. */
function rawPeer(stream: Duplex): { received: Message[]; closed: Promise<Error | undefined>; connection: MessageConnection } {
  const received: Message[] = [];
  let onClosed!: (error: Error | undefined) => void;
  const closed = new Promise<Error | undefined>((resolve) => (onClosed = resolve));
  const connection = new MessageConnection(stream, { onMessage: (m) => received.push(m), onClose: (e) => onClosed(e) });
  return { received, closed, connection };
}

function acceptWith(stream: Duplex, handler: CallHandler = echo, secret = TEST_SECRET): Promise<ServerSession> {
  return ServerSession.accept(stream, {
    secret,
    offer: { plugins: ['dummy'] },
    handler,
    journal,
    botId: 'bot-1',
    startedAt: '2024-01-01T00:00:00.000Z',
    programVersion: '9.9.9',
  });
}

/** Waits until a raw peer has received n messages (a hang guard after 10 s, not a timing assertion). */
async function receivedAtLeast(peer: { received: Message[] }, n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (peer.received.length < n) {
    if (Date.now() > deadline) assert.fail(`the peer received ${peer.received.length} of ${n} messages`);
    await sleep(1);
  }
}

describe('handshake', () => {
  test('both sides prove the secret; the client gets the bot id and the offer', async () => {
    const { client, server } = await connectSessionPair({ handler: echo, journal });
    assert.equal(client.isOpen, true);
    assert.equal(server.isOpen, true);
    assert.equal(client.welcome.botId, 'bot-under-test');
    assert.deepEqual(client.welcome.offer, { plugins: ['dummy'] });
    assert.equal(client.welcome.program.version, '0.0.0-test');
    client.close();
  });

  test('a client with the wrong secret is denied and the server reports it', async () => {
    const [a, b] = createChannelPair();
    const serverSide = acceptWith(b);
    const clientSide = ClientSession.connect(a, { secret: 'b'.repeat(64), programVersion: '1' });
    const [clientOutcome, serverOutcome] = await Promise.allSettled([clientSide, serverSide]);
    assert.equal(clientOutcome.status, 'rejected');
    assert.ok(clientOutcome.reason instanceof AuthenticationError);
    assert.match((clientOutcome.reason as Error).message, /refused the session/);
    assert.equal(serverOutcome.status, 'rejected');
    assert.ok(serverOutcome.reason instanceof AuthenticationError);
  });

  test('a bot that cannot prove the secret is rejected by the client', async () => {
    const [a, b] = createChannelPair();
    const impostor = rawPeer(b);
    const clientSide = ClientSession.connect(a, { secret: TEST_SECRET, programVersion: '1' });
    const serverNonce = newNonce();
    await receivedAtLeast(impostor, 1);
    const hello = impostor.received[0];
    assert.equal(hello?.t, 'hello');
    impostor.connection.send({ t: 'hello', protocol: PROTOCOL_VERSION, program: { name: 'x', version: '1' }, nonce: serverNonce });
    await receivedAtLeast(impostor, 2);
    assert.equal(impostor.received[1]?.t, 'auth', 'the client sends its proof');
    const clientNonce = hello.t === 'hello' ? hello.nonce : '';
    // Accepts the client's proof without checking it, but does not know the secret itself.
    impostor.connection.send({
      t: 'welcome',
      proof: proofFor('server', 'c'.repeat(64), serverNonce, clientNonce),
      botId: 'evil',
      startedAt: 'now',
      offer: null,
    });
    await assert.rejects(clientSide, (error: unknown) => error instanceof AuthenticationError && /could not prove/.test(error.message));
  });

  test('a protocol version mismatch is a clear error on the client', async () => {
    const [a, b] = createChannelPair();
    const future = rawPeer(b);
    const clientSide = ClientSession.connect(a, { secret: TEST_SECRET, programVersion: '0.1.0' });
    await receivedAtLeast(future, 1);
    future.connection.send({ t: 'hello', protocol: PROTOCOL_VERSION + 1, program: { name: 'harvester-ts', version: '2.0.0' }, nonce: newNonce() });
    await assert.rejects(clientSide, (error: unknown) => {
      assert.ok(error instanceof ProtocolVersionError);
      assert.match(error.message, new RegExp(`bot speaks protocol ${PROTOCOL_VERSION + 1} .*herder ${PROTOCOL_VERSION} .*install the same harvester-ts version on both hosts`));
      return true;
    });
  });

  test('a protocol version mismatch is a clear error on the bot, and the client is told', async () => {
    const [a, b] = createChannelPair();
    const serverSide = acceptWith(b);
    const old = rawPeer(a);
    old.connection.send({ t: 'hello', protocol: 0, program: { name: 'harvester-ts', version: '0.0.1' }, nonce: newNonce() });
    await assert.rejects(serverSide, (error: unknown) => {
      assert.ok(error instanceof ProtocolVersionError);
      assert.match(error.message, new RegExp(`herder speaks protocol 0 .*bot ${PROTOCOL_VERSION} .*install the same harvester-ts version on both hosts`));
      return true;
    });
    await old.closed;
    assert.deepEqual(
      old.received.map((m) => m.t),
      ['hello', 'denied'],
    );
    assert.equal(old.received[1]?.t === 'denied' && old.received[1].code, 'protocol-version');
  });

  test('a call before authentication is denied, never run, and the connection closed', async () => {
    const [a, b] = createChannelPair();
    let runs = 0;
    const serverSide = acceptWith(b, async () => {
      runs += 1;
      return null;
    });
    const rogue = rawPeer(a);
    rogue.connection.send({ t: 'call', id: 'x', deadline: 1000, payload: null });
    await assert.rejects(serverSide, (error: unknown) => error instanceof ProtocolError && /expected hello, got 'call'/.test(error.message));
    await rogue.closed;
    assert.equal(rogue.received[0]?.t, 'denied');
    assert.equal(runs, 0);
    assert.equal(journal.stateOf('x'), undefined);
  });

  test('garbage before authentication closes the connection with a ProtocolError', async () => {
    const [a, b] = createChannelPair();
    const serverSide = acceptWith(b);
    a.write(encodeFrame('this is not json'));
    await assert.rejects(serverSide, (error: unknown) => error instanceof ProtocolError && /not valid JSON/.test(error.message));
  });

  test('an unauthenticated peer cannot send a large frame', async () => {
    const [a, b] = createChannelPair();
    const serverSide = acceptWith(b);
    a.write(encodeFrame(JSON.stringify({ t: 'hello', pad: 'x'.repeat(100_000) })));
    await assert.rejects(serverSide, FrameTooLargeError);
  });

  test('a peer whose first bytes are not a bot\'s hello (an HTTP server on the port) is NotOurBotError on the client', async () => {
    const [a, b] = createChannelPair();
    const clientSide = ClientSession.connect(a, { secret: TEST_SECRET, programVersion: '1' });
    b.write('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
    await assert.rejects(clientSide, (error: unknown) => {
      assert.ok(error instanceof NotOurBotError, `NotOurBotError, got ${String(error)}`);
      assert.match(error.message, /does not speak the bot protocol/);
      assert.ok(error.cause instanceof ProtocolError, 'the cause is the protocol violation');
      return true;
    });
  });

  test('a client meeting a peer that accepts and stays silent: HandshakeTimeoutError, not a plain BotUnavailable', async () => {
    const [a, b] = createChannelPair();
    const silent = rawPeer(b);
    const clientSide = ClientSession.connect(a, { secret: TEST_SECRET, programVersion: '1', handshakeTimeoutMs: 50 });
    await assert.rejects(clientSide, (error: unknown) => error instanceof HandshakeTimeoutError && /sent no hello within 50 ms/.test(error.message));
    assert.equal(silent.received[0]?.t, 'hello', 'the client had said hello');
  });

  test('a bot that spoke the protocol and then broke it is a ProtocolError, not NotOurBotError', async () => {
    const [a, b] = createChannelPair();
    const odd = rawPeer(b);
    const clientSide = ClientSession.connect(a, { secret: TEST_SECRET, programVersion: '1' });
    await receivedAtLeast(odd, 1);
    odd.connection.send({ t: 'hello', protocol: PROTOCOL_VERSION, program: { name: 'x', version: '1' }, nonce: newNonce() });
    await receivedAtLeast(odd, 2);
    b.write(encodeFrame('this is not json'));
    await assert.rejects(clientSide, (error: unknown) => error instanceof ProtocolError && !(error instanceof NotOurBotError));
  });

  test('a silent peer is dropped after the handshake timeout', async () => {
    const [a, b] = createChannelPair();
    const serverSide = ServerSession.accept(b, {
      secret: TEST_SECRET,
      offer: null,
      handler: echo,
      journal,
      botId: 'b',
      startedAt: 'now',
      programVersion: '1',
      handshakeTimeoutMs: 50,
    });
    const silent = rawPeer(a);
    await assert.rejects(serverSide, (error: unknown) => error instanceof ProtocolError && /within 50 ms/.test(error.message));
    await silent.closed;
    assert.equal(silent.received[0]?.t === 'denied' && silent.received[0].code, 'timeout');
  });
});

describe('calls', () => {
  test('many calls in flight complete out of order, each with its own result', async () => {
    const handler: CallHandler = async (payload) => {
      const { n, delay } = payload as { n: number; delay: number };
      await sleep(delay);
      return { n, square: n * n };
    };
    const { client } = await connectSessionPair({ handler, journal, channel: { maxChunkBytes: 7 } });
    const order: number[] = [];
    const calls = Array.from({ length: 40 }, (_, n) =>
      client.call({ n, delay: (n * 7919) % 40 }, { deadlineMs: 5000 }).then((result) => {
        order.push(n);
        return result;
      }),
    );
    assert.equal(client.inFlight, 40);
    const results = await Promise.all(calls);
    results.forEach((result, n) => assert.deepEqual(result, { payload: { n, square: n * n }, replayed: false }));
    assert.notDeepEqual(order, [...order].sort((x, y) => x - y), 'replies arrived out of order');
    assert.equal(client.inFlight, 0);
    client.close();
  });

  test('a 316 KB payload makes the round trip intact', async () => {
    const { client } = await connectSessionPair({ handler: echo, journal });
    const payload = { rows: Array.from({ length: 4000 }, (_, i) => ({ workerID: i, batchID: `job-${i}`, status: 'running', diag: 'x'.repeat(40) })) };
    assert.ok(JSON.stringify(payload).length > 300_000);
    const result = await client.call(payload, { deadlineMs: 5000 });
    assert.deepEqual(result.payload, payload);
    client.close();
  });

  test('the deadline rejects the call and aborts the handler signal with DeadlineExceeded', async () => {
    const aborted = deferred<unknown>();
    const handler: CallHandler = (_payload, { signal }) =>
      new Promise((_resolve, reject) => {
        signal.addEventListener('abort', () => {
          aborted.resolve(signal.reason);
          reject(signal.reason as Error);
        });
      });
    const { client } = await connectSessionPair({ handler, journal });
    await assert.rejects(
      client.call(null, { id: 'slow-1', deadlineMs: 50 }),
      (error: unknown) => error instanceof DeadlineExceededError && error.context.callId === 'slow-1',
    );
    assert.ok((await aborted.promise) instanceof DeadlineExceededError);
    client.close();
  });

  test('aborting the caller signal cancels the call and aborts the handler signal', async () => {
    const aborted = deferred<unknown>();
    const started = deferred();
    const handler: CallHandler = (_payload, { signal }) =>
      new Promise((_resolve, reject) => {
        started.resolve();
        signal.addEventListener('abort', () => {
          aborted.resolve(signal.reason);
          reject(signal.reason as Error);
        });
      });
    const { client } = await connectSessionPair({ handler, journal });
    const controller = new AbortController();
    const call = client.call(null, { deadlineMs: 10_000, signal: controller.signal });
    await started.promise;
    controller.abort();
    await assert.rejects(call, CallCancelledError);
    assert.ok((await aborted.promise) instanceof CallCancelledError);
    assert.equal(client.inFlight, 0);
    client.close();
  });

  test('losing the connection rejects every call in flight with ConnectionLost carrying its id', async () => {
    const never = deferred<JsonValue>();
    const { client, serverEnd } = await connectSessionPair({ handler: () => never.promise, journal });
    const closed = new Promise<Error | undefined>((resolve) => client.on('close', resolve));
    const calls = ['c1', 'c2', 'c3'].map((id) => client.call(null, { id, deadlineMs: 10_000 }));
    await sleep(10);
    serverEnd.destroy();
    for (const [i, call] of calls.entries()) {
      await assert.rejects(call, (error: unknown) => error instanceof ConnectionLostError && error.context.callId === `c${i + 1}`);
    }
    assert.ok((await closed) instanceof ConnectionLostError);
    assert.equal(client.isOpen, false);
    await assert.rejects(client.call(null, { deadlineMs: 100 }), ConnectionLostError);
    never.resolve(null);
  });

  test('handler errors come back typed: own wire type, wireType property, or RemoteMethodError with stack', async () => {
    const handler: CallHandler = async (payload) => {
      if (payload === 'missing') throw new MethodNotFoundError('no method frobnicate');
      if (payload === 'custom') throw Object.assign(new Error('quota exhausted'), { wireType: 'QuotaExceeded', details: { used: 10 } });
      throw new Error('plugin exploded');
    };
    const { client } = await connectSessionPair({ handler, journal, client: { context: { queue: 'Q1', host: 'hpc' } } });
    await assert.rejects(client.call('missing', { deadlineMs: 1000 }), (error: unknown) => {
      assert.ok(error instanceof MethodNotFoundError);
      assert.match(error.message, /no method frobnicate .*queue=Q1 host=hpc/);
      return true;
    });
    await assert.rejects(client.call('custom', { deadlineMs: 1000 }), (error: unknown) => {
      assert.ok(error instanceof RemoteMethodError);
      assert.equal(error.remoteType, 'QuotaExceeded');
      assert.deepEqual(error.details, { used: 10 });
      return true;
    });
    await assert.rejects(client.call('boom', { deadlineMs: 1000 }), (error: unknown) => {
      assert.ok(error instanceof RemoteMethodError);
      assert.equal(error.remoteMessage, 'plugin exploded');
      assert.match(error.remoteStack ?? '', /plugin exploded\n\s+at /);
      return true;
    });
    client.close();
  });

  test('a result above the frame limit is an error and the session stays usable', async () => {
    const handler: CallHandler = async (payload) => (payload === 'big' ? 'y'.repeat(50_000) : 'small');
    const { client } = await connectSessionPair({ handler, journal, server: { maxFrameBytes: 20_000 } });
    await assert.rejects(client.call('big', { deadlineMs: 1000 }), FrameTooLargeError);
    assert.deepEqual((await client.call('x', { deadlineMs: 1000 })).payload, 'small');
    client.close();
  });

  test('a call too large to send is refused locally without closing the session', async () => {
    const { client } = await connectSessionPair({ handler: echo, journal, client: { maxFrameBytes: 1000 } });
    await assert.rejects(client.call('z'.repeat(2000), { deadlineMs: 1000 }), FrameTooLargeError);
    assert.equal(client.isOpen, true);
    assert.equal((await client.call('ok', { deadlineMs: 1000 })).payload, 'ok');
    client.close();
  });

  test('garbage after authentication closes that session with a ProtocolError', async () => {
    const { server, clientEnd } = await connectSessionPair({ handler: echo, journal });
    const closed = new Promise<Error | undefined>((resolve) => server.on('close', resolve));
    clientEnd.write(encodeFrame('{"t":"launch-missiles"}'));
    assert.ok((await closed) instanceof ProtocolError);
  });
});

describe('the health request', () => {
  test("the bot's session answers it with what its health function says, beside calls, without running the handler", async () => {
    let calls = 0;
    const health = { rssBytes: 1234, callsInFlight: 2, journalBytes: 99, connections: 1, uptimeSeconds: 5 };
    const { client, server } = await connectSessionPair({ handler: async (p) => (calls++, p), journal, server: { health: () => health } });
    try {
      assert.deepEqual(await client.health(5000), health);
      assert.equal(calls, 0);
      assert.equal((await client.call('x', { deadlineMs: 5000 })).payload, 'x', 'calls go on as before');
    } finally {
      client.close();
      server.close();
    }
  });

  test('a health report that does not fit the schema is a protocol error: the session closes and the request fails', async () => {
    const [clientEnd, serverEnd] = createChannelPair();
    const bot = rawPeer(serverEnd);
    const connecting = ClientSession.connect(clientEnd, { secret: TEST_SECRET, programVersion: '0.0.0-test' });
    await waitUntil(() => bot.received.length > 0);
    const hello = bot.received[0] as MessageOf<'hello'>;
    const serverNonce = newNonce();
    bot.connection.send({ t: 'hello', protocol: PROTOCOL_VERSION, program: { name: 'harvester-ts', version: '1' }, nonce: serverNonce });
    await waitUntil(() => bot.received.length > 1);
    bot.connection.send({ t: 'welcome', proof: proofFor('server', TEST_SECRET, serverNonce, hello.nonce), botId: 'b', startedAt: 'now', offer: null });
    const client = await connecting;
    const asked = client.health(5000);
    await waitUntil(() => bot.received.length > 2);
    const request = bot.received[2] as MessageOf<'health'>;
    assert.equal(request.t, 'health');
    bot.connection.sendJson(JSON.stringify({ t: 'health-report', id: request.id, health: { rssBytes: -1 } }));
    await assert.rejects(asked, ConnectionLostError);
    assert.equal(client.isOpen, false);
  });
});

async function waitUntil(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 2));
  assert.ok(condition(), 'gave up waiting');
}
