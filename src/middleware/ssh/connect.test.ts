// The part of connectRoute that runs before any connection: loading the private key. The connection steps
// themselves are tested against real sshd in test/middleware/ssh/.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { connectRoute, loadPrivateKey } from './connect.js';
import { KeyPassphraseError, KeyUnreadableError } from './errors.js';
import { silentLog } from './log.js';
import { RedactedSecret, defaultSshTimings, type SshRoute } from './route.js';

const passphrase = 'correct horse battery staple';

function routeWithKey(keyPath: string, phrase?: string): SshRoute {
  return {
    remote: {
      host: 'hpc.invalid',
      port: 22,
      user: 'alice',
      auth: { useAgent: false, privateKeyPath: keyPath, ...(phrase !== undefined ? { passphrase: new RedactedSecret(phrase) } : {}) },
      pinnedHostKeys: [],
    },
    remoteBindPort: 18861,
    knownHostsFile: '/nonexistent/known_hosts',
    unknownHostKeys: 'refuse',
    strictHostKeyChecking: false,
    timings: defaultSshTimings,
  };
}

function writeKey(t: { after: (fn: () => void) => void }, encrypted: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), 'hv-key-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const pair = encrypted ? ssh2.utils.generateKeyPairSync('ed25519', { passphrase, cipher: 'aes256-ctr', rounds: 2 }) : ssh2.utils.generateKeyPairSync('ed25519');
  const path = join(dir, 'id_ed25519');
  writeFileSync(path, pair.private, { mode: 0o600 });
  return path;
}

describe('loading the private key', () => {
  test('decrypts a key with the right passphrase', async (t) => {
    const key = await loadPrivateKey(routeWithKey(writeKey(t, true), passphrase).remote);
    assert.equal(key?.type, 'ssh-ed25519');
    assert.equal(key?.isPrivateKey(), true);
  });

  test('a wrong passphrase is its own error, naming the key file and never the passphrase', async (t) => {
    const path = writeKey(t, true);
    const error = await loadPrivateKey(routeWithKey(path, 'wrong passphrase').remote).then(
      () => assert.fail('should fail'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof KeyPassphraseError);
    assert.equal(error.step, 'key-load');
    assert.equal(error.keyPath, path);
    assert.ok(error.persistent);
    assert.ok(error.message.includes(path));
    assert.ok(!error.message.includes('correct horse'));
  });

  test('an encrypted key without a passphrase says the passphrase is missing', async (t) => {
    await assert.rejects(loadPrivateKey(routeWithKey(writeKey(t, true)).remote), (e: unknown) => e instanceof KeyPassphraseError && /no passPhrase is configured/.test(e.message));
  });

  test('a missing or malformed key file is a KeyUnreadableError', async (t) => {
    await assert.rejects(loadPrivateKey(routeWithKey('/nonexistent/id_ed25519').remote), (e: unknown) => e instanceof KeyUnreadableError && /ENOENT/.test(e.message));
    const dir = mkdtempSync(join(tmpdir(), 'hv-key-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'garbage'), 'not a key');
    await assert.rejects(loadPrivateKey(routeWithKey(join(dir, 'garbage')).remote), KeyUnreadableError);
  });

  test('connectRoute fails on the key before opening any connection', async (t) => {
    const steps: string[] = [];
    await assert.rejects(
      connectRoute(routeWithKey(writeKey(t, true), 'nope'), { log: silentLog, onStep: (s) => steps.push(s.step) }),
      KeyPassphraseError,
    );
    assert.deepEqual(steps, []);
  });
});
