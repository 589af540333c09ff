import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseQueueConfig, type ConfigProblem } from '../../config/index.js';
import { SecretRegistry } from '../../logging/index.js';
import { PluginFactory, UnknownPluginError } from '../../plugins/index.js';
import { withTempDir } from '../../plugins/test-helpers.js';
import { exampleSlurmTemplate } from '../../../test/support/slurm-replay.js';
import { checkQueues } from './queues.js';

/** Our own queue configuration shaped like harvester's examples/panda_queueconfig_hpc.json. */
const hpcFixture = fileURLToPath(new URL('../../../../test/fixtures/queueconfig/panda_queueconfig_hpc.json', import.meta.url));

function load(text: string, file = hpcFixture) {
  return parseQueueConfig(text, file, { env: {}, secrets: new SecretRegistry(), harvesterID: 'test' });
}

function messages(problems: readonly ConfigProblem[], queue: string): Record<string, string[]> {
  const byPath: Record<string, string[]> = {};
  for (const p of problems.filter((p) => p.queue === queue)) (byPath[p.path] ??= []).push(p.message);
  return byPath;
}

describe("queues check on a configuration shaped like harvester's panda_queueconfig_hpc.json", () => {
  const text = readFileSync(hpcFixture, 'utf8').replace('@SLURM_TEMPLATE@', exampleSlurmTemplate);
  const loaded = load(text);
  const factory = new PluginFactory();
  const { problems } = checkQueues(loaded, factory);

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
      const { problems } = checkQueues(load(queue({ templateFile: template }), join(dir, 'q.json')), new PluginFactory());
      assert.deepEqual(messages(problems, 'Q')['submitter'], [`${template}:3: unknown placeholder {partitionName}; write {{ and }} for literal braces`]);
    });
  });

  test('a remote section whose template is not on this host is a warning: the bot checks it when it builds the plugin', async () => {
    await withTempDir(async (dir) => {
      const rpc = { rpc: { name: 'RpcHerder', module: 'pandaharvester.harvestermiddleware.rpc_herder', remoteHost: 'hpc', sshUserName: 'atlas' } };
      const text = queue({ templateFile: '/on/the/login/node/submit.sh', middleware: 'rpc' }, rpc);
      const { problems, warnings } = checkQueues(load(text, join(dir, 'q.json')), new PluginFactory());
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
      const byPath = messages(checkQueues(load(text, join(dir, 'q.json')), new PluginFactory()).problems, 'Q');
      assert.match(byPath['monitor']?.[0] ?? '', /option 'commandTimeout' must be positive seconds/);
      assert.match(byPath['sweeper']?.[0] ?? '', /option 'slurmConf' must be a string/);
    });
  });
});
