import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { exampleSlurmTemplate } from '../../test/support/slurm-replay.js';
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { MiddlewareConfig, QueueConfig } from '../config/index.js';
import { parseQueueConfig } from '../config/index.js';
import type { ContractsByKind, PluginKind, Submitter, Throttler } from './contracts.js';
import { pluginKinds } from './contracts.js';
import {
  MiddlewareUnavailableError,
  PluginContractError,
  PluginLoadError,
  UnknownPluginError,
} from './errors.js';
import { PluginFactory, type MiddlewareProvider, type MiddlewareWrapArgs } from './factory.js';
import { builtinPlugins } from './registry.js';
import { DummySubmitter } from './builtin/dummy-submitter.js';
import { DummySingletonSubmitter } from './builtin/dummy-singleton-submitter.js';
import { missingContractMethods } from './user-plugins.js';
import { section, testQueue, withTempDir } from '../../test/support/plugins/plugin-fixtures.js';

const request = (kind: PluginKind, name: string, module: string, options: Record<string, unknown> = {}) => ({
  queueName: 'Q1',
  kind,
  section: section(name, module, options),
});

describe('PluginFactory.resolve', () => {
  const factory = new PluginFactory();

  test('finds a built-in by harvester module path and class name', () => {
    const r = factory.resolve(request('submitter', 'DummySubmitter', 'pandaharvester.harvestersubmitter.dummy_submitter'));
    assert.equal(r.source, 'builtin');
    assert.equal(r.source === 'builtin' && r.info.className, 'DummySubmitter');
    assert.deepEqual(r.warnings, []);
  });

  test('finds a built-in by our short module name and class name', () => {
    const r = factory.resolve(request('messenger', 'SharedFileMessenger', 'shared_file_messenger'));
    assert.equal(r.source === 'builtin' && r.info.harvesterModule, 'pandaharvester.harvestermessenger.shared_file_messenger');
  });

  test('finds a built-in by class name alone when no module is given', () => {
    const r = factory.resolve(request('monitor', 'DummyMonitor', ''));
    assert.equal(r.source === 'builtin' && r.info.shortModule, 'dummy_monitor');
  });

  test("resolves the wiki seed's class from a sibling module with a warning naming the right module", () => {
    const r = factory.resolve(request('submitter', 'DummySingletonSubmitter', 'pandaharvester.harvestersubmitter.dummy_submitter'));
    assert.equal(r.source === 'builtin' && r.info.className, 'DummySingletonSubmitter');
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]!, /pandaharvester\.harvestersubmitter\.dummy_singleton_submitter/);
    assert.match(r.warnings[0]!, /Q1/);
  });

  test('a sibling given by short module name is pointed at the short name of the right module', () => {
    const r = factory.resolve(request('submitter', 'DummySingletonSubmitter', 'dummy_submitter'));
    assert.match(r.warnings[0]!, /'dummy_singleton_submitter'/);
  });

  test('an unknown class is an UnknownPluginError naming queue, section, module, class and the closest names', () => {
    const asked = request('submitter', 'DummySubmiter', 'pandaharvester.harvestersubmitter.dummy_submitter');
    assert.throws(
      () => factory.resolve(asked),
      (error: unknown) => {
        assert.ok(error instanceof UnknownPluginError);
        assert.equal(error.request.queueName, 'Q1');
        assert.equal(error.request.kind, 'submitter');
        assert.equal(error.request.module, 'pandaharvester.harvestersubmitter.dummy_submitter');
        assert.equal(error.request.className, 'DummySubmiter');
        assert.ok(error.suggestions.includes('pandaharvester.harvestersubmitter.dummy_submitter.DummySubmitter'), String(error.suggestions));
        assert.match(error.message, /Q1.*submitter.*DummySubmiter.*did you mean/);
        return true;
      },
    );
  });

  test('a known class in a misspelt module is suggested with its right module first', () => {
    assert.throws(
      () => factory.resolve(request('monitor', 'DummyMonitor', 'pandaharvester.harvestermonitor.dumy_monitor')),
      (error: unknown) =>
        error instanceof UnknownPluginError && error.suggestions[0] === 'pandaharvester.harvestermonitor.dummy_monitor.DummyMonitor',
    );
  });

  test('a class of another kind is refused and named as such', () => {
    assert.throws(
      () => factory.resolve(request('submitter', 'DummyMonitor', 'pandaharvester.harvestermonitor.dummy_monitor')),
      (error: unknown) => error instanceof UnknownPluginError && /a monitor plugin/.test(error.message),
    );
  });

  test('a plugin nothing resembles gets no suggestions', () => {
    assert.throws(
      () => factory.resolve(request('stager', 'XrootdGlobusRucioStager', 'pandaharvester.harvesterstager.xyz')),
      (error: unknown) => error instanceof UnknownPluginError && error.suggestions.length === 0 && !/did you mean/.test(error.message),
    );
  });

  test('check() reports the same problems as text, for queues check', () => {
    const ok = factory.check(request('submitter', 'DummySingletonSubmitter', 'pandaharvester.harvestersubmitter.dummy_submitter'));
    assert.deepEqual(ok.problems, []);
    assert.equal(ok.warnings.length, 1);
    const bad = factory.check(request('sweeper', 'NoSuchSweeper', 'dummy_sweeper'));
    assert.equal(bad.problems.length, 1);
    assert.match(bad.problems[0]!, /NoSuchSweeper/);
  });
});

describe('built-in registry', () => {
  test('every built-in answers to a harvester module path and a short name, and honours its contract', () => {
    const classNames = new Set<string>();
    for (const info of builtinPlugins()) {
      // harvester's own module path, or ours for plugins harvester has no equivalent of (local processes).
      assert.match(info.harvesterModule, /^(pandaharvester\.harvester\w+|harvester_ts)\.\w+$/);
      assert.ok(info.harvesterModule.endsWith(`.${info.shortModule}`), info.harvesterModule);
      assert.ok(info.description.length > 0);
      // The SLURM submitter cannot be built without its template.
      const options = info.className === 'SlurmSubmitter' ? { templateFile: exampleSlurmTemplate } : {};
      const instance = new info.pluginClass({ queueName: 'REGISTRY', ...options });
      assert.deepEqual(missingContractMethods(info.kind, instance).missing, [], info.className);
      classNames.add(info.className);
    }
    for (const kind of pluginKinds) assert.ok(builtinPlugins().some((p) => p.kind === kind), `a built-in ${kind}`);
    assert.equal(classNames.size, builtinPlugins().length);
  });
});

describe('PluginFactory.create', () => {
  test('builds a built-in with the section options and the queue name', async () => {
    const factory = new PluginFactory();
    const submitter = await factory.create(request('submitter', 'DummySubmitter', 'dummy_submitter', { computingElement: 'ce.example' }));
    assert.ok(submitter instanceof DummySubmitter);
    const singletonA = await factory.create(request('submitter', 'DummySingletonSubmitter', 'dummy_singleton_submitter'));
    const singletonB = await factory.create(request('submitter', 'DummySingletonSubmitter', 'dummy_singleton_submitter'));
    assert.ok(singletonA instanceof DummySingletonSubmitter && singletonB instanceof DummySingletonSubmitter);
    assert.notEqual(singletonA, singletonB);
    assert.ok(singletonA.sharesInstanceWith(singletonB), 'one DummySubmitter per queue');
    const other = await factory.create({ ...request('submitter', 'DummySingletonSubmitter', 'dummy_singleton_submitter'), queueName: 'Q2' });
    assert.ok(other instanceof DummySingletonSubmitter && !other.sharesInstanceWith(singletonA));
  });

  test('loads a user plugin from an absolute .mjs path, passing options to its constructor', async () => {
    await withTempDir(async (dir) => {
      const file = join(dir, 'my_submitter.mjs');
      await writeFile(
        file,
        `export class MySubmitter {
           constructor(options) { this.options = options; }
           async submitWorkers(ctx, workSpecs) { return workSpecs.map(() => ({ kind: 'succeeded', value: undefined, diag: this.options.greeting })); }
         }`,
      );
      const plugin = (await new PluginFactory().create(request('submitter', 'MySubmitter', file, { greeting: 'hello' }))) as Submitter & {
        options: Record<string, unknown>;
      };
      assert.deepEqual(plugin.options, { greeting: 'hello', queueName: 'Q1' });
    });
  });

  test('loads a user plugin by relative path from the plugin directories, default export accepted', async () => {
    await withTempDir(async (dir) => {
      const first = join(dir, 'first');
      const second = join(dir, 'second');
      await mkdir(first);
      await mkdir(second);
      await writeFile(join(second, 'throttle.mjs'), `export default class { async toBeThrottled() { return { kind: 'succeeded', value: true, diag: 'always' }; } }`);
      const factory = new PluginFactory({ pluginDirs: [first, second] });
      const r = factory.resolve(request('throttler', 'AlwaysThrottle', 'throttle.mjs'));
      assert.equal(r.source === 'file' && r.file, join(second, 'throttle.mjs'));
      const throttler = (await factory.create(request('throttler', 'AlwaysThrottle', 'throttle.mjs'))) as Throttler;
      const verdict = await throttler.toBeThrottled(undefined as never);
      assert.deepEqual(verdict, { kind: 'succeeded', value: true, diag: 'always' });
    });
  });

  test('a missing user file is a PluginLoadError naming the file and where it was looked for', async () => {
    await withTempDir(async (dir) => {
      const factory = new PluginFactory({ pluginDirs: [dir] });
      await assert.rejects(
        factory.create(request('monitor', 'MyMonitor', 'nowhere/my_monitor.mjs')),
        (error: unknown) =>
          error instanceof PluginLoadError && error.message.includes('nowhere/my_monitor.mjs') && error.message.includes(join(dir, 'nowhere')),
      );
    });
  });

  test('a user file that does not parse is a PluginLoadError with the cause', async () => {
    await withTempDir(async (dir) => {
      const file = join(dir, 'broken.mjs');
      await writeFile(file, 'export class Broken {');
      await assert.rejects(
        new PluginFactory().create(request('monitor', 'Broken', file)),
        (error: unknown) => error instanceof PluginLoadError && error.file === file && error.cause instanceof SyntaxError,
      );
    });
  });

  test('a user file without the class is a PluginContractError naming the class and what the file exports', async () => {
    await withTempDir(async (dir) => {
      const file = join(dir, 'other.mjs');
      await writeFile(file, 'export class SomethingElse {}');
      await assert.rejects(
        new PluginFactory().create(request('monitor', 'MyMonitor', file)),
        (error: unknown) =>
          error instanceof PluginContractError &&
          error.missing.includes('MyMonitor') &&
          error.message.includes(file) &&
          error.message.includes('SomethingElse'),
      );
    });
  });

  test("a user class lacking the contract's methods is a PluginContractError listing them, hinting at snake_case", async () => {
    await withTempDir(async (dir) => {
      const file = join(dir, 'sweeper.mjs');
      await writeFile(file, 'export class MySweeper { async kill_worker() {} async sweepWorker() {} }');
      await assert.rejects(
        new PluginFactory().create(request('sweeper', 'MySweeper', file)),
        (error: unknown) =>
          error instanceof PluginContractError &&
          error.missing.join() === 'killWorker' &&
          /kill_worker exists: name it killWorker/.test(error.message) &&
          error.message.includes('MySweeper'),
      );
    });
  });
});

/** A provider standing in for the RPC herder: records its calls and returns a marked wrapper. */
class FakeProvider implements MiddlewareProvider {
  readonly calls: MiddlewareWrapArgs<PluginKind>[] = [];
  matches(mw: Pick<MiddlewareConfig, 'name' | 'module'>): boolean {
    return mw.name === 'RpcHerder' || mw.module.endsWith('rpc_herder');
  }
  async wrap<K extends PluginKind>(args: MiddlewareWrapArgs<K>): Promise<ContractsByKind[K]> {
    this.calls.push(args as unknown as MiddlewareWrapArgs<PluginKind>);
    return { wrappedBy: 'fake', bare: await args.bare() } as unknown as ContractsByKind[K];
  }
}

const wikiSeed = {
  CORI_TEST: {
    prodSourceLabel: 'managed',
    rpc: {
      name: 'RpcHerder',
      module: 'pandaharvester.harvestermiddleware.rpc_herder',
      remoteHost: 'cori04',
      remoteBindPort: 18861,
      numTunnels: 3,
      sshUserName: 'your_username',
      sshPassword: 'not-a-real-password-for-tests',
      jumpHost: 'cori.nersc.gov',
    },
    submitter: { name: 'DummySingletonSubmitter', module: 'pandaharvester.harvestersubmitter.dummy_submitter', middleware: 'rpc' },
    messenger: { name: 'SharedFileMessenger', module: 'pandaharvester.harvestermessenger.shared_file_messenger', middleware: 'rpc' },
    monitor: { name: 'DummyMonitor', module: 'pandaharvester.harvestermonitor.dummy_monitor' },
    stager: {
      name: 'DummyStager',
      module: 'pandaharvester.harvesterstager.dummy_stager',
      bareFunctions: ['trigger_stage_out', 'check_stage_out_status'],
      middleware: 'rpc',
    },
  },
};

function seedQueue(): QueueConfig {
  const load = parseQueueConfig(JSON.stringify(wikiSeed), '/nonexistent/panda_queueconfig.json', { env: {} });
  assert.deepEqual(load.problems, []);
  const queue = load.queues.get('CORI_TEST');
  assert.ok(queue);
  return queue;
}

describe('PluginFactory.forQueue', () => {
  test('is undefined for a kind the queue has no section for', async () => {
    assert.equal(await new PluginFactory().forQueue(seedQueue(), 'sweeper'), undefined);
  });

  test('builds the bare plugin for a section without middleware, once per (queue, kind)', async () => {
    const factory = new PluginFactory();
    const queue = seedQueue();
    const first = await factory.forQueue(queue, 'monitor');
    const second = await factory.forQueue(queue, 'monitor');
    assert.ok(first !== undefined && first === second);
    factory.forget('CORI_TEST');
    assert.notEqual(await factory.forQueue(queue, 'monitor'), first);
  });

  test("hands a middleware section to the provider that serves the queue's element, with a bare builder", async () => {
    const factory = new PluginFactory();
    const provider = new FakeProvider();
    factory.registerMiddleware(provider);
    const queue = seedQueue();
    const stager = (await factory.forQueue(queue, 'stager')) as unknown as { wrappedBy: string; bare: unknown };
    assert.equal(stager.wrappedBy, 'fake');
    assert.equal(provider.calls.length, 1);
    const call = provider.calls[0]!;
    assert.equal(call.kind, 'stager');
    assert.equal(call.queue, queue);
    assert.equal(call.middleware.key, 'rpc');
    assert.deepEqual(call.section.bareFunctions, ['triggerStageOut', 'checkStageOutStatus']);
    assert.equal(stager.bare, await call.bare(), 'the bare plugin is built once');
    assert.equal(await factory.forQueue(queue, 'stager'), stager, 'cached');
    assert.equal(provider.calls.length, 1);
  });

  test('a middleware section without a registered provider is an error naming queue, section and element', async () => {
    const factory = new PluginFactory();
    await assert.rejects(
      factory.forQueue(seedQueue(), 'submitter'),
      (error: unknown) =>
        error instanceof MiddlewareUnavailableError &&
        error.queueName === 'CORI_TEST' &&
        error.kind === 'submitter' &&
        error.middleware === 'rpc' &&
        /RpcHerder/.test(error.message),
    );
    // A failed build is not cached: registering the provider afterwards makes the same call work.
    factory.registerMiddleware(new FakeProvider());
    assert.ok(await factory.forQueue(seedQueue(), 'submitter'));
  });

  test('a section naming an element the queue does not define is an error listing the defined ones', async () => {
    const factory = new PluginFactory();
    factory.registerMiddleware(new FakeProvider());
    const queue = testQueue({ monitor: section('DummyMonitor', 'dummy_monitor', {}, 'rpc2') });
    await assert.rejects(factory.forQueue(queue, 'monitor'), (error: unknown) => error instanceof MiddlewareUnavailableError && /defined: none/.test(error.message));
  });

  test("resolve and checkMiddleware know the middleware element's own name through the providers", () => {
    const factory = new PluginFactory();
    const queue = seedQueue();
    const rpc = queue.middlewares.rpc!;
    assert.match(factory.checkMiddleware(rpc) ?? '', /no provider/);
    assert.throws(() => factory.resolve(request('submitter', 'RpcHerder', 'pandaharvester.harvestermiddleware.rpc_herder')), UnknownPluginError);
    factory.registerMiddleware(new FakeProvider());
    assert.equal(factory.checkMiddleware(rpc), undefined);
    const r = factory.resolve(request('submitter', 'RpcHerder', 'pandaharvester.harvestermiddleware.rpc_herder'));
    assert.equal(r.source, 'middleware');
  });
});
