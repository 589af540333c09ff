// `harvester run` refusing what it cannot run, in one line that names the culprit: a bad agent setting, a
// corrupt or too new database, no online queue; and a disk that fills while it runs.
import { after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SCHEMA_VERSION } from '../../src/store/sqlite/schema.js';
import { outputLines, runCli, TempDirs, writeJson, type CliResult } from '../cli/support.js';
import { fastAgentSettings, localProcessQueue, logRecords, makeRunHome, type RunHome } from './support.js';

const dirs = new TempDirs();
after(() => dirs.cleanup());

function queueConfig(prefix: string, queues: Record<string, unknown> = { badq: localProcessQueue() }): string {
  return writeJson(join(dirs.make(`${prefix}-config`), 'queues.json'), queues);
}

function runHome(prefix: string): RunHome {
  return makeRunHome(dirs, prefix, { queueConfigFile: queueConfig(prefix) });
}

/** A message for humans: one line on stderr, no stack trace. */
function assertOneLine(result: CliResult): string {
  const lines = outputLines(result.stderr);
  assert.equal(lines.length, 1, `one line on stderr, got:\n${result.stderr}`);
  assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace');
  return lines[0]!;
}

describe('harvester run with a bad harvester.json', () => {
  for (const [what, monitor, key] of [
    ['a negative sleepTime', { sleepTime: -1 }, 'monitor.sleepTime'],
    ['an unknown key', { sleepTimeSeconds: 1 }, 'sleepTimeSeconds'],
  ] as const) {
    test(`${what} in an agent section: exit 2 naming the file and the key, before anything runs (--once and daemon)`, async () => {
      const run = runHome('bad-setting');
      const configFile = writeJson(join(run.home, 'harvester.json'), { queueConfigFile: queueConfig('bad-setting'), ...fastAgentSettings, monitor });
      for (const args of [['run', '--once'], ['run']]) {
        const result = await runCli(args, { home: run.home });
        assert.equal(result.status, 2, `harvester ${args.join(' ')}: ${result.stderr}`);
        const line = assertOneLine(result);
        assert.ok(line.includes(configFile), `names ${configFile}: ${line}`);
        assert.ok(line.includes(key), `names ${key}: ${line}`);
      }
    });
  }
});

describe('harvester run with a database it cannot use', () => {
  test('a corrupt database file: exit 1 with one line naming the file', async () => {
    const run = runHome('corrupt');
    writeFileSync(run.database, 'this is not an SQLite database, just text where the file should be\n'.repeat(100));
    const result = await runCli(['run', '--once'], { home: run.home });
    assert.equal(result.status, 1);
    const line = assertOneLine(result);
    assert.ok(line.includes(run.database), `names ${run.database}: ${line}`);
    assert.match(line, /corrupt|not a database/);
  });

  test('a database of a newer schema: a clear error naming both versions, and the file left as it was', async () => {
    const run = runHome('newer');
    const added = await runCli(['jobs', 'add', '--queue', 'badq', '--command', 'true'], { home: run.home });
    assert.equal(added.status, 0, added.stderr);
    const newer = SCHEMA_VERSION + 7;
    const db = new Database(run.database);
    db.prepare('INSERT INTO schema_version ("version", "appliedAt") VALUES (?, ?)').run(newer, Date.now());
    db.close();

    const result = await runCli(['run', '--once'], { home: run.home });
    assert.equal(result.status, 1);
    const line = assertOneLine(result);
    assert.ok(line.includes(run.database), `names ${run.database}: ${line}`);
    assert.match(line, new RegExp(`schema version ${newer}\\b.*\\b${SCHEMA_VERSION}\\b`));

    const check = new Database(run.database, { readonly: true });
    const versions = check.prepare('SELECT MAX("version") AS v FROM schema_version').get() as { v: number };
    const queued = check.prepare('SELECT COUNT(*) AS n FROM job_queue_table').get() as { n: number };
    check.close();
    assert.equal(versions.v, newer, 'the newer version is still recorded');
    assert.equal(queued.n, 1, 'the queued job was neither taken nor dropped');
  });
});

describe('harvester run without an online queue', () => {
  const offlineOnly = (prefix: string): RunHome =>
    makeRunHome(dirs, prefix, { queueConfigFile: queueConfig(prefix, { sleepingq: localProcessQueue({ queue: { queueStatus: 'offline' } }) }) });

  test('exits 2 saying there is no online queue and why the queues were left out (--once, --until-done, --foreground)', async () => {
    const run = offlineOnly('offline');
    for (const args of [['run', '--once'], ['run', '--until-done'], ['run', '--foreground']]) {
      const result = await runCli(args, { home: run.home });
      assert.equal(result.status, 2, `harvester ${args.join(' ')}: ${result.stderr}`);
      const line = assertOneLine(result);
      assert.match(line, /no online queue/);
      assert.match(line, /sleepingq: queueStatus is offline/);
    }
  });

  test('the daemon start exits 2 as well, before any daemon is started', async () => {
    const run = offlineOnly('offline-daemon');
    const result = await runCli(['run'], { home: run.home });
    assert.match(result.stderr, /no online queue/);
    assert.equal(result.status, 2);
    assert.ok(!existsSync(join(run.home, 'harvester.pid')), 'a pid file was written');
  });
});

/** Mounts a tmpfs of `size` at a new directory; undefined (with why) when that cannot be done here. */
function mountTmpfs(t: TestContext, size: string): string | undefined {
  if (process.getuid?.() !== 0) {
    t.skip('mounting a tmpfs needs root (under CI=true the suite runs as root)');
    return undefined;
  }
  const mountPoint = dirs.make('tmpfs');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mountPoint], { stdio: 'pipe' });
  } catch (error) {
    const why = `cannot mount a tmpfs: ${(error as { stderr?: Buffer }).stderr?.toString().trim() || String(error)}`;
    if (process.env.CI === 'true') throw new Error(why);
    t.skip(why);
    return undefined;
  }
  t.after(() => {
    try {
      execFileSync('umount', [mountPoint], { stdio: 'pipe' });
    } catch {
      // A payload may still hold a file there: detach now, the kernel frees it when the last one closes.
      execFileSync('umount', ['-l', mountPoint], { stdio: 'pipe' });
    }
  });
  return mountPoint;
}

describe('harvester run on a disk that fills up', () => {
  test('reports that the disk holding the database is full, in one line naming the file, and exits non-zero', async (t) => {
    const mountPoint = mountTmpfs(t, '600k');
    if (mountPoint === undefined) return;
    const home = join(mountPoint, 'home');
    mkdirSync(home);
    // The logs live elsewhere: this is about the store's writes (see the report for a log on a full disk).
    const logDir = dirs.make('full-disk-logs');
    const queueConfigFile = queueConfig('full-disk');
    writeJson(join(home, 'harvester.json'), { queueConfigFile, logDir, ...fastAgentSettings });
    // The payloads' output (40 x 30 kB in the access points under the home) fills the 600 kB.
    const added = await runCli(['jobs', 'add', '--queue', 'badq', '--count', '40', '--command', 'head -c 30000 /dev/zero'], { home });
    assert.equal(added.status, 0, added.stderr);

    const result = await runCli(['run', '--until-done', '--timeout', '5'], { home, timeoutMs: 60_000 });
    assert.notEqual(result.status, 0);
    assert.doesNotMatch(result.stderr, /^\s+at /m, `no stack trace:\n${result.stderr}`);
    const database = join(home, 'harvester.db');
    const diskFull = outputLines(result.stderr).filter((line) => line.includes('the disk holding the database is full'));
    assert.ok(diskFull.length > 0, `stderr says the disk is full:\n${result.stderr}`);
    assert.ok(diskFull.every((line) => line.includes(database)), `and names ${database}: ${diskFull.join('\n')}`);
    const logged = logRecords(join(logDir, 'harvester.log')).filter((r) => r.err?.type === 'StoreDiskFullError');
    assert.ok(logged.length > 0, 'the agents logged StoreDiskFullError');
  });
});
