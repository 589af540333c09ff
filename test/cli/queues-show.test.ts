// `harvester queues show NAME`: the resolved queue, where each plugin section runs and through which route.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fixturePath, outputLines, runCli, TempDirs } from './support.js';

const dirs = new TempDirs();
after(() => dirs.cleanup());

/** The wiki's route for the seed queue: user@remoteHost via jumpHost, numTunnels, remoteBindPort. */
const seedRoute = 'your_username@cori04 via cori.nersc.gov, 3 tunnels, port 18861';

interface ShownPlugin {
  kind: string;
  name: string;
  module: string;
  runs: 'local' | 'remote';
  route?: string;
  bareFunctions: string[];
}
interface ShownQueue {
  queue: Record<string, unknown> & {
    queueName: string;
    submitter?: { name: string; options: Record<string, unknown> };
    middlewares: Record<string, Record<string, unknown>>;
  };
  plugins: ShownPlugin[];
}

describe('queues show on the wiki seed queue', () => {
  test('shows the route and which sections are remote, with bare functions, and masks the password', async () => {
    const result = await runCli(['queues', 'show', 'NERSC_Cori_rpc'], { home: dirs.make('show') });
    assert.equal(result.status, 0, result.stderr);
    const pluginLine = (kind: string): string => {
      const line = outputLines(result.stdout).find((l) => l.trimStart().startsWith(`${kind} `));
      assert.ok(line !== undefined, `no ${kind} line in:\n${result.stdout}`);
      return line;
    };
    for (const kind of ['submitter', 'messenger', 'stager']) assert.ok(pluginLine(kind).endsWith(`-> remote: ${seedRoute}`), pluginLine(kind));
    assert.match(pluginLine('submitter'), /DummySingletonSubmitter/);
    const bare = outputLines(result.stdout).find((l) => l.includes('bare (local) functions:'));
    assert.ok(bare !== undefined, result.stdout);
    assert.match(bare, /triggerStageOut, checkStageOutStatus/);
    assert.ok(!result.stdout.includes('your_password'), 'the seed password is printed');
    assert.match(result.stdout, /"sshPassword": "\*\*\*/);
  });

  test('--json parses and has the same route, placements and bare functions', async () => {
    const result = await runCli(['queues', 'show', 'NERSC_Cori_rpc', '--json'], { home: dirs.make('show-json') });
    assert.equal(result.status, 0, result.stderr);
    const shown = JSON.parse(result.stdout) as ShownQueue;
    assert.equal(shown.queue.queueName, 'NERSC_Cori_rpc');
    const byKind = new Map(shown.plugins.map((p) => [p.kind, p]));
    assert.deepEqual([...byKind.keys()].sort(), ['messenger', 'stager', 'submitter']);
    for (const plugin of shown.plugins) {
      assert.equal(plugin.runs, 'remote', plugin.kind);
      assert.equal(plugin.route, seedRoute, plugin.kind);
    }
    assert.deepEqual(byKind.get('stager')!.bareFunctions, ['triggerStageOut', 'checkStageOutStatus']);
    assert.deepEqual(byKind.get('submitter')!.bareFunctions, []);
    const rpc = shown.queue.middlewares.rpc!;
    assert.equal(rpc.remoteHost, 'cori04');
    assert.equal(rpc.jumpHost, 'cori.nersc.gov');
    assert.equal(rpc.numTunnels, 3);
    assert.equal(rpc.remoteBindPort, 18861);
    assert.ok(!result.stdout.includes('your_password'), 'the seed password is printed');
  });

  test('the local queue of the example shows every section running locally', async () => {
    const result = await runCli(['queues', 'show', 'local', '--json'], { home: dirs.make('show-local') });
    assert.equal(result.status, 0, result.stderr);
    const shown = JSON.parse(result.stdout) as ShownQueue;
    assert.ok(shown.plugins.length >= 5, result.stdout);
    for (const plugin of shown.plugins) {
      assert.equal(plugin.runs, 'local', plugin.kind);
      assert.equal(plugin.route, undefined, plugin.kind);
    }
  });
});

describe('queues show with templates', () => {
  test('a queue using templateQueueName shows the template merged with its own keys', async () => {
    const file = fixturePath('templates.json');
    const result = await runCli(['queues', 'show', 'fromTemplate', '--json', '--queue-config', file], { home: dirs.make('templates') });
    assert.equal(result.status, 0, result.stderr);
    const { queue } = JSON.parse(result.stdout) as ShownQueue;
    // Scalars come from the template unless the queue sets them.
    assert.equal(queue.maxWorkers, 7);
    assert.equal(queue.nQueueLimitWorker, 3);
    assert.equal(queue.queueStatus, 'offline');
    // Plugin sections merge key by key: the template's class and option, the queue's own option.
    assert.equal(queue.submitter?.name, 'DummySubmitter');
    assert.deepEqual(queue.submitter?.options, {
      computingElement: 'CE_from_template',
      logBaseURL: 'http://logs.example.org/fromTemplate',
    });
    assert.ok('monitor' in queue, 'the template-only monitor section is missing');
  });
});

describe('commands naming a queue that does not exist', () => {
  for (const args of [
    ['queues', 'show', 'NoSuchQueue'],
    ['plugins', 'try', '--queue', 'NoSuchQueue'],
    ['tunnel-test', '--queue', 'NoSuchQueue'],
  ]) {
    test(`${args.slice(0, 2).join(' ')} exits 2 with one line listing the queues there are`, async () => {
      const result = await runCli(args, { home: dirs.make('unknown-queue') });
      assert.equal(result.status, 2, result.stderr);
      const lines = outputLines(result.stderr);
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0]!, /'NoSuchQueue'/);
      assert.match(lines[0]!, /queues: local, dummy, NERSC_Cori_rpc/);
      assert.equal(result.stdout, '');
    });
  }
});
