// The bot is SIGKILLed while it runs a 1000-worker DummySubmitter.submitWorkers. The caller must get a
// typed error (never a result, never null), no worker may be submitted twice (not even after the herder
// retried the call with the same id), and with "launchBot": true the herder brings the bot back by itself.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  BotUnavailableError,
  DeadlineExceededError,
  MiddlewareError,
  OutcomeUnknownError,
} from '../../../src/middleware/errors.js';
import { pluginTarget } from '../../../src/middleware/rpc/call-payload.js';
import { submittedLogName } from '../../../src/plugins/builtin/status-file.js';
import { encodeValues, type WorkSpec } from '../../../src/spec/index.js';
import type { QueueConfig } from '../../../src/config/index.js';
import { remoteBot, type RemoteBot } from '../../support/remote-bot.js';
import {
  assertNamesHostAndUser,
  assertNoSecretIn,
  botLogs,
  botSecret,
  Herder,
  openBotSession,
  rejectionOf,
  remoteQueue,
  submissionCounts,
  submitRestExactlyOnce,
  suiteTestbed,
  waitForWorkingRoute,
  waitUntil,
  workers,
} from './support.js';

// The bot's user must be able to write the access points this process creates.
process.umask(0o000);

const { testbed, skip } = suiteTestbed();
const BATCH = 1000;
/** The bot is killed once this worker of the batch has been submitted. */
const KILL_AFTER = 100;

describe('the bot is SIGKILLed in the middle of a 1000-worker submitWorkers', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'hv-fault-crash-'));
  let bot: RemoteBot;
  const herders: Herder[] = [];
  const errorTexts = new Map<string, string>();
  const diagnostics: string[] = [];

  before(async () => {
    bot = await remoteBot(testbed!, 'fault-crash', 18900);
    await bot.stop().catch(() => undefined);
    await bot.cleanup();
    await bot.start();
  });

  after(async () => {
    await Promise.all(herders.map((h) => h.close()));
    await bot.stop();
    await bot.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  function herder(name: string): Herder {
    const h = new Herder(dir, name);
    herders.push(h);
    return h;
  }

  /** Starts the big call, SIGKILLs the bot once KILL_AFTER workers are on disk, returns the call's rejection. */
  async function killMidCall(h: Herder, queue: QueueConfig, batch: WorkSpec[]): Promise<{ error: Error; ms: number; killedPid: number }> {
    const submitter = await h.plugin(queue, 'submitter');
    const killedPid = await bot.pid();
    assert.ok(killedPid !== undefined, 'the bot runs');
    const markerLog = join(batch[KILL_AFTER - 1]!.accessPoint!, submittedLogName);
    const started = performance.now();
    const call = submitter.submitWorkers(h.ctx(queue), batch);
    // Polled tightly: the bot gets through the whole batch in about a second.
    assert.ok(await waitUntil(() => existsSync(markerLog), 20_000, 1), `the bot submitted ${KILL_AFTER} workers`);
    process.kill(killedPid, 'SIGKILL');
    const { error, ms } = await rejectionOf(call, started);
    diagnostics.push(`${error.name} after ${Math.round(ms)} ms: ${error.message.split('\n')[0]}`);
    errorTexts.set(`error of ${queue.queueName}`, `${error.message}\n${error.stack ?? ''}`);
    return { error, ms, killedPid };
  }

  /** Every worker submitted at most once, and the kill really cut the batch short. */
  async function assertCutShortWithoutDuplicates(batch: WorkSpec[]): Promise<Map<number, number>> {
    const counts = await submissionCounts(batch);
    const twice = [...counts].filter(([, n]) => n > 1);
    assert.deepEqual(twice, [], 'no worker was submitted twice');
    const done = [...counts.values()].filter((n) => n === 1).length;
    assert.ok(done > 0, 'some workers were submitted before the kill');
    assert.ok(done < batch.length, `the kill came in the middle of the batch (${done} of ${batch.length} submitted)`);
    diagnostics.push(`${done} of ${batch.length} workers submitted before the kill`);
    return counts;
  }

  test('without launchBot: the caller gets OutcomeUnknown (or DeadlineExceeded), may-have-run, within callTimeout, never a result, and no worker is submitted twice', async () => {
    const h = herder('herder-nolaunch');
    const callTimeout = 5;
    const queue = remoteQueue('fault_crash_nolaunch', bot.rpc({ callTimeout, numTunnels: 2 }));
    const submitter = await h.plugin(queue, 'submitter');
    const root = await bot.makeRoot('crash-nolaunch');
    const warmUp = await submitter.submitWorkers(h.ctx(queue), workers(root, 1));
    assert.equal(warmUp[0]?.kind, 'succeeded', 'the route works before the kill');

    const batch = workers(root, BATCH);
    const { error, ms } = await killMidCall(h, queue, batch);
    // The call reached the bot before the kill: whatever stops its retry (no bot to forward to, the deadline),
    // the caller must hear that it may have run, never that it did not.
    assert.ok(
      (error instanceof OutcomeUnknownError && (error.cause instanceof BotUnavailableError || error.cause instanceof DeadlineExceededError)) ||
        error instanceof DeadlineExceededError,
      `OutcomeUnknownError (cause BotUnavailable or DeadlineExceeded) or DeadlineExceededError, got ${error.name}: ${error.message}`,
    );
    assert.equal((error as MiddlewareError).callEffect, 'may-have-run');
    assertNamesHostAndUser(error, 'hpc', testbed!.user.name);
    // Ended by the route's own failure or the deadline, not left hanging (a generous bound: a hang guard only).
    assert.ok(ms < callTimeout * 1000 + 30_000, `the error came by callTimeout (${Math.round(ms)} ms)`);
    assert.ok(batch.every((w) => w.batchID === undefined || w.batchID === null), 'the caller\'s workers were not changed by a failed call');
    await assertCutShortWithoutDuplicates(batch);

    // The operator restarts the bot; a retry of the SAME call id is answered from its journal, not run again.
    await bot.start();
    const callId = (error as MiddlewareError).context.callId;
    assert.ok(callId !== undefined, 'the error carries the call id');
    const { session, link } = await openBotSession(queue.middlewares.rpc!, join(dir, 'known_hosts'));
    try {
      const section = queue.submitter!;
      const payload = { ...pluginTarget(queue, 'submitter', section), method: 'submitWorkers', args: encodeValues([batch]) };
      const retry = await rejectionOf(session.call(payload as never, { id: callId, deadlineMs: 10_000, method: 'submitter.submitWorkers' }));
      assert.ok(retry.error instanceof OutcomeUnknownError, `OutcomeUnknownError, got ${retry.error.name}: ${retry.error.message}`);
      assert.match(retry.error.message, new RegExp(callId));
    } finally {
      session.close();
      link.close();
    }
    await assertCutShortWithoutDuplicates(batch);

    // The herder's pool heals by itself once the bot is back (its slots retry with backoff, so allow for that):
    // calls work again without a restart of the herder.
    await waitForWorkingRoute(h, queue, 30_000);
    await submitRestExactlyOnce((ws) => submitter.submitWorkers(h.ctx(queue), ws), batch);
  });

  /**
   * A bot that comes back by itself (launched by the herder, or by the stdio relay of the retry) after a
   * SIGKILL mid-call: the retry (same id) finds the call "started" in the new bot's journal, so the caller
   * hears OutcomeUnknown; the next call submits the rest; each worker ends up submitted once.
   */
  async function killedBotComesBack(h: Herder, queue: QueueConfig, rootName: string, startedBy: string): Promise<void> {
    const submitter = await h.plugin(queue, 'submitter');
    const root = await bot.makeRoot(rootName);
    const warmUp = await submitter.submitWorkers(h.ctx(queue), workers(root, 1));
    assert.equal(warmUp[0]?.kind, 'succeeded', 'the route works before the kill');

    const batch = workers(root, BATCH);
    const { error, killedPid } = await killMidCall(h, queue, batch);
    assert.ok(error instanceof OutcomeUnknownError, `OutcomeUnknownError, got ${error.name}: ${error.message}`);
    assert.equal(error.callEffect, 'may-have-run');
    assertNamesHostAndUser(error, 'hpc', testbed!.user.name);
    const newPid = await bot.pid();
    assert.ok(newPid !== undefined && newPid !== killedPid, `a new bot runs, started by ${startedBy}`);
    await assertCutShortWithoutDuplicates(batch);
    // The next call works without any restart by hand.
    const rest = await submitRestExactlyOnce((ws) => submitter.submitWorkers(h.ctx(queue), ws), batch);
    assert.ok(rest.every((w) => typeof w.batchID === 'string'), 'the successful call updated the caller\'s workers');
  }

  test('with launchBot: the herder restarts the bot over SSH, the interrupted call is answered OutcomeUnknown, and the next call works', async () => {
    const h = herder('herder-launch');
    const queue = remoteQueue('fault_crash_launch', bot.rpc({ callTimeout: 20, numTunnels: 2, launchBot: true, remoteCommand: bot.remoteCommand }));
    await killedBotComesBack(h, queue, 'crash-launch', 'the herder');
    const launches = readFileSync(join(dir, 'herder-launch.log'), 'utf8').split('\n').filter((l) => l.includes('launching the bot on demand'));
    assert.ok(launches.length >= 1, 'the herder logged the on-demand launch');
  });

  test('over stdio (sshd without forwarding): the retry\'s relay starts a new bot, which answers the interrupted call OutcomeUnknown from its journal, and the next call works', async () => {
    // No launchBot: the relay is the bot's own command and starts it when none runs.
    const h = herder('herder-stdio');
    const queue = remoteQueue('fault_crash_stdio', bot.rpc({ callTimeout: 20, numTunnels: 2, transport: 'stdio', remotePort: testbed!.hosts.hpcstrict.port }));
    await killedBotComesBack(h, queue, 'crash-stdio', 'a relay');
  });

  test('no secret (password, passphrase, bot secret) appears in the herder logs, the bot logs or the errors', async (t) => {
    for (const line of diagnostics) t.diagnostic(line);
    const texts = new Map<string, string>([...errorTexts, ...(await botLogs(bot))]);
    for (const h of ['herder-nolaunch', 'herder-launch', 'herder-stdio']) {
      const file = join(dir, `${h}.log`);
      texts.set(file, readFileSync(file, 'utf8'));
    }
    assert.ok([...texts.values()].some((t) => t.includes('ssh tunnel up')), 'the herder logs were written');
    assert.ok([...texts.keys()].some((k) => k.endsWith('bot.log')), 'the bot log was read');
    assertNoSecretIn(texts, { password: testbed!.password(), passphrase: testbed!.passphrase(), 'bot secret': botSecret(bot) });
  });
});
