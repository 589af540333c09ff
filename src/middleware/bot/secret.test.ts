import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { tempDirectory } from '../../../test/support/middleware/protocol-fixtures.js';
import { BotSecretError, ensureBotSecret, readBotSecret } from './secret.js';

let dir: { path: string; cleanup: () => void };
beforeEach(() => {
  dir = tempDirectory('harvester-secret-test-');
});
afterEach(() => dir.cleanup());

describe('bot secret', () => {
  test('is created as 64 hex digits in a 0600 file inside a 0700 directory', () => {
    const file = join(dir.path, 'home', 'bot.secret');
    const secret = ensureBotSecret(file);
    assert.match(secret, /^[0-9a-f]{64}$/);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir.path, 'home')).mode & 0o777, 0o700);
  });

  test('is read back unchanged once it exists', () => {
    const file = join(dir.path, 'bot.secret');
    const first = ensureBotSecret(file);
    assert.equal(ensureBotSecret(file), first);
    assert.equal(readBotSecret(file), first);
  });

  test('a group- or world-readable secret file is refused without revealing it', () => {
    const file = join(dir.path, 'bot.secret');
    const secret = ensureBotSecret(file);
    chmodSync(file, 0o644);
    assert.throws(
      () => readBotSecret(file),
      (error: unknown) =>
        error instanceof BotSecretError && /mode 644.*chmod 600/.test(error.message) && !error.message.includes(secret),
    );
    assert.throws(() => ensureBotSecret(file), BotSecretError);
  });

  test('a symbolic link, a missing file or a malformed secret is refused', () => {
    const real = join(dir.path, 'real.secret');
    ensureBotSecret(real);
    const link = join(dir.path, 'link.secret');
    symlinkSync(real, link);
    assert.throws(() => readBotSecret(link), /symbolic link/);
    assert.throws(() => readBotSecret(join(dir.path, 'absent')), /does not exist/);
    const bad = join(dir.path, 'bad.secret');
    writeFileSync(bad, 'hunter2\n', { mode: 0o600 });
    assert.throws(
      () => readBotSecret(bad),
      (error: unknown) => error instanceof BotSecretError && /64 hex digits/.test(error.message) && !error.message.includes('hunter2'),
    );
  });

  test('a directory others can write to is refused', () => {
    const open = join(dir.path, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    assert.throws(() => ensureBotSecret(join(open, 'bot.secret')), /others can write/);
  });
});
