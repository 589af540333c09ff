// What an operator sees of a running `harvester run`: the Prometheus text its listener serves (checked by
// `promtool check metrics`, labels bounded), and `harvester status` (text and --json; exit 0 healthy, 1
// degraded) with the instance up and down, with a route down, and with a queue whose submissions fail. The
// last case puts the remote queue on the testbed (a bot on hpc behind the jump host).
import { after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isProcessAlive } from '../../src/middleware/bot/pid-file.js';
import { runCli, TempDirs, writeJson, dummyLocalQueue, type CliResult } from '../cli/support.js';
import { localProcessQueue, makeRunHome, waitForProcessGone, type RunHome } from './support.js';
import { requireTestbed } from '../support/testbed.js';
import { remoteBot } from '../support/remote-bot.js';

const dirs = new TempDirs();
const daemons: number[] = [];
after(() => {
  for (const pid of daemons) if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
  dirs.cleanup();
});

/** Label names a harvester metric may carry: bounded by the configuration and the code, never an ID. */
const allowedLabels = new Set(['queue', 'agent', 'method', 'route', 'status', 'where', 'action', 'type', 'source', 'version', 'le']);

/** promtool's path, or why it cannot be used: under CI=true a missing promtool fails the test, else it skips. */
function promtool(t: TestContext): string | undefined {
  const found = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (found.status === 0) return 'promtool';
  const why = "promtool is missing: install Debian's 'prometheus' package (scripts/testbed installs it)";
  if (process.env.CI === 'true') throw new Error(why);
  t.skip(why);
  return undefined;
}

function checkMetricsText(t: TestContext, text: string): void {
  const tool = promtool(t);
  if (tool !== undefined) {
    const checked = spawnSync(tool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(checked.status, 0, `promtool check metrics: ${checked.stdout}${checked.stderr}`);
  }
  for (const line of text.split('\n')) {
    if (!line.startsWith('harvester_')) continue;
    const labels = /\{(.*)\}/.exec(line)?.[1];
    if (labels === undefined) continue;
    for (const [, name, value] of labels.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      assert.ok(allowedLabels.has(name!), `label ${name} of ${line} is one of the bounded labels`);
      if (name !== 'le') assert.doesNotMatch(value!, /^\d+$/, `label ${name} of ${line} is not a number (an ID)`);
    }
  }
}

/** One sample's value, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function startDaemon(run: RunHome): Promise<number> {
  const started = await runCli(['run'], { home: run.home, timeoutMs: 40_000 });
  assert.equal(started.status, 0, `stdout:\n${started.stdout}\nstderr:\n${started.stderr}`);
  const pid = Number.parseInt(readFileSync(run.pidFile, 'utf8'), 10);
  daemons.push(pid);
  return pid;
}

async function stopDaemon(pid: number): Promise<void> {
  process.kill(pid, 'SIGTERM');
  await waitForProcessGone(pid);
}

interface StatusJson {
  healthy: boolean;
  attention: string[];
  running: boolean;
  instance?: { instance: { metricsUrl?: string; pid: number; version: string }; routes: { route: string; reachable: boolean; used: boolean; botVersion?: string }[] };
  queues: { name: string; workers: Record<string, number>; jobs: Record<string, number> }[];
}

async function statusJson(home: string, extra: string[] = []): Promise<{ result: CliResult; status: StatusJson }> {
  const result = await runCli(['status', '--json', ...extra], { home, timeoutMs: 30_000 });
  return { result, status: JSON.parse(result.stdout) as StatusJson };
}

/** Polls `harvester status --json` until `done` holds; returns the last answer. */
async function statusUntil(home: string, what: string, done: (s: StatusJson) => boolean, timeoutMs = 60_000): Promise<StatusJson> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status } = await statusJson(home);
    if (done(status)) return status;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}; last status: ${JSON.stringify(status, null, 2)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

async function scrape(url: string): Promise<string> {
  const response = await fetch(url);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
  return response.text();
}

describe('harvester run with metrics, and harvester status', () => {
  test('a local queue: the listener serves metrics promtool accepts, labels bounded; status is healthy (exit 0), then degraded once the instance is down (exit 1)', async (t) => {
    const configDir = dirs.make('metrics-config');
    const queueConfigFile = writeJson(join(configDir, 'queues.json'), { metricsq: localProcessQueue() });
    const run = makeRunHome(dirs, 'metrics', { queueConfigFile, extra: { metrics: { port: 0 } } });
    const added = await runCli(['jobs', 'add', '--queue', 'metricsq', '--count', '3', '--command', 'true'], { home: run.home });
    assert.equal(added.status, 0, added.stderr);
    const pid = await startDaemon(run);

    const done = await statusUntil(run.home, 'three finished workers', (s) => s.queues.find((q) => q.name === 'metricsq')?.workers.finished === 3);
    assert.equal(done.healthy, true, JSON.stringify(done.attention));
    const url = done.instance?.instance.metricsUrl;
    assert.match(url ?? '', /^http:\/\/127\.0\.0\.1:\d+\/metrics$/, 'the listener is on loopback, at the port the system chose');

    const text = await scrape(url!);
    checkMetricsText(t, text);
    assert.equal(sample(text, 'harvester_workers{queue="metricsq",status="finished"}'), 3);
    assert.equal(sample(text, 'harvester_jobs{queue="metricsq",status="finished"}'), 3);
    assert.ok((sample(text, 'harvester_plugin_call_seconds_count{queue="metricsq",method="submitWorkers",where="local"}') ?? 0) >= 1);
    assert.ok((sample(text, 'harvester_agent_cycle_seconds_count{agent="monitor"}') ?? 0) >= 1);
    assert.ok((sample(text, 'harvester_store_claim_seconds_count{method="claimWorkers"}') ?? 0) >= 1);
    assert.ok((sample(text, 'harvester_store_size_bytes') ?? 0) > 0);
    assert.ok((sample(text, 'process_resident_memory_bytes') ?? 0) > 0);
    assert.notEqual(sample(text, 'nodejs_eventloop_lag_seconds'), undefined);

    const healthy = await runCli(['status'], { home: run.home, timeoutMs: 30_000 });
    assert.equal(healthy.status, 0, `${healthy.stdout}\n${healthy.stderr}`);
    assert.match(healthy.stdout, new RegExp(`running, pid ${pid}, up `));
    assert.match(healthy.stdout, /^metricsq\s+finished 3\s+finished 3\s/m);
    assert.match(healthy.stdout, /^monitor\s+\S+ ago\s/m, 'the agents with their last cycle');
    assert.match(healthy.stdout, /status: healthy$/m);

    await stopDaemon(pid);
    const down = await runCli(['status'], { home: run.home, timeoutMs: 30_000 });
    assert.equal(down.status, 1, down.stdout);
    assert.match(down.stdout, /harvester run is not running/);
    assert.match(down.stdout, /^metricsq\s+finished 3\s+finished 3\s/m, 'the store is still read');
    const downJson = await statusJson(run.home);
    assert.equal(downJson.result.status, 1);
    assert.deepEqual([downJson.status.healthy, downJson.status.running], [false, false]);
    assert.match(downJson.status.attention[0] ?? '', /not running/);
  });

  test('a route that is down and a queue whose submissions fail: status says so first, exit 1; remote failures counted by route and type', async (t) => {
    const configDir = dirs.make('degraded-config');
    const pluginFile = join(configDir, 'refusing-submitter.mjs');
    writeFileSync(
      pluginFile,
      'export class RefusingSubmitter {\n' +
        '  async submitWorkers(ctx, workers) { return workers.map(() => ({ kind: "failed", diag: "the batch system refused the job on purpose" })); }\n' +
        '}\n',
    );
    const queueConfigFile = writeJson(join(configDir, 'queues.json'), {
      refusing: localProcessQueue({ queue: { submitter: { name: 'RefusingSubmitter', module: pluginFile } } }),
      // Nothing listens on port 1: every remote call fails with BotUnavailableError, the route never comes up.
      unreachable: dummyLocalQueue({
        nQueueLimitWorker: 1,
        maxWorkers: 1,
        rpc: { name: 'RpcHerder', module: 'pandaharvester.harvestermiddleware.rpc_herder', remoteHost: '127.0.0.1', remotePort: 1, sshUserName: 'nobody', connectTimeout: 0.5 },
        submitter: { name: 'DummySubmitter', module: 'pandaharvester.harvestersubmitter.dummy_submitter', middleware: 'rpc' },
      }),
    });
    const run = makeRunHome(dirs, 'degraded', { queueConfigFile, extra: { metrics: { port: 0 }, submitter: { sleepTime: 0.2, lockInterval: 3, checkInterval: 0.2, queueLockInterval: 3, pluginTimeout: 10, maxSubmissionAttempts: 10 } } });
    const added = await runCli(['jobs', 'add', '--queue', 'refusing', '--count', '2', '--command', 'true'], { home: run.home });
    assert.equal(added.status, 0, added.stderr);
    await startDaemon(run);

    const degraded = await statusUntil(
      run.home,
      'the route down and the refusing queue reported',
      (s) => s.attention.some((a) => a.startsWith('route nobody@127.0.0.1:1 is down')) && s.attention.some((a) => a.startsWith('queue refusing: the last')),
    );
    assert.equal(degraded.healthy, false);
    const route = degraded.instance?.routes.find((r) => r.route === 'nobody@127.0.0.1:1');
    assert.deepEqual([route?.used, route?.reachable], [true, false]);

    const text = await runCli(['status'], { home: run.home, timeoutMs: 30_000 });
    assert.equal(text.status, 1, text.stdout);
    assert.match(text.stdout, /status: DEGRADED — needs attention:\n {2}- route nobody@127\.0\.0\.1:1 is down \(queues unreachable\): .+/);
    assert.match(text.stdout, /- queue refusing: the last \d+ submissions submitted nothing: the batch system refused the job on purpose/);
    assert.match(text.stdout, /^nobody@127\.0\.0\.1:1\s+NO\s/m);

    const metrics = await scrape(degraded.instance!.instance.metricsUrl!);
    checkMetricsText(t, metrics);
    assert.ok((sample(metrics, 'harvester_remote_call_failures_total{route="nobody@127.0.0.1:1",type="BotUnavailableError"}') ?? 0) >= 1);
    assert.equal(sample(metrics, 'harvester_tunnel_links_up{route="nobody@127.0.0.1:1"}'), 0);
    assert.equal(sample(metrics, 'harvester_bot_up{route="nobody@127.0.0.1:1"}'), 0);
    assert.ok((sample(metrics, 'harvester_plugin_call_errors_total{queue="unreachable",method="submitWorkers",where="nobody@127.0.0.1:1"}') ?? 0) >= 1);
  });

  test('the remote queue on the testbed: the bot reports its health per route (promtool accepts it); status shows the route reachable with the bot version, and down once the bot stops', { timeout: 240_000 }, async (t) => {
    const testbed = requireTestbed(t);
    if (testbed === undefined) return;
    const bot = await remoteBot(testbed, 'metrics', 18879);
    await bot.cleanup();
    await bot.start();
    t.after(async () => {
      if ((await bot.pid()) !== undefined) await bot.stop();
      await bot.cleanup();
    });
    const root = await bot.makeRoot('metrics');
    const configDir = dirs.make('remote-metrics-config');
    const remote = { middleware: 'rpc' };
    const queueConfigFile = writeJson(join(configDir, 'queues.json'), {
      remoteq: dummyLocalQueue({
        nQueueLimitWorker: 2,
        maxWorkers: 2,
        rpc: { name: 'RpcHerder', module: 'pandaharvester.harvestermiddleware.rpc_herder', ...bot.rpc() },
        submitter: { name: 'DummySubmitter', module: 'pandaharvester.harvestersubmitter.dummy_submitter', ...remote },
        monitor: { name: 'DummyMonitor', module: 'pandaharvester.harvestermonitor.dummy_monitor', ...remote },
        sweeper: { name: 'DummySweeper', module: 'pandaharvester.harvestersweeper.dummy_sweeper', ...remote },
        messenger: {
          name: 'SharedFileMessenger',
          module: 'pandaharvester.harvestermessenger.shared_file_messenger',
          accessPoint: join(root, '${workerID}'),
          ...remote,
        },
      }),
    });
    const run = makeRunHome(dirs, 'remote-metrics', { queueConfigFile, extra: { metrics: { port: 0 } } });
    const pid = await startDaemon(run);
    t.after(async () => {
      if (isProcessAlive(pid)) await stopDaemon(pid);
    });

    const reachable = await statusUntil(run.home, 'the route reachable with workers made', (s) => s.instance?.routes.some((r) => r.reachable) === true && Object.values(s.queues.find((q) => q.name === 'remoteq')?.workers ?? {}).some((n) => n > 0), 120_000);
    const route = reachable.instance!.routes[0]!;
    assert.equal(route.botVersion, reachable.instance!.instance.version, 'the bot runs the same version');
    const text = await scrape(reachable.instance!.instance.metricsUrl!);
    checkMetricsText(t, text);
    const label = route.route;
    assert.equal(sample(text, `harvester_bot_up{route="${label}"}`), 1);
    assert.ok((sample(text, `harvester_bot_resident_memory_bytes{route="${label}"}`) ?? 0) > 0);
    assert.ok((sample(text, `harvester_bot_journal_bytes{route="${label}"}`) ?? 0) > 0);
    assert.ok((sample(text, `harvester_tunnel_links_up{route="${label}"}`) ?? 0) >= 1);
    assert.ok((sample(text, `harvester_plugin_call_seconds_count{queue="remoteq",method="submitWorkers",where="${label}"}`) ?? 0) >= 1);
    const healthy = await runCli(['status'], { home: run.home, timeoutMs: 30_000 });
    assert.match(healthy.stdout, new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+yes\\s+${reachable.instance!.instance.version}\\s+[\\d.]+ ms`, 'm'));

    await bot.stop();
    const down = await statusUntil(run.home, 'the route down', (s) => s.attention.some((a) => a.startsWith(`route ${label} is down`)), 120_000);
    assert.equal(down.healthy, false);
    assert.equal((await runCli(['status'], { home: run.home, timeoutMs: 30_000 })).status, 1);
  });
});
