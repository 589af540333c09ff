import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import {
  checkAndRecordHostKey,
  hostFieldMatches,
  hostKeyFingerprint,
  hostKeyType,
  judgeHostKey,
  parseKnownHosts,
} from './known-hosts.js';

/** A fresh host public key blob, as ssh2's hostVerifier receives it. */
function newHostKey(type: 'ed25519' | 'ecdsa' = 'ed25519'): Buffer {
  const pair = type === 'ecdsa' ? ssh2.utils.generateKeyPairSync('ecdsa', { bits: 256 }) : ssh2.utils.generateKeyPairSync('ed25519');
  const blob = pair.public.split(' ')[1];
  assert.ok(blob !== undefined);
  return Buffer.from(blob, 'base64');
}

function line(name: string, key: Buffer): string {
  return `${name} ${hostKeyType(key)} ${key.toString('base64')}`;
}

function tempFile(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'hv-known-hosts-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'sub', 'known_hosts');
}

describe('known_hosts parsing and matching', () => {
  test('reads plain, bracketed, marked and commented lines with their line numbers', () => {
    const key = newHostKey();
    const text = ['# comment', '', line('host1,10.0.0.1', key), line('[host2]:2222', key), `@revoked ${line('host3', key)}`, 'malformed-line'].join('\n');
    const entries = parseKnownHosts(text);
    assert.deepEqual(
      entries.map((e) => [e.line, e.hosts, e.marker]),
      [
        [3, 'host1,10.0.0.1', undefined],
        [4, '[host2]:2222', undefined],
        [5, 'host3', 'revoked'],
      ],
    );
  });

  test('names a non-default port in brackets and port 22 bare, as OpenSSH does', () => {
    assert.equal(hostFieldMatches('[hpc]:2222', 'hpc', 2222), true);
    assert.equal(hostFieldMatches('hpc', 'hpc', 2222), false);
    assert.equal(hostFieldMatches('hpc', 'hpc', 22), true);
    assert.equal(hostFieldMatches('other,hpc', 'hpc', 22), true);
  });

  test('honours wildcards and negations', () => {
    assert.equal(hostFieldMatches('*.example.org', 'login1.example.org', 22), true);
    assert.equal(hostFieldMatches('login?.example.org', 'login12.example.org', 22), false);
    assert.equal(hostFieldMatches('*.example.org,!bad.example.org', 'bad.example.org', 22), false);
  });

  test('matches hashed host names', () => {
    const salt = randomBytes(20);
    const hash = createHmac('sha1', salt).update('[hpc]:2222').digest('base64');
    const field = `|1|${salt.toString('base64')}|${hash}`;
    assert.equal(hostFieldMatches(field, 'hpc', 2222), true);
    assert.equal(hostFieldMatches(field, 'hpc', 22), false);
  });

  test('reads the key type from the key blob and formats fingerprints like ssh-keygen -l', () => {
    const key = newHostKey();
    assert.equal(hostKeyType(key), 'ssh-ed25519');
    assert.match(hostKeyFingerprint(key), /^SHA256:[A-Za-z0-9+/]{43}$/);
    assert.equal(hostKeyType(Buffer.alloc(2)), 'unknown');
  });
});

describe('judging a presented host key', () => {
  test('known, unknown, changed and revoked', () => {
    const key = newHostKey();
    const other = newHostKey();
    const entries = parseKnownHosts([line('hpc', key), line('[jump]:2222', other), `@revoked ${line('old', key)}`].join('\n'));
    assert.deepEqual(judgeHostKey(entries, 'hpc', 22, key), { kind: 'known', line: 1 });
    assert.deepEqual(judgeHostKey(entries, 'new', 22, key), { kind: 'unknown' });
    assert.deepEqual(judgeHostKey(entries, 'jump', 2222, key), { kind: 'changed', line: 2 });
    assert.deepEqual(judgeHostKey(entries, 'old', 22, key), { kind: 'revoked', line: 3 });
  });

  test('a host known only under another key type counts as changed', () => {
    const ed = newHostKey('ed25519');
    const ecdsa = newHostKey('ecdsa');
    const entries = parseKnownHosts(line('hpc', ecdsa));
    assert.deepEqual(judgeHostKey(entries, 'hpc', 22, ed), { kind: 'changed', line: 1 });
  });
});

describe('checkAndRecordHostKey', () => {
  const record = { record: true };
  const refuse = { record: false };

  test('records a new host (creating the file) and knows it the next time', async (t) => {
    const file = tempFile(t);
    const key = newHostKey();
    const first = await checkAndRecordHostKey(file, 'hpc', 2222, key, record);
    assert.equal(first.kind, 'recorded');
    assert.equal(readFileSync(file, 'utf8'), `${line('[hpc]:2222', key)}\n`);
    const second = await checkAndRecordHostKey(file, 'hpc', 2222, key, record);
    assert.deepEqual(second, { kind: 'known', line: 1 });
  });

  test('a pinned key of an unknown host is accepted without writing known_hosts', async (t) => {
    const file = tempFile(t);
    const key = newHostKey();
    const decision = await checkAndRecordHostKey(file, 'hpc', 22, key, { record: false, pinned: [hostKeyFingerprint(key)] });
    assert.deepEqual(decision, { kind: 'pinned', keyType: 'ssh-ed25519', fingerprint: hostKeyFingerprint(key) });
    assert.equal(existsSync(file), false);
    const other = await checkAndRecordHostKey(file, 'hpc', 22, newHostKey(), { record: false, pinned: [hostKeyFingerprint(key)] });
    assert.equal(other.kind, 'unknown', 'another key than the pinned one stays unknown');
  });

  test('a pin does not override a different key recorded for the host: still changed', async (t) => {
    const file = tempFile(t);
    await checkAndRecordHostKey(file, 'hpc', 22, newHostKey(), record);
    const presented = newHostKey();
    const decision = await checkAndRecordHostKey(file, 'hpc', 22, presented, { record: true, pinned: [hostKeyFingerprint(presented)] });
    assert.equal(decision.kind, 'changed');
  });

  test('without recording refuses an unknown host and writes nothing', async (t) => {
    const file = tempFile(t);
    const decision = await checkAndRecordHostKey(file, 'hpc', 22, newHostKey(), refuse);
    assert.equal(decision.kind, 'unknown');
    assert.equal(existsSync(file), false);
  });

  test('reports a changed key with its line and never overwrites it', async (t) => {
    const file = tempFile(t);
    const original = newHostKey();
    await checkAndRecordHostKey(file, 'jump', 22, newHostKey(), record);
    await checkAndRecordHostKey(file, 'hpc', 22, original, record);
    const before = readFileSync(file, 'utf8');
    const decision = await checkAndRecordHostKey(file, 'hpc', 22, newHostKey(), record);
    assert.equal(decision.kind, 'changed');
    assert.equal(decision.kind === 'changed' ? decision.line : 0, 2);
    assert.equal(readFileSync(file, 'utf8'), before);
  });

  test('concurrent first connections record a host once', async (t) => {
    const file = tempFile(t);
    const key = newHostKey();
    const decisions = await Promise.all(Array.from({ length: 8 }, () => checkAndRecordHostKey(file, 'hpc', 22, key, record)));
    assert.equal(decisions.filter((d) => d.kind === 'recorded').length, 1);
    assert.equal(readFileSync(file, 'utf8').trim().split('\n').length, 1);
  });

  test('does not glue its line onto a hand-edited last line without a newline', async (t) => {
    const file = tempFile(t);
    const existing = newHostKey();
    await checkAndRecordHostKey(file, 'jump', 22, existing, record);
    writeFileSync(file, readFileSync(file, 'utf8').trimEnd());
    await checkAndRecordHostKey(file, 'hpc', 22, newHostKey(), record);
    assert.equal(parseKnownHosts(readFileSync(file, 'utf8')).length, 2);
  });

  test('writes lines that ssh-keygen -F finds', async (t) => {
    let keygen = true;
    try {
      execFileSync('ssh-keygen', ['-?'], { stdio: 'ignore' });
    } catch (error) {
      // ssh-keygen -? exits non-zero but runs; only a missing binary matters here.
      keygen = (error as NodeJS.ErrnoException).code !== 'ENOENT';
    }
    if (!keygen) {
      t.skip('ssh-keygen is not installed');
      return;
    }
    const file = tempFile(t);
    await checkAndRecordHostKey(file, 'hpc', 2222, newHostKey(), record);
    const found = execFileSync('ssh-keygen', ['-F', '[hpc]:2222', '-f', file], { encoding: 'utf8' });
    assert.match(found, /found: line 1/);
  });
});
