// buildBundle on a small stand-in package (a one-line CLI, two examples) and the system runtime: what the
// archive holds, that its id and bytes depend on the content only, and the cache by id. The real CLI and the
// bundled runtime are exercised in test/install/offline-bundle.test.ts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { buildBundle } from './bundle.js';
import { BundleError } from './errors.js';
import { sha256File } from './file-digest.js';
import { parseBundleManifest } from './manifest.js';

function scratch(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A package root as buildBundle reads it: package.json, dist/src/cli/main.js, examples/. */
function fakePackage(t: TestContext, cliText = "console.log('fake harvester');\n"): string {
  const root = scratch(t, 'hv-bundle-pkg-');
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'harvester-ts', version: '9.8.7' }));
  mkdirSync(join(root, 'dist', 'src', 'cli'), { recursive: true });
  writeFileSync(join(root, 'dist', 'src', 'cli', 'main.js'), cliText);
  mkdirSync(join(root, 'examples', 'slurm'), { recursive: true });
  writeFileSync(join(root, 'examples', 'panda_queueconfig.json'), '{}\n');
  writeFileSync(join(root, 'examples', 'slurm', 'template.sh'), '#!/bin/sh\n', { mode: 0o775 });
  return root;
}

function tarList(archive: string): string[] {
  const listed = spawnSync('tar', ['tzvf', archive], { encoding: 'utf8' });
  assert.equal(listed.status, 0, listed.stderr);
  return listed.stdout.trim().split('\n');
}

describe('buildBundle with the system runtime', () => {
  test('the archive holds <id>/ with the launcher (755), the one-file CLI, the examples and a manifest of every file', async (t) => {
    const root = fakePackage(t);
    const built = await buildBundle({ runtime: { kind: 'system' }, packageRoot: root, cacheDir: scratch(t, 'hv-bundle-cache-') });
    assert.match(built.id, /^9\.8\.7-[0-9a-f]{12}-system$/);
    assert.equal(basename(built.path), `harvester-ts-${built.id}.tar.gz`);
    assert.equal(basename(dirname(built.path)), 'bundles');
    assert.equal(built.bytes, statSync(built.path).size);
    assert.equal(built.sha256, await sha256File(built.path));

    const lines = tarList(built.path);
    const paths = lines.map((line) => line.split(/\s+/).at(-1));
    assert.deepEqual(paths, [
      `${built.id}/`,
      `${built.id}/MANIFEST.json`,
      `${built.id}/bin/`,
      `${built.id}/bin/harvester`,
      `${built.id}/examples/`,
      `${built.id}/examples/panda_queueconfig.json`,
      `${built.id}/examples/slurm/`,
      `${built.id}/examples/slurm/template.sh`,
      `${built.id}/lib/`,
      `${built.id}/lib/THIRD-PARTY-NOTICES.txt`,
      `${built.id}/lib/harvester.mjs`,
    ]);
    const modeOf = (path: string) => lines.find((line) => line.endsWith(` ${built.id}/${path}`))?.split(/\s+/)[0];
    assert.equal(modeOf('bin/harvester'), '-rwxr-xr-x');
    assert.equal(modeOf('examples/slurm/template.sh'), '-rw-r--r--');
    assert.ok(lines.every((line) => line.split(/\s+/)[1] === '0/0'), 'no owner recorded');

    const out = scratch(t, 'hv-bundle-x-');
    assert.equal(spawnSync('tar', ['xzf', built.path, '-C', out]).status, 0);
    const manifest = parseBundleManifest(readFileSync(join(out, built.id, 'MANIFEST.json'), 'utf8'), 'MANIFEST.json');
    assert.deepEqual(manifest, built.manifest);
    assert.deepEqual(manifest.runtime, { kind: 'system' });
    assert.equal(manifest.version, '9.8.7');
    for (const [path, sha256] of Object.entries(manifest.files)) assert.equal(await sha256File(join(out, built.id, path)), sha256, path);
    const unpacked = Object.keys(manifest.files).reduce((sum, path) => sum + statSync(join(out, built.id, path)).size, 0);
    assert.equal(manifest.unpackedBytes, unpacked);
    assert.equal(built.unpackedBytes, unpacked);
    assert.match(readFileSync(join(out, built.id, 'lib', 'harvester.mjs'), 'utf8'), /fake harvester/);
  });

  test('the same inputs give the same id and a byte-identical archive, in another cache and at another time', async (t) => {
    const root = fakePackage(t);
    const first = await buildBundle({ runtime: { kind: 'system' }, packageRoot: root, cacheDir: scratch(t, 'hv-bundle-cache-') });
    // Other file times for the same content: nothing of them may reach the archive.
    writeFileSync(join(root, 'examples', 'panda_queueconfig.json'), '{}\n');
    const second = await buildBundle({ runtime: { kind: 'system' }, packageRoot: root, cacheDir: scratch(t, 'hv-bundle-cache-') });
    assert.equal(second.reused, false);
    assert.equal(second.id, first.id);
    assert.equal(second.sha256, first.sha256);
    assert.deepEqual(readFileSync(second.path), readFileSync(first.path));
  });

  test('a changed CLI gives a new id', async (t) => {
    const cacheDir = scratch(t, 'hv-bundle-cache-');
    const before = await buildBundle({ runtime: { kind: 'system' }, packageRoot: fakePackage(t), cacheDir });
    const after = await buildBundle({ runtime: { kind: 'system' }, packageRoot: fakePackage(t, "console.log('fake harvester, fixed');\n"), cacheDir });
    assert.notEqual(after.id, before.id);
    assert.notEqual(after.path, before.path);
    assert.equal(after.id.split('-')[0], before.id.split('-')[0]);
  });

  test('a changed example gives a new id', async (t) => {
    const root = fakePackage(t);
    const cacheDir = scratch(t, 'hv-bundle-cache-');
    const before = await buildBundle({ runtime: { kind: 'system' }, packageRoot: root, cacheDir });
    writeFileSync(join(root, 'examples', 'panda_queueconfig.json'), '{"q": {}}\n');
    const after = await buildBundle({ runtime: { kind: 'system' }, packageRoot: root, cacheDir });
    assert.notEqual(after.id, before.id);
  });

  test('a bundle built before is reused while its digest verifies, and built again when the file was damaged', async (t) => {
    const root = fakePackage(t);
    const cacheDir = scratch(t, 'hv-bundle-cache-');
    const first = await buildBundle({ runtime: { kind: 'system' }, packageRoot: root, cacheDir });
    assert.equal(first.reused, false);
    const again = await buildBundle({ runtime: { kind: 'system' }, packageRoot: root, cacheDir });
    assert.equal(again.reused, true);
    assert.equal(again.sha256, first.sha256);
    assert.deepEqual(again.manifest, first.manifest);

    writeFileSync(first.path, 'truncated');
    const rebuilt = await buildBundle({ runtime: { kind: 'system' }, packageRoot: root, cacheDir });
    assert.equal(rebuilt.reused, false);
    assert.equal(rebuilt.sha256, first.sha256);
    assert.equal(await sha256File(rebuilt.path), first.sha256);
  });

  test('a runtime file without a bundled runtime is refused', async (t) => {
    await assert.rejects(
      buildBundle({ runtime: { kind: 'system' }, packageRoot: fakePackage(t), cacheDir: scratch(t, 'hv-bundle-cache-'), runtimeFile: '/nonexistent.tgz' }),
      (error: unknown) => error instanceof BundleError && error.step === 'runtime-fetch' && /--node system/.test(error.message),
    );
  });

  test('a package that was not built names the missing entry point and the build command', async (t) => {
    const root = fakePackage(t);
    rmSync(join(root, 'dist'), { recursive: true });
    await assert.rejects(
      buildBundle({ runtime: { kind: 'system' }, packageRoot: root, cacheDir: scratch(t, 'hv-bundle-cache-') }),
      (error: unknown) => error instanceof BundleError && error.step === 'js-bundle' && error.message.includes(join(root, 'dist', 'src', 'cli', 'main.js')) && /npm run build/.test(error.message),
    );
  });
});
