import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import { describe, test } from 'node:test';
import { FrameTooLargeError } from '../errors.js';
import { createChannelPair } from './channel-pair.js';
import { COALESCE_MAX_BYTES, MessageConnection } from './connection.js';
import { FRAME_HEADER_BYTES, FrameDecoder } from './frames.js';
import { resultMessageParts, type Message } from './messages.js';

/** Remembers every chunk given to the stream's write and end (a spy on this unit's only output). */
function recordWrites(stream: Duplex): { writes: Buffer[]; ends: Buffer[] } {
  const writes: Buffer[] = [];
  const ends: Buffer[] = [];
  const write = stream.write.bind(stream) as (chunk: Buffer, callback?: (error?: Error | null) => void) => boolean;
  const end = stream.end.bind(stream) as (chunk: Buffer, callback?: () => void) => Duplex;
  (stream as unknown as { write: typeof write }).write = (chunk, callback) => {
    writes.push(chunk);
    return write(chunk, callback);
  };
  (stream as unknown as { end: typeof end }).end = (chunk, callback) => {
    ends.push(chunk);
    return end(chunk, callback);
  };
  return { writes, ends };
}

/** The sending connection on one end of a pair, a receiving one on the other. */
function connectedPair(options: { maxFrameBytes?: number } = {}): {
  sender: MessageConnection;
  writes: Buffer[];
  ends: Buffer[];
  received: Message[];
  closed: Promise<Error | undefined>;
} {
  const [a, b] = createChannelPair();
  const { writes, ends } = recordWrites(a);
  const sender = new MessageConnection(a, { onMessage: () => undefined, onClose: () => undefined }, options);
  const received: Message[] = [];
  let onClosed!: (error: Error | undefined) => void;
  const closed = new Promise<Error | undefined>((resolve) => (onClosed = resolve));
  new MessageConnection(b, { onMessage: (message) => received.push(message), onClose: (error) => onClosed(error) });
  return { sender, writes, ends, received, closed };
}

const cancel = (id: string): Message => ({ t: 'cancel', id });

/** Frame bodies in a written chunk, as text. */
function framesIn(chunk: Buffer): string[] {
  return new FrameDecoder().push(chunk).map((body) => body.toString('utf8'));
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe('MessageConnection write coalescing', () => {
  test('frames sent in one turn go out in one write, in the order they were sent', async () => {
    const { sender, writes, received, closed } = connectedPair();
    for (let i = 0; i < 10; i++) sender.send(cancel(`c${i}`));
    assert.equal(writes.length, 0, 'nothing is written before the turn ends');
    await nextTurn();
    assert.equal(writes.length, 1);
    assert.deepEqual(
      framesIn(writes[0]!).map((body) => (JSON.parse(body) as { id: string }).id),
      Array.from({ length: 10 }, (_, i) => `c${i}`),
    );
    await nextTurn();
    assert.deepEqual(received, Array.from({ length: 10 }, (_, i) => cancel(`c${i}`)));
    sender.close();
    await closed;
  });

  test('frames sent from the promise continuations of the same turn share its write', async () => {
    const { sender, writes, received, closed } = connectedPair();
    sender.send(cancel('sync'));
    await Promise.all(
      [1, 2, 3].map(async (i) => {
        await Promise.resolve();
        sender.send(cancel(`continuation-${i}`));
      }),
    );
    await nextTurn();
    assert.equal(writes.length, 1);
    await nextTurn();
    assert.deepEqual(received.map((m) => (m as { id: string }).id), ['sync', 'continuation-1', 'continuation-2', 'continuation-3']);
    sender.close();
    await closed;
  });

  test('frames of a later turn get a write of their own', async () => {
    const { sender, writes, closed } = connectedPair();
    sender.send(cancel('first'));
    await nextTurn();
    sender.send(cancel('second'));
    await nextTurn();
    assert.deepEqual(writes.map(framesIn), [['{"t":"cancel","id":"first"}'], ['{"t":"cancel","id":"second"}']]);
    sender.close();
    await closed;
  });

  test('small result frames given as parts are coalesced with the others', async () => {
    const { sender, writes, received, closed } = connectedPair();
    sender.sendParts(resultMessageParts('r1', false, Buffer.from('{"n":1}')));
    sender.send(cancel('between'));
    sender.sendParts(resultMessageParts('r2', true, Buffer.from('[2]')));
    await nextTurn();
    assert.equal(writes.length, 1);
    await nextTurn();
    assert.deepEqual(received, [
      { t: 'result', id: 'r1', replayed: false, payload: { n: 1 } },
      cancel('between'),
      { t: 'result', id: 'r2', replayed: true, payload: [2] },
    ]);
    sender.close();
    await closed;
  });

  test('a big frame is written as is, on its own, after the frames queued before it', async () => {
    const { sender, writes, received, closed } = connectedPair();
    const big = 'x'.repeat(COALESCE_MAX_BYTES);
    const bigBody = `{"t":"result","id":"big","replayed":false,"payload":"${big}"}`;
    sender.send(cancel('before'));
    sender.sendJson(bigBody);
    sender.send(cancel('after'));
    await nextTurn();
    assert.equal(writes.length, 3);
    assert.deepEqual(framesIn(writes[0]!), ['{"t":"cancel","id":"before"}']);
    // The big frame is the buffer encodeFrame made: header and body, nothing else, not concatenated.
    assert.equal(writes[1]!.length, FRAME_HEADER_BYTES + bigBody.length);
    assert.deepEqual(framesIn(writes[1]!), [bigBody]);
    assert.deepEqual(framesIn(writes[2]!), ['{"t":"cancel","id":"after"}']);
    await nextTurn();
    assert.deepEqual(received.map((m) => (m as { id: string }).id), ['before', 'big', 'after']);
    sender.close();
    await closed;
  });

  test('a frame above the limit throws at send, queues nothing and leaves the connection open', async () => {
    const { sender, writes, received, closed } = connectedPair({ maxFrameBytes: 100 });
    sender.send(cancel('ok-1'));
    assert.throws(() => sender.send(cancel('y'.repeat(200))), FrameTooLargeError);
    assert.throws(() => sender.sendParts(resultMessageParts('r', false, Buffer.from(JSON.stringify('z'.repeat(200))))), FrameTooLargeError);
    assert.equal(sender.isOpen, true);
    sender.send(cancel('ok-2'));
    await nextTurn();
    assert.equal(writes.length, 1);
    await nextTurn();
    assert.deepEqual(received, [cancel('ok-1'), cancel('ok-2')]);
    sender.close();
    await closed;
  });

  test('close() in the turn of some sends still hands them to the stream before destroying it', async () => {
    const { sender, writes, received, closed } = connectedPair();
    sender.send(cancel('a'));
    sender.send(cancel('b'));
    sender.close();
    assert.equal(writes.length, 1, 'written by close, before the destroy');
    await closed;
    assert.deepEqual(received, [cancel('a'), cancel('b')]);
    sender.send(cancel('after close'));
    await nextTurn();
    assert.equal(writes.length, 1, 'nothing is written once closed');
  });

  test('sendAndClose sends the frames queued in its turn and the farewell in one final write', async () => {
    const { sender, writes, ends, received, closed } = connectedPair();
    sender.send(cancel('queued'));
    sender.sendAndClose({ t: 'denied', code: 'protocol', reason: 'bye' }, undefined);
    assert.equal(sender.isOpen, false);
    await closed;
    assert.equal(writes.length, 0);
    assert.equal(ends.length, 1);
    assert.deepEqual(received, [cancel('queued'), { t: 'denied', code: 'protocol', reason: 'bye' }]);
  });
});
