import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { tempDirectory } from '../../../test/support/middleware/protocol-fixtures.js';
import { acquireStartLock, BotStartLockError } from './start-lock.js';

let dir: { path: string; cleanup: () => void };
let lock: string;
beforeEach(() => {
  dir = tempDirectory('harvester-start-lock-');
  lock = join(dir.path, 'bot-start.lock');
});
afterEach(() => dir.cleanup());

describe('the bot start lock', () => {
  test('a second taker waits until the first releases it', async () => {
    const releaseFirst = await acquireStartLock(lock, { timeoutMs: 5000 });
    const order: string[] = [];
    const second = acquireStartLock(lock, { timeoutMs: 5000, pollMs: 5 }).then((release) => {
      order.push('second took it');
      return release;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    order.push('first releases');
    releaseFirst();
    (await second)();
    assert.deepEqual(order, ['first releases', 'second took it']);
    assert.equal(existsSync(lock), false);
  });

  test('a lock whose holder died is taken over', async () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(lock, `${dead.stdout}\n`);
    const release = await acquireStartLock(lock, { timeoutMs: 5000 });
    release();
  });

  test('a live holder that keeps it past the timeout is named in the error', async () => {
    writeFileSync(lock, `${process.ppid}\n`);
    await assert.rejects(acquireStartLock(lock, { timeoutMs: 100, pollMs: 10 }), (error: unknown) => {
      assert.ok(error instanceof BotStartLockError);
      assert.match(error.message, new RegExp(`\\(pid ${process.ppid}\\) has been starting the bot for more than`));
      return true;
    });
  });
});
