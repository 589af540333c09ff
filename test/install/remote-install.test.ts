// `harvester remote-install` against the testbed, the real CLI in child processes: hpc (reached through the
// jump host) has no Node.js and cannot read the repository; jump has a system Node. Each test installs into a
// directory of its own, so the suite's bot (bot-install.ts, in .harvester-ts) is never disturbed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { cliMain, runCli, type CliResult } from '../cli/support.js';
import { bundleCacheEnv, installQueueConfig, runRemoteInstall, type InstallRunOptions } from '../support/bot-install.js';
import { requireTestbed, type Testbed } from '../support/testbed.js';

/** This file's ports on hpc and jump (18980-18989). */
const HPC_BOT_PORT = 18980;
const TEST_TIMEOUT_MS = 300_000;

const dirsToRemove: string[] = [];
after(async () => {
  for (const dir of dirsToRemove) await rm(dir, { recursive: true, force: true });
});

/** A fresh install directory in the test user's home; removed after the file. */
function freshDir(testbed: Testbed, name: string): { relative: string; absolute: string } {
  const relative = `.hv-install-${name}-${process.pid}`;
  const absolute = join(testbed.user.home, relative);
  dirsToRemove.push(absolute);
  return { relative, absolute };
}

function install(testbed: Testbed, dir: string, opts: InstallRunOptions = {}): Promise<CliResult> {
  return runRemoteInstall(testbed, { ...opts, remoteDir: dir });
}

function assertOk(r: CliResult, what: string): void {
  assert.equal(r.status, 0, `${what} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
}

/** The version id `current` (or `previous`) points to, read from the shared file system. */
function pointer(dir: string, name: 'current' | 'previous'): string | undefined {
  try {
    return readlinkSync(join(dir, name)).replace(/^versions\//, '');
  } catch {
    return undefined;
  }
}

/** Runs a program with exactly the environment given. */
function runCommand(file: string, args: readonly string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

function stateLine(r: CliResult): string {
  return /^ {2}state +(.*)$/m.exec(r.stdout)?.[1] ?? '';
}

describe('harvester remote-install', { timeout: TEST_TIMEOUT_MS }, () => {
  test('installs from scratch onto hpc (no Node there) through the jump host: the bundled runtime, current switched, the bot started and answering tunnel-test', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const testbed = requireTestbed(t);
    if (!testbed) return;
    const dir = freshDir(testbed, 'scratch');
    const botHome = `.harvester-install-scratch-${process.pid}`;
    dirsToRemove.push(join(testbed.user.home, botHome));
    const rpc = { botHome, remoteBindPort: HPC_BOT_PORT };
    const r = await install(testbed, dir.relative, { rpc, args: ['--start-bot'] });
    assertOk(r, 'remote-install --start-bot');
    assert.match(r.stdout, /ok {3}jump-auth .*ok {3}remote-auth/s, 'it connected through the jump host');
    assert.match(r.stdout, /runtime +bundled: no node on PATH: shipping the Node runtime for linux-x64/);
    assert.equal(stateLine(r), 'fresh install');
    const id = pointer(dir.absolute, 'current');
    assert.ok(id !== undefined && id.endsWith('-node-linux-x64'), `current -> ${id}`);
    assert.ok(existsSync(join(dir.absolute, 'versions', id, 'runtime', 'bin', 'node')), 'the runtime is installed');
    assert.ok(existsSync(join(dir.absolute, 'versions', id, '.complete')));
    assert.equal(existsSync(join(dir.absolute, '.incoming')), false, 'nothing left in .incoming');
    const remoteCommand = `${dir.absolute}/current/bin/harvester`;
    assert.ok(r.stdout.includes(`"remoteCommand": ${JSON.stringify(remoteCommand)}`), r.stdout);
    assert.match(r.stdout, /bot +started/);
    // The route now passes every step of tunnel-test, the plugin probe included, with the installed bot.
    const home = await mkdtemp(join(tmpdir(), 'hv-install-tt-'));
    dirsToRemove.push(home);
    const queueFile = join(home, 'queues.json');
    await writeFile(queueFile, JSON.stringify(installQueueConfig(testbed, { rpc: { ...rpc, remoteCommand } })));
    try {
      const tt = await runCli(['tunnel-test', '--queue', 'hv_install', '--queue-config', queueFile], { home, timeoutMs: 60_000 });
      assertOk(tt, 'tunnel-test');
      assert.match(tt.stdout, /all steps passed/);
      // The bundle is the whole CLI: run as a core (from the installed copy, with its own runtime and no node on
      // PATH), its bundled ssh2 takes the same route through the jump host.
      const bundled = await runCommand(`${dir.absolute}/current/bin/harvester`, ['--home', home, 'tunnel-test', '--queue', 'hv_install', '--queue-config', queueFile], { PATH: '/nonexistent', HOME: home });
      assert.equal(bundled.status, 0, `${bundled.stdout}\n${bundled.stderr}`);
      for (const step of ['jump-auth', 'remote-auth', 'bot-stream', 'bot-hello-auth', 'no-op call', 'submitter']) {
        assert.match(bundled.stdout, new RegExp(`^ok +${step}`, 'm'), `${step}:\n${bundled.stdout}`);
      }
    } finally {
      const stop = await testbed.runAsUserOnHost('hpc', [remoteCommand, '--home', botHome, 'bot', 'stop', '--pid', `${botHome}/bot.pid`]);
      assert.equal(stop.status, 0, stop.stderr);
    }
  });

  test('a reinstall of the same version sends nothing and says "already installed"', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const testbed = requireTestbed(t);
    if (!testbed) return;
    const dir = freshDir(testbed, 'again');
    assertOk(await install(testbed, dir.relative), 'first install');
    const id = pointer(dir.absolute, 'current');
    const again = await install(testbed, dir.relative);
    assertOk(again, 'second install');
    assert.match(stateLine(again), /^already installed: current -> versions\/.*; nothing to send$/);
    assert.doesNotMatch(again.stdout, /^ {2}upload/m);
    assert.equal(pointer(dir.absolute, 'current'), id);
    assert.equal(pointer(dir.absolute, 'previous'), undefined, 'a reinstall records no previous version');
  });

  test('on a host with a suitable system Node (jump) that Node is used and no runtime is shipped', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const testbed = requireTestbed(t);
    if (!testbed) return;
    const dir = freshDir(testbed, 'system');
    const r = await install(testbed, dir.relative, { host: 'jump' });
    assertOk(r, 'install on jump');
    assert.match(r.stdout, /runtime +system: the host's node \d+\.\d+\.\d+ at \/usr\/bin\/node fits/);
    const id = pointer(dir.absolute, 'current');
    assert.ok(id !== undefined && id.endsWith('-system'), `current -> ${id}`);
    assert.equal(existsSync(join(dir.absolute, 'versions', id, 'runtime')), false, 'no runtime shipped');
    const version = await testbed.runAsUserOnHost('jump', [`${dir.absolute}/current/bin/harvester`, '--version']);
    assert.equal(version.status, 0, version.stderr);
    assert.equal(version.stdout.trim(), JSON.parse(readFileSync(join(testbed.repoDir, 'package.json'), 'utf8')).version);
    // The same install cannot run on hpc, which has no Node: the launcher says so in one line.
    const onHpc = await testbed.runAsUserOnHost('hpc', [`${dir.absolute}/current/bin/harvester`, '--version']);
    assert.equal(onHpc.status, 127, onHpc.stderr);
    assert.match(onHpc.stderr, /no Node\.js >= 20\.9 on PATH/);
  });

  test('upgrade, then rollback: current and previous swap, and nothing is uploaded for a version already there', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const testbed = requireTestbed(t);
    if (!testbed) return;
    const dir = freshDir(testbed, 'upgrade');
    // Two different bundles for one host: jump's system Node (auto), then the bundled runtime.
    assertOk(await install(testbed, dir.relative, { host: 'jump' }), 'install the system variant');
    const first = pointer(dir.absolute, 'current');
    const upgrade = await install(testbed, dir.relative, { host: 'jump', args: ['--node', 'bundled'] });
    assertOk(upgrade, 'upgrade to the bundled variant');
    assert.equal(stateLine(upgrade), `upgrade from ${first}`);
    const second = pointer(dir.absolute, 'current');
    assert.notEqual(second, first);
    assert.equal(pointer(dir.absolute, 'previous'), first);
    const back = await install(testbed, dir.relative, { host: 'jump', args: ['--rollback'] });
    assertOk(back, 'rollback');
    assert.equal(pointer(dir.absolute, 'current'), first);
    assert.equal(pointer(dir.absolute, 'previous'), second);
    // Forward again: the bundled variant is still there, verified: a switch without an upload.
    const forward = await install(testbed, dir.relative, { host: 'jump', args: ['--node', 'bundled'] });
    assertOk(forward, 'forward again');
    assert.match(stateLine(forward), /is there \(verified earlier\); switching to it without an upload/);
    assert.doesNotMatch(forward.stdout, /^ {2}upload/m);
    assert.equal(pointer(dir.absolute, 'current'), second);
    assert.deepEqual(readdirSync(join(dir.absolute, 'versions')).sort(), [first, second].sort());
  });

  test('an upload killed midway leaves the old version current, and the next run finishes cleanly', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const testbed = requireTestbed(t);
    if (!testbed) return;
    const dir = freshDir(testbed, 'killed');
    assertOk(await install(testbed, dir.relative, { host: 'jump' }), 'install the system variant');
    const old = pointer(dir.absolute, 'current');
    // The bundled variant is built (and cached) first, so that the kill lands in its upload.
    assertOk(await install(testbed, `${dir.relative}-dry`, { host: 'jump', args: ['--node', 'bundled', '--dry-run'] }), 'dry run builds the bundle');
    const home = await mkdtemp(join(tmpdir(), 'hv-install-kill-'));
    dirsToRemove.push(home);
    const queueFile = join(home, 'queues.json');
    await writeFile(queueFile, JSON.stringify(installQueueConfig(testbed, { host: 'jump' })));
    const child = spawn(process.execPath, [cliMain, 'remote-install', '--queue', 'hv_install', '--queue-config', queueFile, '--remote-dir', dir.relative, '--node', 'bundled'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, HARVESTER_HOME: home, ...bundleCacheEnv() },
      stdio: 'ignore',
    });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    const incoming = join(dir.absolute, '.incoming');
    let partBytes = 0;
    for (let i = 0; i < 6000 && partBytes === 0 && child.exitCode === null; i++) {
      const part = existsSync(incoming) ? readdirSync(incoming).find((f) => f.endsWith('.tar.gz.part')) : undefined;
      if (part !== undefined) partBytes = statSync(join(incoming, part)).size;
      if (partBytes === 0) await new Promise((r) => setTimeout(r, 5));
    }
    child.kill('SIGKILL');
    await exited;
    assert.ok(partBytes > 0, 'the upload had started when the install was killed');
    assert.equal(pointer(dir.absolute, 'current'), old, 'the old version is still current');
    const partial = readdirSync(incoming).find((f) => f.endsWith('.tar.gz.part'));
    assert.ok(partial !== undefined, 'a partial upload was left behind');
    const next = await install(testbed, dir.relative, { host: 'jump', args: ['--node', 'bundled'] });
    assertOk(next, 'the next run');
    assert.equal(stateLine(next), `upgrade from ${old}`);
    assert.ok(pointer(dir.absolute, 'current')?.endsWith('-node-linux-x64'));
    assert.equal(existsSync(incoming), false, 'the partial upload is gone');
  });

  test('a remote disk too small for the new version: a clear error naming the space, nothing changed there', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const testbed = requireTestbed(t);
    if (!testbed) return;
    // A 40 MB file system, owned by the test user, mounted in jump's own mount namespace.
    const mountPoint = await mkdtemp(join(tmpdir(), 'hv-small-disk-'));
    const mounted = await testbed.runOnHost('jump', ['mount', '-t', 'tmpfs', '-o', `size=40m,mode=0755,uid=${testbed.user.uid}`, 'hv-small-disk', mountPoint]);
    assert.equal(mounted.status, 0, mounted.stderr);
    try {
      const dir = join(mountPoint, 'harvester-ts');
      // The file system exists in jump's mount namespace only: look at it from there.
      const onJump = async (command: string): Promise<string> => (await testbed.runAsUserOnHost('jump', ['sh', '-c', command])).stdout.trim();
      const current = (): Promise<string> => onJump(`readlink ${dir}/current`);
      assertOk(await install(testbed, dir, { host: 'jump' }), 'the system variant fits');
      const old = (await current()).replace(/^versions\//, '');
      assert.match(old, /-system$/);
      const r = await install(testbed, dir, { host: 'jump', args: ['--node', 'bundled'] });
      assert.equal(r.status, 1, r.stdout);
      assert.match(r.stderr, new RegExp(`harvester: remote-install hvuser@jump:${dir}: disk-space: [\\d.]+ MB free there; this install needs [\\d.]+ MB .*Nothing was changed; current is still ${old}`));
      assert.equal(await current(), `versions/${old}`);
      assert.equal(await onJump(`ls -A ${dir}`), '.install.lock\ncurrent\nversions', 'nothing was uploaded');
    } finally {
      await testbed.runOnHost('jump', ['umount', mountPoint]);
      await rm(mountPoint, { recursive: true, force: true });
    }
  });

  test('--dry-run prints the plan and creates nothing on the remote host', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const testbed = requireTestbed(t);
    if (!testbed) return;
    const dir = freshDir(testbed, 'dry');
    const r = await install(testbed, dir.relative, { args: ['--dry-run'] });
    assertOk(r, 'dry run');
    assert.match(r.stdout, /plan +upload [\d.]+ MB, verify sha256 .*switch current/);
    assert.match(r.stdout, /remoteCommand would be/);
    assert.equal(existsSync(dir.absolute), false, 'the directory was not created');
  });

  test('a second install while one runs is refused, naming the lock', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const testbed = requireTestbed(t);
    if (!testbed) return;
    const dir = freshDir(testbed, 'locked');
    await mkdir(dir.absolute, { recursive: true });
    await chown(dir.absolute, testbed.user.uid, -1);
    // Holds the lock as another install would, until its stdin closes.
    const holder = spawn('ip', ['netns', 'exec', 'hv-hpc', 'runuser', '-u', testbed.user.name, '--', 'flock', join(dir.absolute, '.install.lock'), 'sh', '-c', 'echo held; cat'], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
    try {
      const r = await install(testbed, dir.relative);
      assert.equal(r.status, 1, r.stdout);
      assert.match(r.stderr, /lock: another remote-install into this directory is running \(it holds .*\.install\.lock\)/);
    } finally {
      holder.stdin.end();
      await new Promise((resolve) => holder.on('exit', resolve));
    }
  });

  test('a wrong password fails at the connect step, naming host and user, never the password', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const testbed = requireTestbed(t);
    if (!testbed) return;
    const dir = freshDir(testbed, 'badpw');
    const r = await install(testbed, dir.relative, { rpc: { sshPassword: 'not-the-password' } });
    assert.equal(r.status, 1, r.stdout);
    assert.match(r.stderr, /remote-install hvuser@hpc:.*: connect: jump-auth hvuser@jump:22: /);
    assert.doesNotMatch(r.stdout + r.stderr, /not-the-password/);
    assert.equal(existsSync(dir.absolute), false);
  });
});
