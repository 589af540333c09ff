// bin/harvester, run by /bin/sh in a bundle laid out as remote-install installs it (versions/<id>/, current ->
// versions/<id>), with stand-in `node` scripts that print their version or what they were asked to run.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { launcherScript } from './launcher.js';

interface Layout {
  readonly root: string;
  /** root/versions/<id>, links resolved. */
  readonly bundle: string;
  /** A directory for PATH: readlink, and a node when the test puts one there. */
  readonly pathDir: string;
}

function layout(t: TestContext): Layout {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'hv-launcher-')));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const bundle = join(root, 'versions', '0.1.0-0123456789ab-system');
  mkdirSync(join(bundle, 'bin'), { recursive: true });
  mkdirSync(join(bundle, 'lib'), { recursive: true });
  writeFileSync(join(bundle, 'bin', 'harvester'), launcherScript(), { mode: 0o755 });
  writeFileSync(join(bundle, 'lib', 'harvester.mjs'), '');
  symlinkSync(join('versions', '0.1.0-0123456789ab-system'), join(root, 'current'));
  const pathDir = join(root, 'path');
  mkdirSync(pathDir);
  const readlink = spawnSync('/bin/sh', ['-c', 'command -v readlink'], { encoding: 'utf8' }).stdout.trim();
  symlinkSync(readlink, join(pathDir, 'readlink'));
  return { root, bundle, pathDir };
}

/** A `node` that answers --version with `version` and otherwise prints what it was asked to run. */
function fakeNode(path: string, version: string): void {
  writeFileSync(
    path,
    `#!/bin/sh\nif [ "$1" = --version ]; then echo ${version}; exit 0; fi\nprintf 'node=%s\\n' "$0"; for a in "$@"; do printf 'arg=%s\\n' "$a"; done\n`,
  );
  chmodSync(path, 0o755);
}

function run(launcher: string, pathDir: string, args: readonly string[] = ['--version']) {
  const result = spawnSync(launcher, args, { env: { PATH: pathDir }, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('the launcher', () => {
  test('runs lib/harvester.mjs of the bundle (links resolved) with node from PATH, passing the arguments on', (t) => {
    const { root, bundle, pathDir } = layout(t);
    fakeNode(join(pathDir, 'node'), 'v20.20.2');
    const result = run(join(root, 'current', 'bin', 'harvester'), pathDir, ['bot', 'start', '--port', '18861', 'a b']);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, `node=${join(pathDir, 'node')}\narg=${join(bundle, 'lib', 'harvester.mjs')}\narg=bot\narg=start\narg=--port\narg=18861\narg=a b\n`);
  });

  test('reached through a link to the launcher itself, it still finds its bundle', (t) => {
    const { root, bundle, pathDir } = layout(t);
    fakeNode(join(pathDir, 'node'), 'v20.20.2');
    mkdirSync(join(root, 'home-bin'));
    symlinkSync(join(root, 'current', 'bin', 'harvester'), join(root, 'home-bin', 'harvester'));
    const result = run(join(root, 'home-bin', 'harvester'), pathDir, ['x']);
    assert.equal(result.status, 0, result.stderr);
    assert.ok(result.stdout.includes(`arg=${join(bundle, 'lib', 'harvester.mjs')}\n`), result.stdout);
  });

  test('accepts Node.js 20.9 and later, refuses older ones in one line with exit 127', (t) => {
    const { root, pathDir } = layout(t);
    const launcher = join(root, 'current', 'bin', 'harvester');
    for (const version of ['v20.9.0', 'v20.20.2', 'v21.0.0', 'v100.1.0']) {
      fakeNode(join(pathDir, 'node'), version);
      assert.equal(run(launcher, pathDir).status, 0, version);
    }
    for (const version of ['v20.8.1', 'v18.19.0', 'v8.10.0', 'garbage']) {
      fakeNode(join(pathDir, 'node'), version);
      const result = run(launcher, pathDir);
      assert.equal(result.status, 127, version);
      assert.equal(result.stdout, '');
      assert.equal(
        result.stderr,
        `harvester: no Node.js >= 20.9 on PATH (found ${version} at ${join(pathDir, 'node')}); install the bundle with its runtime (remote-install --node bundled)\n`,
      );
    }
  });

  test('without node on PATH it says none was found', (t) => {
    const { root, pathDir } = layout(t);
    const result = run(join(root, 'current', 'bin', 'harvester'), pathDir);
    assert.equal(result.status, 127);
    assert.equal(result.stderr, 'harvester: no Node.js >= 20.9 on PATH (found none); install the bundle with its runtime (remote-install --node bundled)\n');
  });

  test("uses the bundle's runtime/bin/node when there is one, whatever node PATH has", (t) => {
    const { root, bundle, pathDir } = layout(t);
    fakeNode(join(pathDir, 'node'), 'v18.19.0');
    mkdirSync(join(bundle, 'runtime', 'bin'), { recursive: true });
    fakeNode(join(bundle, 'runtime', 'bin', 'node'), 'v20.20.2');
    const result = run(join(root, 'current', 'bin', 'harvester'), pathDir, ['--version']);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, `node=${join(bundle, 'runtime', 'bin', 'node')}\narg=${join(bundle, 'lib', 'harvester.mjs')}\narg=--version\n`);
  });

  test('a bundled runtime that cannot run on this host is one line and exit 127', (t) => {
    const { root, bundle, pathDir } = layout(t);
    mkdirSync(join(bundle, 'runtime', 'bin'), { recursive: true });
    // Like a binary for another platform or C library: the kernel cannot start it.
    writeFileSync(join(bundle, 'runtime', 'bin', 'node'), '#!/nonexistent/ld-musl-x86_64.so.1\n', { mode: 0o755 });
    const result = run(join(root, 'current', 'bin', 'harvester'), pathDir);
    assert.equal(result.status, 127);
    const lines = result.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0] ?? '', /^harvester: the bundled Node\.js does not run on this host \(.*runtime\/bin\/node: .*\); install the bundle built for this platform, or with --node system$/);
  });
});
