// The RPC herder's own behaviour, over the in-memory pair: bare functions stay local, optional methods fall
// back when the bot's plugin lacks them, remote errors arrive typed with the remote stack, and queues that
// share a route share one client.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { parseQueueConfig, type QueueConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/logging/index.js';
import { MethodNotFoundError, RemoteMethodError } from '../../src/middleware/errors.js';
import type { RemoteCallTiming } from '../../src/middleware/rpc/call-payload.js';
import { killWorkersOf, type PluginContext } from '../../src/plugins/contracts.js';
import { JobSpec, WorkSpec } from '../../src/spec/index.js';
import { startLocalBot, type LocalBot } from '../support/local-bot.js';

const pluginDir = await mkdtemp(join(tmpdir(), 'hv-herder-plugins-'));
await writeFile(
  join(pluginDir, 'plain-sweeper.mjs'),
  `export class PlainSweeper {
     constructor() { this.killed = []; }
     async killWorker(ctx, w) { w.diagMessage = 'killed one by one'; return { kind: 'succeeded', value: undefined, diag: '' }; }
     async sweepWorker(ctx, w) { return { kind: 'succeeded', value: undefined, diag: '' }; }
   }
   export class ThrowingMonitor {
     async checkWorkers(ctx, workSpecs) { throw new Error('monitor exploded on purpose'); }
   }
   export class SlowMonitor {
     async checkWorkers(ctx, workSpecs) {
       await new Promise((resolve) => setTimeout(resolve, 40));
       return { kind: 'succeeded', value: workSpecs.map(() => ({ status: 'running', diag: '' })), diag: '' };
     }
   }\n`,
);

describe('RPC herder', () => {
  let bot: LocalBot;
  let queues: Map<string, QueueConfig>;
  const ctx = (queue: QueueConfig): PluginContext => ({ queue, log: bot.log, signal: AbortSignal.timeout(10_000) });

  before(async () => {
    bot = await startLocalBot('in-memory', { pluginDirs: [pluginDir] });
    const rpc = { name: 'RpcHerder', module: 'pandaharvester.harvestermiddleware.rpc_herder', ...bot.rpc() };
    const text = JSON.stringify({
      staging: {
        rpc,
        stager: {
          name: 'DummyStager',
          module: 'pandaharvester.harvesterstager.dummy_stager',
          middleware: 'rpc',
          bareFunctions: ['trigger_stage_out'],
        },
        sweeper: { name: 'PlainSweeper', module: 'plain-sweeper.mjs', middleware: 'rpc' },
        monitor: { name: 'ThrowingMonitor', module: 'plain-sweeper.mjs', middleware: 'rpc' },
        submitter: { name: 'DummySubmitter', module: 'dummy_submitter', middleware: 'rpc' },
      },
      same_route: { rpc, submitter: { name: 'DummySubmitter', module: 'dummy_submitter', middleware: 'rpc' } },
      slow_monitor: { rpc, monitor: { name: 'SlowMonitor', module: 'plain-sweeper.mjs', middleware: 'rpc' } },
    });
    const load = parseQueueConfig(text, 'herder.test.json');
    assert.deepEqual(load.problems, []);
    queues = new Map(load.queues);
  });
  after(async () => {
    await bot.close();
    await rm(pluginDir, { recursive: true, force: true });
  });

  test('a method listed in bareFunctions runs locally and never crosses the wire', async () => {
    const queue = queues.get('staging')!;
    const stager = (await bot.factory.forQueue(queue, 'stager'))!;
    const before = bot.journal.recordCount;
    const outcome = await stager.triggerStageOut(ctx(queue), new JobSpec({ PandaID: 1 }));
    assert.equal(outcome.kind, 'succeeded');
    assert.equal(bot.journal.recordCount, before, 'no call reached the bot');
    await stager.checkStageOutStatus(ctx(queue), new JobSpec({ PandaID: 2 }));
    assert.equal(bot.journal.recordCount, before + 1, 'the other methods do');
  });

  test('killWorkers falls back to killWorker per worker when the remote sweeper lacks it', async () => {
    const queue = queues.get('staging')!;
    const sweeper = (await bot.factory.forQueue(queue, 'sweeper'))!;
    const workers = [new WorkSpec({ workerID: 1 }), new WorkSpec({ workerID: 2 })];
    const outcomes = await killWorkersOf(sweeper, ctx(queue), workers);
    assert.deepEqual(outcomes.map((o) => o.kind), ['succeeded', 'succeeded']);
    assert.deepEqual(workers.map((w) => w.diagMessage), ['killed one by one', 'killed one by one'], "the remote killWorker's changes came back");
  });

  test('a plugin that throws gives a RemoteMethodError carrying the remote message and stack', async () => {
    const queue = queues.get('staging')!;
    const monitor = (await bot.factory.forQueue(queue, 'monitor'))!;
    const error = await monitor.checkWorkers(ctx(queue), [new WorkSpec({ workerID: 3 })]).then(
      () => assert.fail('expected a RemoteMethodError'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof RemoteMethodError, `got ${String(error)}`);
    assert.match(error.message, /monitor exploded on purpose/);
    assert.match(error.remoteStack ?? '', /plain-sweeper\.mjs/);
  });

  test('every remote call is timed on both sides: the plugin, the bot and the herder each get their share', async () => {
    const queue = queues.get('slow_monitor')!;
    const monitor = (await bot.factory.forQueue(queue, 'monitor'))!;
    const client = bot.provider.clientFor(queue.middlewares['rpc']!);
    const timings: RemoteCallTiming[] = [];
    const lines: string[] = [];
    const log = createLogger({ level: 'debug', destination: new Writable({ write: (chunk: Buffer, _enc, done) => done(void lines.push(chunk.toString())) }) });
    const stop = client.onTiming((timing) => timings.push(timing));
    try {
      await monitor.checkWorkers({ queue, log, signal: AbortSignal.timeout(10_000) }, [new WorkSpec({ workerID: 1 }), new WorkSpec({ workerID: 2 })]);
    } finally {
      stop();
    }
    assert.equal(timings.length, 1);
    const [timing] = timings as [RemoteCallTiming];
    assert.equal(timing.queue, 'slow_monitor');
    assert.equal(timing.method, 'monitor.checkWorkers');
    assert.equal(timing.specs, 2);
    assert.ok(timing.bot !== undefined, 'the bot reports its times');
    assert.ok(timing.bot.pluginMs >= 35, `the plugin's 40 ms sleep is the plugin's time (${timing.bot.pluginMs} ms)`);
    const botTotal = timing.bot.decodeMs + timing.bot.pluginMs + timing.bot.encodeMs;
    assert.ok(timing.roundTripMs >= botTotal, `the round trip (${timing.roundTripMs} ms) holds the bot's time (${botTotal} ms)`);
    assert.ok(timing.herderEncodeMs >= 0 && timing.herderApplyMs >= 0);
    const logged = lines.map((l) => JSON.parse(l) as { msg: string; timing?: RemoteCallTiming }).find((l) => l.msg === 'remote call timing');
    assert.equal(logged?.timing?.method, 'monitor.checkWorkers', 'the timing is logged at debug');
  });

  test('a timing listener that throws does not fail the call it observes', async () => {
    const queue = queues.get('slow_monitor')!;
    const monitor = (await bot.factory.forQueue(queue, 'monitor'))!;
    const stop = bot.provider.clientFor(queue.middlewares['rpc']!).onTiming(() => {
      throw new Error('observer broke on purpose');
    });
    try {
      const outcome = await monitor.checkWorkers(ctx(queue), [new WorkSpec({ workerID: 3 })]);
      assert.equal(outcome.kind, 'succeeded');
    } finally {
      stop();
    }
  });

  test('a method outside the contract is not there at all', async () => {
    const queue = queues.get('staging')!;
    const submitter = (await bot.factory.forQueue(queue, 'submitter'))! as unknown as Record<string, unknown>;
    assert.equal(submitter.rmEverything, undefined);
    assert.equal(typeof submitter.submitWorkers, 'function');
  });

  test('queues on the same route share one client (and so one tunnel pool)', () => {
    const a = queues.get('staging')!.middlewares.rpc!;
    const b = queues.get('same_route')!.middlewares.rpc!;
    assert.equal(bot.provider.clientFor(a), bot.provider.clientFor(b));
  });

  test('a module path outside the bot plugin directories is refused by the bot', async () => {
    const text = JSON.stringify({
      evil: {
        rpc: { name: 'RpcHerder', module: 'rpc_herder', ...bot.rpc() },
        submitter: { name: 'Evil', module: '/etc/passwd.mjs', middleware: 'rpc' },
      },
    });
    const queue = parseQueueConfig(text, 'evil.json').queues.get('evil')!;
    const submitter = (await bot.factory.forQueue(queue, 'submitter'))!;
    await assert.rejects(submitter.submitWorkers(ctx(queue), []), (e: unknown) => e instanceof MethodNotFoundError && /refusing to load plugin module/.test(e.message));
  });

  test('a call whose section or queue text is malformed is refused as a malformed payload naming the part', async () => {
    const queue = queues.get('same_route')!;
    const client = bot.provider.clientFor(queue.middlewares.rpc!);
    const call = (section: string, queueText: string) =>
      client.call(
        { queueName: queue.queueName, kind: 'submitter', section, queue: queueText, method: 'submitWorkers', args: [[]] },
        { deadlineMs: 10_000, method: 'submitter.submitWorkers', queue: queue.queueName },
      );
    await assert.rejects(call('{"name":', '{}'), (e: unknown) => e instanceof RemoteMethodError && /malformed call payload: section: not JSON/.test(e.message));
    await assert.rejects(
      call('{"name":"DummySubmitter","module":"dummy_submitter","bareFunctions":[],"options":{}}', '[1]'),
      (e: unknown) => e instanceof RemoteMethodError && /malformed call payload: queue/.test(e.message),
    );
  });
});
