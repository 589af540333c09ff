import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { FrameTooLargeError } from '../errors.js';
import { FrameDecoder, encodeFrame } from './frames.js';

const bodies = ['{"t":"cancel","id":"a"}', '{"t":"call","id":"ü-€-😀","deadline":5,"payload":[1,2,3]}', '{}'];
const stream = Buffer.concat(bodies.map((body) => encodeFrame(body)));

describe('FrameDecoder', () => {
  test('reassembles frames split at every byte boundary', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const decoder = new FrameDecoder();
      const out = [...decoder.push(stream.subarray(0, cut)), ...decoder.push(stream.subarray(cut))];
      assert.deepEqual(out.map((b) => b.toString('utf8')), bodies, `cut at byte ${cut}`);
      assert.equal(decoder.pendingBytes, 0);
    }
  });

  test('delivers one byte at a time', () => {
    const decoder = new FrameDecoder();
    const out: string[] = [];
    for (const byte of stream) out.push(...decoder.push(Buffer.from([byte])).map((b) => b.toString('utf8')));
    assert.deepEqual(out, bodies);
  });

  test('returns every frame of a chunk holding many coalesced frames', () => {
    const many = Array.from({ length: 500 }, (_, i) => JSON.stringify({ n: i }));
    const decoder = new FrameDecoder();
    const out = decoder.push(Buffer.concat(many.map((body) => encodeFrame(body))));
    assert.deepEqual(out.map((b) => b.toString('utf8')), many);
  });

  test('reassembles any frames under any chunking (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 200 })), fc.array(fc.nat(50), { maxLength: 100 }), (texts, cuts) => {
        const whole = Buffer.concat(texts.map((text) => encodeFrame(JSON.stringify(text))));
        const decoder = new FrameDecoder();
        const out: Buffer[] = [];
        let offset = 0;
        for (const cut of cuts) {
          out.push(...decoder.push(whole.subarray(offset, offset + cut)));
          offset += cut;
        }
        out.push(...decoder.push(whole.subarray(offset)));
        assert.deepEqual(
          out.map((b) => JSON.parse(b.toString('utf8')) as string),
          texts.map((text) => JSON.parse(JSON.stringify(text)) as string),
        );
      }),
    );
  });

  test('refuses a declared length above the limit as soon as the header arrives', () => {
    const decoder = new FrameDecoder(1024, { host: 'peer' });
    const header = Buffer.alloc(4);
    header.writeUInt32BE(0xffffffff, 0);
    assert.throws(
      () => decoder.push(header),
      (error: unknown) =>
        error instanceof FrameTooLargeError && error.declaredBytes === 0xffffffff && error.maxBytes === 1024 && /host=peer/.test(error.message),
    );
  });

  test('accepts a frame of exactly the limit', () => {
    const decoder = new FrameDecoder(10);
    assert.deepEqual(decoder.push(encodeFrame('"12345678"', 10)).map(String), ['"12345678"']);
  });
});

describe('encodeFrame', () => {
  test('writes the UTF-8 byte length, not the string length', () => {
    const frame = encodeFrame('"€"');
    assert.equal(frame.readUInt32BE(0), 5);
    assert.equal(frame.subarray(4).toString('utf8'), '"€"');
  });

  test('refuses to build a frame above the limit', () => {
    assert.throws(() => encodeFrame('x'.repeat(11), 10), FrameTooLargeError);
  });
});
