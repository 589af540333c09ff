import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProtocolError } from '../errors.js';
import { encodeFrame } from './frames.js';
import { jsonDepth, MAX_JSON_DEPTH } from './json-depth.js';
import { parseMessage } from './messages.js';
import { connectSessionPair, tempJournal } from '../../../test/support/middleware/protocol-fixtures.js';

const nested = (depth: number, inner = ''): string => `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;

describe('JSON nesting depth', () => {
  test('counts arrays and objects, not brackets inside strings or escaped quotes', () => {
    assert.equal(jsonDepth(Buffer.from('1')), 0);
    assert.equal(jsonDepth(Buffer.from('{"a":[{"b":[]}]}')), 4);
    assert.equal(jsonDepth(Buffer.from(JSON.stringify({ s: '[[[[{{{{', t: 'x\\"[[[', u: ['\\', [['é[']]] }))), 4);
  });

  test(`a message nesting ${MAX_JSON_DEPTH} levels parses; one level more is a ProtocolError before parsing`, () => {
    const call = (payload: string): Buffer => Buffer.from(`{"t":"call","id":"c","deadline":1000,"payload":${payload}}`);
    const ok = parseMessage(call(nested(MAX_JSON_DEPTH - 1)));
    assert.equal(ok.t, 'call');
    assert.throws(() => parseMessage(call(nested(MAX_JSON_DEPTH))), (error: unknown) => {
      assert.ok(error instanceof ProtocolError);
      assert.match(error.message, /nests arrays or objects deeper than 64 levels/);
      return true;
    });
  });

  test('100000 nested arrays are refused with a protocol error, not a stack overflow', () => {
    const body = Buffer.from(`{"t":"call","id":"c","deadline":1000,"payload":${nested(100_000, '1')}}`);
    assert.throws(() => parseMessage(body), ProtocolError);
  });

  test('through a session, the bot closes the connection of an authenticated peer sending such a frame', async () => {
    const { journal, dispose } = tempJournal();
    try {
      let runs = 0;
      const { client, server, clientEnd } = await connectSessionPair({
        journal,
        handler: async () => {
          runs += 1;
          return null;
        },
      });
      assert.equal(client.isOpen, true);
      const closed = new Promise<Error | undefined>((resolve) => server.on('close', resolve));
      clientEnd.write(encodeFrame(`{"t":"call","id":"deep","deadline":1000,"payload":${nested(100_000)}}`));
      const error = await closed;
      assert.ok(error instanceof ProtocolError);
      assert.match(error.message, /deeper than 64 levels/);
      assert.equal(runs, 0);
      assert.equal(journal.stateOf('deep'), undefined);
    } finally {
      dispose();
    }
  });
});
