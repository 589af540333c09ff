import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RemoteInstallError } from './install-errors.js';
import { parseFacts, type RemoteFacts } from './remote-probe.js';
import { chooseRuntime, compareVersions, platformOf } from './runtime-choice.js';

const target = { host: 'hpc', user: 'hvuser', dir: '.harvester-ts' };

function facts(over: Partial<RemoteFacts> = {}): RemoteFacts {
  return { os: 'Linux', machine: 'x86_64', libc: { kind: 'glibc', version: '2.36' }, home: '/home/u', dir: '/home/u/.harvester-ts', freeBytes: 1e9, missingTools: [], complete: [], ...over };
}

describe('runtime choice', () => {
  test('auto uses a system Node that is recent enough, and ships no runtime', () => {
    const d = chooseRuntime(facts({ systemNode: { path: '/usr/bin/node', version: '20.11.1' } }), 'auto', target);
    assert.deepEqual(d.runtime, { kind: 'system' });
    assert.match(d.reason, /node 20\.11\.1 at \/usr\/bin\/node fits/);
  });

  test('auto ships the runtime for the platform when there is no node, or an old one', () => {
    assert.deepEqual(chooseRuntime(facts(), 'auto', target).runtime, { kind: 'bundled', platform: { os: 'linux', arch: 'x64' } });
    const old = chooseRuntime(facts({ machine: 'aarch64', systemNode: { path: '/opt/node/bin/node', version: '18.19.0' } }), 'auto', target);
    assert.deepEqual(old.runtime, { kind: 'bundled', platform: { os: 'linux', arch: 'arm64' } });
    assert.match(old.reason, /older than 20\.9/);
  });

  test('--node system without a fitting Node is refused with what to do', () => {
    assert.throws(() => chooseRuntime(facts(), 'system', target), (e: unknown) => e instanceof RemoteInstallError && e.step === 'runtime' && /no node on PATH/.test(e.message) && /--node bundled/.test(e.message));
  });

  test('musl, an old glibc and an unknown architecture are refused for the bundled runtime, naming the host', () => {
    assert.throws(() => chooseRuntime(facts({ libc: { kind: 'musl' } }), 'auto', target), /hvuser@hpc:\.harvester-ts: runtime: .*musl/);
    assert.throws(() => chooseRuntime(facts({ libc: { kind: 'glibc', version: '2.17' } }), 'bundled', target), /glibc 2\.17.*needs glibc >= 2\.28/);
    assert.throws(() => chooseRuntime(facts({ machine: 'riscv64' }), 'auto', target), /no Node runtime is shipped for Linux riscv64/);
  });

  test('but a fitting system Node serves such hosts', () => {
    assert.deepEqual(chooseRuntime(facts({ libc: { kind: 'musl' }, systemNode: { path: '/usr/bin/node', version: '22.1.0' } }), 'auto', target).runtime, { kind: 'system' });
  });

  test('versions compare numerically', () => {
    assert.ok(compareVersions('20.10.0', '20.9.0') > 0);
    assert.ok(compareVersions('v20.9.0', '20.9.0') === 0);
    assert.ok(compareVersions('2.3', '2.28') < 0);
    assert.deepEqual(platformOf({ os: 'Darwin', machine: 'arm64' }), { os: 'darwin', arch: 'arm64' });
  });
});

describe('remote facts', () => {
  test('the probe output is read into facts', () => {
    const f = parseFacts(
      ['home=/home/u', 'dir=/home/u/.harvester-ts', 'os=Linux', 'machine=x86_64', 'libc=glibc 2.36', 'node=/usr/bin/node', 'nodeVersion=20.20.2', 'missing=gzip', 'sha256=sha256sum', 'freeKb=2048', 'current=0.1.0-abc-system', 'previous=0.1.0-def-node-linux-x64', 'complete=0.1.0-abc-system', 'end=1'],
      target,
    );
    assert.equal(f.freeBytes, 2048 * 1024);
    assert.deepEqual(f.systemNode, { path: '/usr/bin/node', version: '20.20.2' });
    assert.deepEqual(f.libc, { kind: 'glibc', version: '2.36' });
    assert.deepEqual(f.missingTools, ['gzip']);
    assert.equal(f.current, '0.1.0-abc-system');
    assert.equal(f.previous, '0.1.0-def-node-linux-x64');
    assert.deepEqual(f.complete, ['0.1.0-abc-system']);
  });

  test('a probe without the free space is an error, not a guess', () => {
    assert.throws(() => parseFacts(['os=Linux', 'end=1'], target), (e: unknown) => e instanceof RemoteInstallError && e.step === 'probe');
  });
});
