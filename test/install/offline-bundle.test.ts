// The offline bundle for real: the whole CLI bundled by esbuild, with npm's Node.js (downloaded once into the
// user's cache, ~/.cache/harvester-ts/runtimes) and without, extracted with tar into fresh directories under
// the temp dir as remote-install lays them out (versions/<id>, current -> versions/<id>), and run there with no
// node_modules anywhere and, for the bundle with its runtime, no node on PATH. Both bundles are built once for
// the whole file. Bots use ports 18990-18999.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import {
  buildBundle,
  cachedRuntimeTarball,
  defaultCacheDir,
  obtainRuntimeTarball,
  RuntimeIntegrityError,
  runtimePackageFor,
  runtimeTarballName,
  sha256File,
  type BuiltBundle,
  type NodePlatform,
  type RuntimePackage,
} from '../../src/install/index.js';
import { isProcessAlive } from '../../src/middleware/bot/pid-file.js';
import { programVersion } from '../../src/version.js';

const BOT_PORT = 18990;

interface Installed {
  readonly built: BuiltBundle;
  /** <root>/current/bin/harvester */
  readonly launcher: string;
  /** <root>/versions/<id>, links resolved. */
  readonly dir: string;
}

const scratchDirs: string[] = [];
const botPids = new Set<number>();

function scratch(prefix: string): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  scratchDirs.push(dir);
  return dir;
}

/** Extracts the archive with the system's tar into a fresh directory, as remote-install installs it. */
function install(built: BuiltBundle): Installed {
  const root = scratch('hv-bundle-installed-');
  mkdirSync(join(root, 'versions'));
  const untar = spawnSync('tar', ['xzf', built.path, '-C', join(root, 'versions')], { encoding: 'utf8' });
  assert.equal(untar.status, 0, untar.stderr);
  symlinkSync(join('versions', built.id), join(root, 'current'));
  return { built, launcher: join(root, 'current', 'bin', 'harvester'), dir: join(root, 'versions', built.id) };
}

/** A PATH directory with a shell and readlink only: no node (/usr/bin/node exists on these machines). */
function pathWithoutNode(): string {
  const dir = scratch('hv-bundle-path-');
  for (const tool of ['sh', 'readlink']) {
    const found = spawnSync('/bin/sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    symlinkSync(found, join(dir, tool));
  }
  return dir;
}

interface RunResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the launcher with exactly this PATH and a scratch HOME, nothing else from our environment. */
function runBundle(launcher: string, args: readonly string[], path: string, timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(launcher, args, { env: { PATH: path, HOME: userHome }, cwd: userHome, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${launcher} ${args.join(' ')} did not exit within ${timeoutMs} ms; stdout: ${stdout}; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolveRun({ status, stdout, stderr });
    });
  });
}

let userHome: string;
let noNodePath: string;
let system: Installed;
/** The bundle with its runtime, or why it could not be built here. */
let bundled: { installed: Installed; again: BuiltBundle; pkg: RuntimePackage } | { skip: string };

function requireBundled(t: TestContext): { installed: Installed; again: BuiltBundle; pkg: RuntimePackage } | undefined {
  if ('skip' in bundled) {
    if (process.env.CI === 'true') throw new Error(bundled.skip);
    t.skip(bundled.skip);
    return undefined;
  }
  return bundled;
}

before(async () => {
  userHome = scratch('hv-bundle-home-');
  noNodePath = pathWithoutNode();
  const cacheDir = scratch('hv-bundle-cache-');
  system = install(await buildBundle({ runtime: { kind: 'system' }, cacheDir }));

  const platform = { os: process.platform, arch: process.arch } as NodePlatform;
  let pkg: RuntimePackage;
  let runtimeTarball: string;
  try {
    pkg = runtimePackageFor(platform);
    // The one download of the file (~43 MB), kept in the user's cache for the next runs.
    runtimeTarball = await obtainRuntimeTarball(pkg, { cacheDir: defaultCacheDir() });
  } catch (error) {
    bundled = { skip: `no Node.js runtime for ${process.platform}-${process.arch}: ${error instanceof Error ? error.message : String(error)}` };
    return;
  }
  const built = await buildBundle({ runtime: { kind: 'bundled', platform }, runtimeFile: runtimeTarball, cacheDir });
  const again = await buildBundle({ runtime: { kind: 'bundled', platform }, runtimeFile: runtimeTarball, cacheDir: scratch('hv-bundle-cache-') });
  bundled = { installed: install(built), again, pkg };
});

after(async () => {
  for (const pid of botPids) {
    if (isProcessAlive(pid)) process.kill(pid, 'SIGTERM');
  }
  const deadline = Date.now() + 15_000;
  while ([...botPids].some(isProcessAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
});

async function startBot(installed: Installed, port: number, home: string): Promise<{ pid: number; pidFile: string }> {
  const pidFile = join(home, 'bot.pid');
  const started = await runBundle(installed.launcher, ['--home', home, 'bot', 'start', '--port', String(port), '--pid', pidFile], noNodePath);
  assert.equal(started.status, 0, started.stderr);
  const match = /^bot started \(pid (\d+), 127\.0\.0\.1:(\d+),/.exec(started.stdout);
  assert.ok(match, started.stdout);
  const pid = Number(match[1]);
  botPids.add(pid);
  assert.equal(Number(match[2]), port);
  return { pid, pidFile };
}

describe('the bundle with its Node.js runtime', () => {
  test('is under 60 MB, carries the pinned runtime, and the same inputs give the same id and bytes', async (t) => {
    const b = requireBundled(t);
    if (b === undefined) return;
    const { built } = b.installed;
    assert.ok(built.bytes < 60_000_000, `${built.bytes} bytes`);
    assert.match(built.id, new RegExp(`-node-${process.platform}-${process.arch}$`));
    assert.deepEqual(built.manifest.runtime, { kind: 'bundled', nodeVersion: b.pkg.version, platform: `${b.pkg.platform.os}-${b.pkg.platform.arch}`, integrity: b.pkg.integrity });
    assert.equal(await sha256File(join(b.installed.dir, 'runtime', 'bin', 'node')), built.manifest.files['runtime/bin/node']);
    assert.ok(existsSync(join(b.installed.dir, 'runtime', 'LICENSE')));
    assert.equal(b.again.id, built.id);
    assert.equal(b.again.sha256, built.sha256);
    assert.deepEqual(readFileSync(b.again.path), readFileSync(built.path));
  });

  test('a corrupted copy of the runtime tarball is refused, naming the file and both digests', async (t) => {
    const b = requireBundled(t);
    if (b === undefined) return;
    const corrupt = join(scratch('hv-bundle-corrupt-'), runtimeTarballName(b.pkg));
    const bytes = readFileSync(cachedRuntimeTarball(defaultCacheDir(), b.pkg));
    const middle = Math.floor(bytes.length / 2);
    bytes.writeUInt8(bytes.readUInt8(middle) ^ 0x01, middle);
    writeFileSync(corrupt, bytes);
    const cacheDir = scratch('hv-bundle-cache-');
    await assert.rejects(buildBundle({ runtime: { kind: 'bundled', platform: b.pkg.platform }, runtimeFile: corrupt, cacheDir }), (error: unknown) => {
      assert.ok(error instanceof RuntimeIntegrityError, String(error));
      assert.equal(error.step, 'runtime-verify');
      assert.equal(error.file, corrupt);
      assert.equal(error.expected, b.pkg.integrity);
      assert.match(error.actual, /^sha512-/);
      assert.notEqual(error.actual, error.expected);
      return true;
    });
    assert.equal(existsSync(cachedRuntimeTarball(cacheDir, b.pkg)), false, 'the corrupt file is not cached');
  });

  test('carries no native module: better-sqlite3 and ssh2\'s optional parts stay out', async (t) => {
    const b = requireBundled(t);
    if (b === undefined) return;
    const files = Object.keys(b.installed.built.manifest.files);
    assert.deepEqual(files.filter((file) => file.endsWith('.node') || file.includes('node_modules')), []);
    assert.deepEqual(files.filter((file) => file.startsWith('lib/')).sort(), ['lib/THIRD-PARTY-NOTICES.txt', 'lib/harvester.mjs']);
    const notices = readFileSync(join(b.installed.dir, 'lib', 'THIRD-PARTY-NOTICES.txt'), 'utf8');
    for (const name of ['ssh2', 'pino', 'commander', 'zod']) assert.match(notices, new RegExp(`^${name} \\d+\\.\\d+\\.\\d+ \\(`, 'm'), name);
    assert.doesNotMatch(notices, /^better-sqlite3 /m);
  });

  test('--version runs with no node on PATH and no node_modules anywhere above the bundle', async (t) => {
    const b = requireBundled(t);
    if (b === undefined) return;
    for (let dir = b.installed.dir; dir !== dirname(dir); dir = dirname(dir)) assert.equal(existsSync(join(dir, 'node_modules')), false, dir);
    assert.notEqual(spawnSync('/bin/sh', ['-c', 'command -v node'], { env: { PATH: noNodePath } }).status, 0, 'node must not be on PATH');
    const result = await runBundle(b.installed.launcher, ['--version'], noNodePath);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, `${programVersion()}\n`);
    assert.equal(result.stderr, '');
  });

  test('bot start, status and stop: the daemon runs the bundled node on the bundle itself', async (t) => {
    const b = requireBundled(t);
    if (b === undefined) return;
    const home = scratch('hv-bundle-bot-');
    const { pid, pidFile } = await startBot(b.installed, BOT_PORT, home);
    const commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    assert.equal(commandLine[0], join(b.installed.dir, 'runtime', 'bin', 'node'));
    assert.ok(commandLine.includes(join(b.installed.dir, 'lib', 'harvester.mjs')), commandLine.join(' '));
    assert.ok(commandLine.includes('--foreground'));
    assert.ok(existsSync(join(home, 'bot.secret')));

    const status = await runBundle(b.installed.launcher, ['--home', home, 'bot', 'status', '--pid', pidFile], noNodePath);
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`^bot running \\(pid ${pid},`));

    const stopped = await runBundle(b.installed.launcher, ['--home', home, 'bot', 'stop', '--pid', pidFile], noNodePath);
    assert.equal(stopped.status, 0, stopped.stderr);
    assert.equal(stopped.stdout, `bot stopped (pid ${pid})\n`);
    assert.equal(isProcessAlive(pid), false);
  });

  test('the commands that need the store say in one line that they run on the core (exit 2)', async (t) => {
    const b = requireBundled(t);
    if (b === undefined) return;
    const home = scratch('hv-bundle-store-');
    for (const args of [['workers', 'list'], ['jobs', 'list'], ['queues', 'list'], ['jobs', 'add', '--queue', 'local', '--command', 'true'], ['run', '--once']]) {
      const result = await runBundle(b.installed.launcher, ['--home', home, ...args], noNodePath);
      assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stdout, '');
      assert.match(result.stderr, /^harvester: the offline bundle has no store .*: run this command on the core, where harvester-ts is installed with its dependencies\n$/, args.join(' '));
    }
  });

  test('queues check and plugins list work, with the examples shipped in the bundle', async (t) => {
    const b = requireBundled(t);
    if (b === undefined) return;
    const home = scratch('hv-bundle-queues-');
    const check = await runBundle(b.installed.launcher, ['--home', home, 'queues', 'check'], noNodePath);
    assert.equal(check.status, 0, check.stderr);
    assert.ok(check.stdout.includes(`${join(b.installed.dir, 'examples', 'panda_queueconfig.json')}: `), check.stdout);
    assert.match(check.stdout, /queue\(s\) OK/);
    const plugins = await runBundle(b.installed.launcher, ['--home', home, 'plugins', 'list', '--json'], noNodePath);
    assert.equal(plugins.status, 0, plugins.stderr);
    const listed = JSON.parse(plugins.stdout) as { harvesterModule: string }[];
    assert.ok(listed.some((plugin) => plugin.harvesterModule === 'pandaharvester.harvestersubmitter.slurm_submitter'));
  });
});

describe('the bundle without runtime', () => {
  test('without node on PATH, the launcher says so in one line and exits 127', async () => {
    const result = await runBundle(system.launcher, ['--version'], noNodePath);
    assert.equal(result.status, 127);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr, 'harvester: no Node.js >= 20.9 on PATH (found none); install the bundle with its runtime (remote-install --node bundled)\n');
    assert.equal(existsSync(join(system.dir, 'runtime')), false);
    assert.deepEqual(system.built.manifest.runtime, { kind: 'system' });
    assert.match(system.built.id, /-system$/);
  });

  test("with a node >= 20.9 on PATH, it runs on that node", async () => {
    const path = scratch('hv-bundle-path-node-');
    symlinkSync(process.execPath, join(path, 'node'));
    for (const tool of ['sh', 'readlink']) symlinkSync(readlinkSync(join(noNodePath, tool)), join(path, tool));
    const result = await runBundle(system.launcher, ['--version'], path);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, `${programVersion()}\n`);
  });
});
