// User plugins that misbehave on the bot: one hangs (its checkWorkers only ends when ctx.signal aborts), one
// throws. A hanging call must end with DeadlineExceededError once callTimeout passed while other calls on the
// same route (the same SSH tunnel, even) are answered meanwhile; a throwing plugin surfaces as a
// RemoteMethodError carrying the plugin's own message and stack. Each plugin records every execution, so
// the tests also check that a call ran exactly as often as it was made (never re-run by a retry).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DeadlineExceededError, RemoteMethodError } from '../../../src/middleware/errors.js';
import type { QueueConfig } from '../../../src/config/index.js';
import { remoteBot, type RemoteBot } from '../../support/remote-bot.js';
import {
  assertNamesHostAndUser,
  assertNoSecretIn,
  botLogs,
  botSecret,
  builtinSections,
  Herder,
  startBotWithPlugins,
  tearDownBotSuite,
  rejectionOf,
  remoteQueue,
  suiteTestbed,
  waitForWorkingRoute,
  waitUntil,
  workers,
} from './support.js';

process.umask(0o000);

const { testbed, skip } = suiteTestbed();
const PLUGIN_DIR = '/tmp/hv-fault-plugins';
/** Long enough for several rounds of prompt calls under load before the hanging call's deadline. */
const CALL_TIMEOUT_S = 6;
/** Rounds of prompt calls made while the plugin hangs. */
const ROUNDS = 3;

const hangingMonitor = `// A monitor whose checkWorkers never settles by itself: only the abort of ctx.signal ends it.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';

export class HangingMonitor {
  constructor(options) {
    this.markerDir = options.markerDir;
  }

  checkWorkers(ctx, workSpecs) {
    appendFileSync(join(this.markerDir, 'executions.log'), 'checkWorkers\\n');
    return new Promise((resolve, reject) => {
      ctx.signal.addEventListener('abort', () => {
        const reason = ctx.signal.reason;
        appendFileSync(join(this.markerDir, 'aborted.log'), (reason && reason.name ? reason.name : String(reason)) + '\\n');
        reject(reason);
      }, { once: true });
    });
  }
}
`;

const THROWN = 'scheduler database unreachable (fault-test)';
const throwingMonitor = `// A monitor that fails the way a plugin with a broken backend does.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';

export class ThrowingMonitor {
  constructor(options) {
    this.markerDir = options.markerDir;
  }

  async checkWorkers(ctx, workSpecs) {
    appendFileSync(join(this.markerDir, 'executions.log'), 'checkWorkers\\n');
    throw new Error('ThrowingMonitor cannot check ' + workSpecs.length + ' workers: ${THROWN}');
  }
}
`;

describe('user plugins on the bot that hang or throw', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'hv-fault-plugin-'));
  let bot: RemoteBot;
  let h: Herder;
  let rpc: Record<string, unknown>;
  const errorTexts = new Map<string, string>();

  before(async () => {
    bot = await remoteBot(testbed!, 'fault-plugin', 18902);
    await startBotWithPlugins(testbed!, bot, PLUGIN_DIR, { 'hanging_monitor.mjs': hangingMonitor, 'throwing_monitor.mjs': throwingMonitor });
    h = new Herder(dir, 'herder-plugin');
    // One tunnel: the hanging call and the prompt ones share a single SSH connection and RPC session.
    rpc = bot.rpc({ numTunnels: 1, callTimeout: CALL_TIMEOUT_S });
  });

  after(() => tearDownBotSuite(h, bot, [PLUGIN_DIR, dir]));

  /** How often a marker plugin ran (one line per execution in its marker directory). */
  function executions(root: string): number {
    const file = join(root, 'executions.log');
    return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').length : 0;
  }

  function queueWithMonitor(name: string, monitor: Record<string, unknown>): QueueConfig {
    return remoteQueue(name, rpc, { submitter: builtinSections.submitter, monitor });
  }

  test('a plugin that hangs ends in DeadlineExceededError after callTimeout, its signal is aborted, and other calls on the same route are answered meanwhile', async (t) => {
    const root = await bot.makeRoot('plugin-hang');
    const hangQueue = queueWithMonitor('fault_plugin_hang', { name: 'HangingMonitor', module: 'hanging_monitor.mjs', markerDir: root });
    const okQueue = queueWithMonitor('fault_plugin_ok', builtinSections.monitor);
    await waitForWorkingRoute(h, okQueue, 20_000);
    assert.equal(h.provider.clientFor(hangQueue.middlewares.rpc!), h.provider.clientFor(okQueue.middlewares.rpc!), 'both queues use one route');

    const hanging = await h.plugin(hangQueue, 'monitor');
    const submitter = await h.plugin(okQueue, 'submitter');
    const monitor = await h.plugin(okQueue, 'monitor');
    const started = performance.now();
    let hangSettled: number | undefined;
    const hang = rejectionOf(hanging.checkWorkers(h.ctx(hangQueue), workers(root, 2)), started);
    void hang.then(() => (hangSettled = performance.now()));

    const latencies: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const t0 = performance.now();
      const [submitted, checked] = await Promise.all([
        submitter.submitWorkers(h.ctx(okQueue), workers(root, 3)),
        monitor.checkWorkers(h.ctx(okQueue), []),
      ]);
      latencies.push(performance.now() - t0);
      assert.ok(submitted.every((o) => o.kind === 'succeeded'), 'the other plugin works while one hangs');
      assert.equal(checked.kind, 'succeeded');
    }
    // What "promptly" means: every round was answered before the hanging call ended (its deadline).
    assert.equal(hangSettled, undefined, `the ${ROUNDS} rounds of calls were answered while the hanging call was still waiting`);
    t.diagnostic(`${latencies.length} rounds of calls while the plugin hung, slowest ${Math.round(Math.max(...latencies))} ms`);

    const { error, ms } = await hang;
    errorTexts.set('hang', `${error.message}\n${error.stack ?? ''}`);
    assert.ok(error instanceof DeadlineExceededError, `DeadlineExceededError, got ${error.name}: ${error.message}`);
    assertNamesHostAndUser(error, 'hpc', testbed!.user.name);
    // The deadline ended it, not anything earlier (a clock cannot run backwards; no upper bound: that is a benchmark's job).
    assert.ok(ms >= CALL_TIMEOUT_S * 1000 - 50, `not before callTimeout (${Math.round(ms)} ms)`);
    // The bot aborted the plugin's signal (the herder's cancel or the bot's own deadline): nothing is left hanging.
    const marker = join(root, 'aborted.log');
    assert.ok(await waitUntil(() => existsSync(marker), 10_000), 'the hanging plugin saw its signal aborted');
    assert.match(readFileSync(marker, 'utf8'), /DeadlineExceeded/);
    assert.equal(executions(root), 1, 'the hanging plugin ran once for its one call (not again by a retry)');
    const after = await monitor.checkWorkers(h.ctx(okQueue), []);
    assert.equal(after.kind, 'succeeded', 'the route still works afterwards');
  });

  test('a plugin that throws surfaces as RemoteMethodError with the thrown message and a remote stack naming the plugin file', async () => {
    const root = await bot.makeRoot('plugin-throw');
    const throwQueue = queueWithMonitor('fault_plugin_throw', { name: 'ThrowingMonitor', module: 'throwing_monitor.mjs', markerDir: root });
    const throwing = await h.plugin(throwQueue, 'monitor');
    const { error } = await rejectionOf(throwing.checkWorkers(h.ctx(throwQueue), workers(root, 4)));
    const second = await rejectionOf(throwing.checkWorkers(h.ctx(throwQueue), workers(root, 4)));
    assert.ok(second.error instanceof RemoteMethodError, 'a second call fails the same way');
    assert.equal(executions(root), 2, 'the throwing plugin ran exactly once per call: two calls, two executions');
    errorTexts.set('throw', `${error.message}\n${error.stack ?? ''}\n${(error as RemoteMethodError).remoteStack ?? ''}`);
    assert.ok(error instanceof RemoteMethodError, `RemoteMethodError, got ${error.name}: ${error.message}`);
    assertNamesHostAndUser(error, 'hpc', testbed!.user.name);
    assert.match(error.remoteMessage, /ThrowingMonitor cannot check 4 workers/);
    assert.ok(error.message.includes(THROWN), `the message carries the thrown message: ${error.message}`);
    assert.ok(error.remoteStack?.includes('throwing_monitor.mjs'), `the remote stack names the plugin file: ${error.remoteStack}`);
    assert.match(error.message, /monitor\.checkWorkers/, 'the message names the method');
  });

  test('no secret (password, passphrase, bot secret) appears in the herder log, the bot logs or the errors', async () => {
    const texts = new Map<string, string>([...errorTexts, ...(await botLogs(bot))]);
    const herderLog = join(dir, 'herder-plugin.log');
    texts.set(herderLog, readFileSync(herderLog, 'utf8'));
    assertNoSecretIn(texts, { password: testbed!.password(), passphrase: testbed!.passphrase(), 'bot secret': botSecret(bot) });
  });
});
