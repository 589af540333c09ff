import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TarEntryError, writeTar } from './tar.js';
import { withTempDir } from '../../test/support/plugins/plugin-fixtures.js';

// GNU tar, as Debian ships it, reads what we write.
test('a written archive lists and extracts with tar, gzipped or not', async () => {
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'a.log'), 'first\n');
    await writeFile(join(dir, 'b.txt'), Buffer.alloc(1000, 0x41));
    const entries = [
      { path: join(dir, 'a.log'), name: 'a.log' },
      { path: join(dir, 'b.txt'), name: 'sub/b.txt' },
    ];
    await writeTar(join(dir, 'plain.tar'), entries);
    await writeTar(join(dir, 'log.tgz'), entries, { gzip: true });
    assert.deepEqual(execFileSync('tar', ['-tf', join(dir, 'plain.tar')], { encoding: 'utf8' }).trim().split('\n'), ['a.log', 'sub/b.txt']);
    assert.equal(execFileSync('tar', ['-xzOf', join(dir, 'log.tgz'), 'a.log'], { encoding: 'utf8' }), 'first\n');
    assert.equal(execFileSync('tar', ['-xzOf', join(dir, 'log.tgz'), 'sub/b.txt'], { encoding: 'utf8' }), 'A'.repeat(1000));
    assert.ok(!(await readdir(dir)).some((n) => n.endsWith('.part')), 'no temporary file left');
  });
});

test('a name escaping the archive is refused and no archive is left behind', async () => {
  await withTempDir(async (dir) => {
    await writeFile(join(dir, 'x'), 'x');
    await assert.rejects(writeTar(join(dir, 'bad.tar'), [{ path: join(dir, 'x'), name: '../x' }]), TarEntryError);
    assert.deepEqual(await readdir(dir), ['x']);
  });
});
