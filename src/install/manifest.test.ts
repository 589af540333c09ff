import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BUNDLE_FORMAT, BundleManifestError, bundleId, manifestText, parseBundleManifest, type BundleManifest, type BundleRuntime } from './manifest.js';

const hash = (c: string) => c.repeat(64);
const content = { 'bin/harvester': hash('a'), 'lib/harvester.mjs': hash('b'), 'examples/panda_queueconfig.json': hash('c') };
const bundled: BundleRuntime = { kind: 'bundled', nodeVersion: '20.20.2', platform: 'linux-x64', integrity: 'sha512-xyz' };

describe('bundle id', () => {
  test('is <version>-<12 hex>-<runtime> and does not depend on the order files are listed in', () => {
    const id = bundleId('0.1.0', content, bundled);
    assert.match(id, /^0\.1\.0-[0-9a-f]{12}-node-linux-x64$/);
    const reversed = Object.fromEntries(Object.entries(content).reverse());
    assert.equal(bundleId('0.1.0', reversed, bundled), id);
    assert.match(bundleId('0.1.0', content, { kind: 'system' }), /^0\.1\.0-[0-9a-f]{12}-system$/);
  });

  test('changes with the lib, an example, the launcher, the runtime and the version', () => {
    const id = bundleId('0.1.0', content, bundled);
    const others = [
      bundleId('0.1.0', { ...content, 'lib/harvester.mjs': hash('d') }, bundled),
      bundleId('0.1.0', { ...content, 'examples/panda_queueconfig.json': hash('d') }, bundled),
      bundleId('0.1.0', { ...content, 'examples/new.json': hash('d') }, bundled),
      bundleId('0.1.0', { ...content, 'bin/harvester': hash('d') }, bundled),
      bundleId('0.1.0', content, { ...bundled, integrity: 'sha512-other' }),
      bundleId('0.1.0', content, { ...bundled, platform: 'linux-arm64' }),
      bundleId('0.2.0', content, bundled),
    ];
    for (const other of others) assert.notEqual(other, id);
    assert.equal(new Set(others).size, others.length);
  });

  test('a version with characters unsafe in file names is made safe', () => {
    assert.match(bundleId('1.0.0+build/7', content, { kind: 'system' }), /^1\.0\.0_build_7-[0-9a-f]{12}-system$/);
  });
});

describe('MANIFEST.json', () => {
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    name: 'harvester-ts',
    version: '0.1.0',
    id: '0.1.0-0123456789ab-node-linux-x64',
    runtime: bundled,
    files: { 'runtime/bin/node': hash('e'), ...content },
    unpackedBytes: 1234,
  };

  test('is written with its files sorted and read back as written', () => {
    const text = manifestText(manifest);
    assert.deepEqual(Object.keys((JSON.parse(text) as BundleManifest).files), ['bin/harvester', 'examples/panda_queueconfig.json', 'lib/harvester.mjs', 'runtime/bin/node']);
    assert.deepEqual(parseBundleManifest(text, 'x/MANIFEST.json'), manifest);
  });

  test('a manifest that is not one is refused, naming the file and the field', () => {
    assert.throws(() => parseBundleManifest('{', 'a/MANIFEST.json'), (e: unknown) => e instanceof BundleManifestError && e.message.startsWith('a/MANIFEST.json: '));
    const bad = { ...manifest, files: { 'bin/harvester': 'not-a-hash' } };
    assert.throws(
      () => parseBundleManifest(JSON.stringify(bad), 'b/MANIFEST.json'),
      (e: unknown) => e instanceof BundleManifestError && /files\.bin\/harvester: a hex sha256/.test(e.message),
    );
    const noIntegrity = { ...manifest, runtime: { kind: 'bundled', nodeVersion: '20.20.2', platform: 'linux-x64' } };
    assert.throws(() => parseBundleManifest(JSON.stringify(noIntegrity), 'c/MANIFEST.json'), (e: unknown) => e instanceof BundleManifestError && /runtime\.integrity/.test(e.message));
  });
});
