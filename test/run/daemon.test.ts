// `harvester run` as a long-lived process: the default daemon (pid file, refuses a second start, stops on
// SIGTERM), --foreground (stops on SIGINT), and a stale pid file left by a dead process.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentNames } from '../../src/config/index.js';
import { isProcessAlive } from '../../src/middleware/bot/pid-file.js';
import { runCli, TempDirs, writeJson } from '../cli/support.js';
import { HarvesterProcess, localProcessQueue, makeRunHome, stoppedAgents, waitFor, waitForProcessGone, type RunHome } from './support.js';

const dirs = new TempDirs();
/** Daemons this file started: none may outlive it, whatever a test did. */
const daemons: number[] = [];
const foregrounds: HarvesterProcess[] = [];
after(() => {
  for (const pid of daemons) if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
  for (const p of foregrounds) p.killIfRunning();
  dirs.cleanup();
});

function daemonHome(prefix: string): RunHome {
  const configDir = dirs.make(`${prefix}-config`);
  const queueConfigFile = writeJson(join(configDir, 'queues.json'), { daemonq: localProcessQueue() });
  return makeRunHome(dirs, prefix, { queueConfigFile });
}

function pidIn(file: string): number {
  return Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
}

/** Starts the daemon, checks it answered 'started' with the pid of the live process in the pid file. */
async function startDaemon(run: RunHome): Promise<number> {
  const started = await runCli(['run'], { home: run.home, timeoutMs: 40_000 });
  assert.equal(started.status, 0, `stdout:\n${started.stdout}\nstderr:\n${started.stderr}`);
  assert.ok(existsSync(run.pidFile), `the pid file ${run.pidFile} exists once 'run' returned`);
  const pid = pidIn(run.pidFile);
  daemons.push(pid);
  assert.match(started.stdout, new RegExp(`harvester started \\(pid ${pid}, pid file ${run.pidFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.ok(isProcessAlive(pid), `the pid file names a live process (${pid})`);
  return pid;
}

describe('harvester run as a daemon', () => {
  test('returns once started; a second run says it is already running; SIGTERM stops every agent and removes the pid file', async () => {
    const run = daemonHome('daemon');
    const pid = await startDaemon(run);

    const second = await runCli(['run'], { home: run.home });
    assert.equal(second.status, 1);
    assert.match(second.stderr, new RegExp(`already running with pid ${pid}`));
    assert.equal(pidIn(run.pidFile), pid, 'the refused start left the pid file alone');
    assert.ok(isProcessAlive(pid), 'the refused start left the daemon running');

    process.kill(pid, 'SIGTERM');
    await waitForProcessGone(pid);
    assert.equal(existsSync(run.pidFile), false, 'the pid file is removed on a graceful stop');
    assert.deepEqual(stoppedAgents(run.logFile, pid), [...agentNames].sort());
  });

  test('a pid file naming a dead process does not block a start', async () => {
    const run = daemonHome('stale');
    // A pid that surely belonged to a process that is gone: one we started and waited for.
    const gone = spawnSync(process.execPath, ['-e', '']).pid;
    assert.equal(isProcessAlive(gone), false);
    writeFileSync(run.pidFile, `${gone}\n`);

    const pid = await startDaemon(run);
    assert.notEqual(pid, gone);
    process.kill(pid, 'SIGTERM');
    await waitForProcessGone(pid);
    assert.equal(existsSync(run.pidFile), false);
  });
});

describe('harvester run --foreground', () => {
  test('runs until SIGINT, then stops every agent, exits 0 and removes the pid file', async () => {
    const run = daemonHome('foreground');
    const harvester = new HarvesterProcess(['run', '--foreground'], run.home);
    foregrounds.push(harvester);
    await waitFor('the foreground run to say it is running', () => (/harvester running \(pid \d+/.test(harvester.stdout) ? true : undefined));
    assert.equal(pidIn(run.pidFile), harvester.pid, 'the pid file names the foreground process');

    const second = await runCli(['run', '--foreground'], { home: run.home });
    assert.equal(second.status, 1, 'a foreground run refuses to start beside a running one');
    assert.match(second.stderr, new RegExp(`already running with pid ${harvester.pid}`));

    harvester.child.kill('SIGINT');
    const { code } = await harvester.exit(20_000);
    assert.equal(code, 0, harvester.stderr);
    assert.equal(existsSync(run.pidFile), false);
    assert.deepEqual(stoppedAgents(run.logFile, harvester.pid), [...agentNames].sort());
  });
});
