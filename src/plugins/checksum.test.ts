import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { adler32Hex, adler32OfFile, adler32Update } from './checksum.js';
import { withTempDir } from '../../test/support/plugins/plugin-fixtures.js';

test('adler32 matches the published value and is spelled as 8 hex digits', () => {
  const state = { a: 1, b: 0 };
  adler32Update(state, Buffer.from('Wikipedia'));
  assert.equal(adler32Hex(state), '11e60398');
  assert.equal(adler32Hex({ a: 1, b: 0 }), '00000001');
});

test('adler32 of a file does not depend on how it is chunked', async () => {
  await withTempDir(async (dir) => {
    const data = Buffer.alloc(300_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) & 0xff;
    const file = join(dir, 'data.bin');
    await writeFile(file, data);
    const whole = { a: 1, b: 0 };
    adler32Update(whole, data);
    assert.equal(await adler32OfFile(file), adler32Hex(whole));
  });
});
