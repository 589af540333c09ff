import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseQueueConfig, type ConfigProblem } from '../../config/index.js';
import { SecretRegistry } from '../../logging/index.js';
import { PluginFactory, UnknownPluginError } from '../../plugins/index.js';
import { withTempDir } from '../../../test/support/plugins/plugin-fixtures.js';
import { exampleSlurmTemplate } from '../../../test/support/slurm-replay.js';
import { checkQueues } from './queues.js';

/** Our own queue configuration shaped like harvester's examples/panda_queueconfig_hpc.json. */
const hpcFixture = fileURLToPath(new URL('../../../../test/fixtures/queueconfig/panda_queueconfig_hpc.json', import.meta.url));

function load(text: string, file = hpcFixture) {
  return parseQueueConfig(text, file, { env: {}, secrets: new SecretRegistry(), harvesterID: 'test' });
}

/** The core's home, as `queues check` is given it. */
const coreHome = '/home/core/.harvester';

function messages(problems: readonly ConfigProblem[], queue: string): Record<string, string[]> {
  const byPath: Record<string, string[]> = {};
  for (const p of problems.filter((p) => p.queue === queue)) (byPath[p.path] ??= []).push(p.message);
  return byPath;
}

describe("queues check on a configuration shaped like harvester's panda_queueconfig_hpc.json", () => {
  const text = readFileSync(hpcFixture, 'utf8').replace('@SLURM_TEMPLATE@', exampleSlurmTemplate);
  const loaded = load(text);
  const factory = new PluginFactory();
  const { problems } = checkQueues(loaded, factory, { home: coreHome });

  test('resolves the SLURM plugins by their harvester module paths', () => {
    const queue = loaded.queues.get('HPC_SLURM_RUCIO')!;
    for (const kind of ['submitter', 'monitor'] as const) {
      const resolution = factory.resolve({ queueName: queue.queueName, kind, section: queue[kind]! });
      assert.equal(resolution.source, 'builtin');
      assert.equal(resolution.source === 'builtin' && resolution.info.className, kind === 'submitter' ? 'SlurmSubmitter' : 'SlurmMonitor');
    }
    const rucio = messages(problems, 'HPC_SLURM_RUCIO');
    assert.equal(rucio['submitter'], undefined);
    assert.equal(rucio['monitor'], undefined);
  });

  test('reports the Rucio, FTS and Globus plugins as unknown: nothing is stubbed', () => {
    const rucio = messages(problems, 'HPC_SLURM_RUCIO');
    const fts = messages(problems, 'HPC_SLURM_FTS');
    assert.match(rucio['preparator']?.[0] ?? '', /unknown plugin class 'RseDirectPreparator'/);
    assert.match(rucio['stager']?.[0] ?? '', /unknown plugin class 'RucioStager'/);
    assert.match(fts['preparator']?.[0] ?? '', /unknown plugin class 'GoPreparator'/);
    assert.match(fts['stager']?.[0] ?? '', /unknown plugin class 'FtsStager'/);
    for (const [queueName, kind] of [['HPC_SLURM_RUCIO', 'stager'], ['HPC_SLURM_FTS', 'preparator']] as const) {
      const section = loaded.queues.get(queueName)![kind]!;
      assert.throws(() => factory.resolve({ queueName, kind, section }), UnknownPluginError);
    }
  });

  test('a SlurmSubmitter without templateFile (as in harvester\'s CERN example) is a problem, found before any submission', () => {
    assert.match(messages(problems, 'HPC_SLURM_FTS')['submitter']?.[0] ?? '', /option 'templateFile' is required/);
  });
});

describe('queues check and batch script templates', () => {
  const queue = (submitter: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ Q: { submitter: { name: 'SlurmSubmitter', module: 'pandaharvester.harvestersubmitter.slurm_submitter', ...submitter }, ...extra } });

  test('an unknown placeholder is a problem of the submitter section naming the template file and line', async () => {
    await withTempDir(async (dir) => {
      const template = join(dir, 'submit.sh');
      await writeFile(template, '#!/bin/bash\n#SBATCH -N {nNode}\n#SBATCH -p {partitionName}\n');
      const { problems } = checkQueues(load(queue({ templateFile: template }), join(dir, 'q.json')), new PluginFactory(), { home: coreHome });
      assert.deepEqual(messages(problems, 'Q')['submitter'], [`${template}:3: unknown placeholder {partitionName}; write {{ and }} for literal braces`]);
    });
  });

  test('a remote section whose template is not on this host is a warning: the bot checks it when it builds the plugin', async () => {
    await withTempDir(async (dir) => {
      const rpc = { rpc: { name: 'RpcHerder', module: 'pandaharvester.harvestermiddleware.rpc_herder', remoteHost: 'hpc', sshUserName: 'atlas' } };
      const text = queue({ templateFile: '/on/the/login/node/submit.sh', middleware: 'rpc' }, rpc);
      const { problems, warnings } = checkQueues(load(text, join(dir, 'q.json')), new PluginFactory(), { home: coreHome });
      assert.equal(messages(problems, 'Q')['submitter'], undefined);
      assert.match(messages(warnings, 'Q')['submitter']?.[0] ?? '', /cannot read template file \/on\/the\/login\/node\/submit\.sh: no such file: this section runs on the remote host/);
    });
  });

  test('bad options of the SLURM monitor and sweeper are problems too', async () => {
    await withTempDir(async (dir) => {
      const text = JSON.stringify({
        Q: {
          monitor: { name: 'SlurmBulkMonitor', module: 'pandaharvester.harvestermonitor.slurm_bulk_monitor', commandTimeout: 0 },
          sweeper: { name: 'SlurmSweeper', module: 'pandaharvester.harvestersweeper.slurm_sweeper', slurmConf: 7 },
        },
      });
      const byPath = messages(checkQueues(load(text, join(dir, 'q.json')), new PluginFactory(), { home: coreHome }).problems, 'Q');
      assert.match(byPath['monitor']?.[0] ?? '', /option 'commandTimeout' must be positive seconds/);
      assert.match(byPath['sweeper']?.[0] ?? '', /option 'slurmConf' must be a string/);
    });
  });
});

describe('queues check and access points', () => {
  const rpc = { name: 'RpcHerder', module: 'pandaharvester.harvestermiddleware.rpc_herder', remoteHost: 'cori04', sshUserName: 'atlas' };
  const messenger = (extra: Record<string, unknown> = {}) => ({ name: 'SharedFileMessenger', module: 'pandaharvester.harvestermessenger.shared_file_messenger', ...extra });
  const submitter = (extra: Record<string, unknown> = {}) => ({ name: 'DummySubmitter', module: 'pandaharvester.harvestersubmitter.dummy_submitter', ...extra });
  const monitor = (extra: Record<string, unknown> = {}) => ({ name: 'DummyMonitor', module: 'pandaharvester.harvestermonitor.dummy_monitor', ...extra });
  /** The warnings queues check adds to the loader's (a minimal queue has some of those: missing sections, maxWorkers). */
  const warningsOf = (queue: Record<string, unknown>) => {
    const loaded = load(JSON.stringify({ Q: queue }), '/etc/q.json');
    return checkQueues(loaded, new PluginFactory(), { home: coreHome }).warnings.filter((w) => !loaded.warnings.includes(w));
  };

  test('a local messenger and a remote submitter with a relative access point: a warning naming both sections and directories', () => {
    const warnings = warningsOf({ messenger: messenger(), submitter: submitter({ middleware: 'rpc' }), rpc });
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.queue, 'Q');
    assert.equal(warnings[0]!.path, 'submitter');
    const text = warnings[0]!.message;
    assert.match(text, /relative access point 'workdir\/\$\{workerID\}' \(the default\) is not one directory for this queue/);
    assert.match(text, /the messenger runs here and uses \/home\/core\/\.harvester\/workdir\/\$\{workerID\}/);
    assert.match(text, /the submitter runs in the bot on atlas@cori04 and uses \/home\/core\/\.harvester\/workdir\/\$\{workerID\} on atlas@cori04 \(a path of the core's home\)/);
  });

  test('a remote owner and a local monitor: the monitor gets the path relative, the bot resolves it under its home', () => {
    const warnings = warningsOf({ submitter: submitter({ middleware: 'rpc', accessPoint: 'aps/${workerID}' }), monitor: monitor(), rpc });
    assert.deepEqual(warnings.map((w) => [w.queue, w.path]), [['Q', 'monitor']]);
    assert.match(warnings[0]!.message, /the submitter runs in the bot on atlas@cori04 and uses ~\/\.harvester\/aps\/\$\{workerID\} on atlas@cori04 \(the bot's home\)/);
    assert.match(warnings[0]!.message, /the monitor runs here and uses aps\/\$\{workerID\} \(relative to the core's working directory\)/);
  });

  test("a remote section's bare functions run here: a warning for them", () => {
    const warnings = warningsOf({ submitter: submitter({ middleware: 'rpc' }), monitor: monitor({ middleware: 'rpc', bareFunctions: ['check_workers'] }), rpc });
    assert.deepEqual(warnings.map((w) => w.path), ['monitor']);
    assert.match(warnings[0]!.message, /the monitor \(bare functions checkWorkers\) runs here/);
  });

  test('an absolute accessPoint in the messenger and a relative one in the submitter: the unused one is a warning', () => {
    const warnings = warningsOf({ messenger: messenger({ accessPoint: '/scratch/${workerID}' }), submitter: submitter({ middleware: 'rpc', accessPoint: 'workdir/${workerID}' }), rpc });
    assert.deepEqual(warnings.map((w) => [w.queue, w.path]), [['Q', 'submitter.accessPoint']]);
    assert.match(warnings[0]!.message, /'workdir\/\$\{workerID\}' is not used: workers get messenger\.accessPoint '\/scratch\/\$\{workerID\}'/);
  });

  test('no warning when the sections agree: all local, all in one bot, or an absolute access point on both sides', () => {
    assert.deepEqual(warningsOf({ messenger: messenger(), submitter: submitter(), monitor: monitor() }), []);
    assert.deepEqual(warningsOf({ messenger: messenger({ middleware: 'rpc' }), submitter: submitter({ middleware: 'rpc' }), monitor: monitor({ middleware: 'rpc' }), rpc }), []);
    assert.deepEqual(warningsOf({ messenger: messenger({ accessPoint: '/scratch/${workerID}' }), submitter: submitter({ middleware: 'rpc', accessPoint: '/scratch/${workerID}' }), rpc }), []);
  });
});
