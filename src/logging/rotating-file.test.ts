import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { createLogger } from './logger.js';
import { RotatingFileSink } from './rotating-file.js';
import { SecretRegistry } from './secrets.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hv-log-rotate-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function sizes(): Map<string, number> {
  return new Map(readdirSync(dir).map((name) => [name, statSync(join(dir, name)).size]));
}

describe('RotatingFileSink', () => {
  test('writing past the cap rotates to .1, .2, ... and keeps the total bounded', () => {
    const file = join(dir, 'bot.log');
    const sink = new RotatingFileSink(file, { maxBytes: 1000, keep: 2 });
    const line = (i: number): string => `${JSON.stringify({ i, pad: 'x'.repeat(80) })}\n`;
    for (let i = 0; i < 500; i++) sink.write(line(i));
    sink.end();
    const files = sizes();
    assert.deepEqual([...files.keys()].sort(), ['bot.log', 'bot.log.1', 'bot.log.2']);
    for (const [name, size] of files) assert.ok(size <= 1000, `${name} has ${size} bytes`);
    const total = [...files.values()].reduce((a, b) => a + b, 0);
    assert.ok(total <= 3 * 1000, `${total} bytes in all`);
    // The newest lines are in the current file, whole; the ones just before in .1.
    const current = readFileSync(file, 'utf8').trim().split('\n');
    assert.equal(current.at(-1), line(499).trim());
    const previous = readFileSync(`${file}.1`, 'utf8').trim().split('\n');
    const firstCurrent = JSON.parse(current[0]!) as { i: number };
    assert.equal((JSON.parse(previous.at(-1)!) as { i: number }).i, firstCurrent.i - 1);
  });

  test('a line longer than the cap gets a file of its own, whole', () => {
    const file = join(dir, 'bot.log');
    const sink = new RotatingFileSink(file, { maxBytes: 100, keep: 1 });
    sink.write('short\n');
    const long = `${'L'.repeat(300)}\n`;
    sink.write(long);
    sink.end();
    assert.equal(readFileSync(file, 'utf8'), long);
    assert.equal(readFileSync(`${file}.1`, 'utf8'), 'short\n');
  });

  test('reopening an existing file counts what it holds already', () => {
    const file = join(dir, 'bot.log');
    const first = new RotatingFileSink(file, { maxBytes: 100, keep: 1 });
    first.write(`${'a'.repeat(80)}\n`);
    first.end();
    const second = new RotatingFileSink(file, { maxBytes: 100, keep: 1 });
    second.write(`${'b'.repeat(80)}\n`);
    second.end();
    assert.ok(existsSync(`${file}.1`), 'the second line did not fit beside the first');
  });
});

describe('createLogger with rotation', () => {
  test('a flood of log lines leaves at most keep + 1 files of at most the cap each', () => {
    const file = join(dir, 'logs', 'bot.log');
    const log = createLogger({ file, rotate: { maxBytes: 4096, keep: 3 }, secrets: new SecretRegistry() });
    for (let i = 0; i < 5000; i++) log.warn({ peer: `127.0.0.1:${i}` }, 'connection refused during the handshake');
    const names = readdirSync(join(dir, 'logs')).sort();
    assert.deepEqual(names, ['bot.log', 'bot.log.1', 'bot.log.2', 'bot.log.3']);
    let total = 0;
    for (const name of names) {
      const text = readFileSync(join(dir, 'logs', name), 'utf8');
      total += Buffer.byteLength(text);
      assert.ok(Buffer.byteLength(text) <= 4096);
      for (const line of text.trim().split('\n')) JSON.parse(line);
    }
    assert.ok(total <= 4 * 4096);
  });
});
