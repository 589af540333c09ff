// The master configuration: --home / HARVESTER_HOME choose the home, a harvester.json there can point to
// another queue configuration, and a bad --log-level is bad usage.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { dummyLocalQueue, outputLines, runCli, TempDirs, writeJson } from './support.js';

const dirs = new TempDirs();
after(() => dirs.cleanup());

/** The summary line of `queues check`: "<file>: N queue(s) OK (names)...". */
function checkedSummary(stdout: string): string {
  const line = outputLines(stdout).find((l) => /: \d+ queue\(s\) OK/.test(l));
  assert.ok(line !== undefined, stdout);
  return line;
}

describe('choosing the home', { concurrency: true }, () => {
  // Two homes, each with its own queue configuration under harvester's file name.
  const envHome = dirs.make('env-home');
  const flagHome = dirs.make('flag-home');
  writeJson(join(envHome, 'panda_queueconfig.json'), { queueOfEnvHome: dummyLocalQueue() });
  writeJson(join(flagHome, 'panda_queueconfig.json'), { queueOfFlagHome: dummyLocalQueue() });

  test('HARVESTER_HOME chooses the home when there is no --home', async () => {
    const result = await runCli(['queues', 'check'], { home: envHome });
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.equal(checkedSummary(result.stdout).split(': ')[0], join(envHome, 'panda_queueconfig.json'));
    assert.match(checkedSummary(result.stdout), /\(queueOfEnvHome\)/);
  });

  test('--home wins over HARVESTER_HOME, and nothing is written to the home not chosen', async () => {
    const untouched = dirs.make('untouched-home');
    const result = await runCli(['--home', flagHome, 'queues', 'check'], { home: untouched });
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.equal(checkedSummary(result.stdout).split(': ')[0], join(flagHome, 'panda_queueconfig.json'));
    assert.match(checkedSummary(result.stdout), /\(queueOfFlagHome\)/);
    assert.deepEqual(readdirSync(untouched), []);
  });
});

describe('harvester.json in the home', { concurrency: true }, () => {
  test('"queueConfigFile" points to another queue configuration, relative to the home', async () => {
    const home = dirs.make('master');
    mkdirSync(join(home, 'sites'));
    writeJson(join(home, 'sites', 'cluster.json'), { queueNamedByMaster: dummyLocalQueue() });
    // A queue configuration under the default name too: the master file must win over it.
    writeJson(join(home, 'panda_queueconfig.json'), { queueUnderDefaultName: dummyLocalQueue() });
    writeJson(join(home, 'harvester.json'), { queueConfigFile: 'sites/cluster.json' });
    const result = await runCli(['queues', 'show', 'queueNamedByMaster', '--json'], { home });
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.equal((JSON.parse(result.stdout) as { queue: { queueName: string } }).queue.queueName, 'queueNamedByMaster');
  });

  test('--log-level bogus exits 2 with one line naming the levels there are', async () => {
    const result = await runCli(['--log-level', 'bogus', 'queues', 'check'], { home: dirs.make('log-level') });
    const lines = outputLines(result.stderr);
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /'bogus'/);
    assert.match(lines[0]!, /info/);
    assert.equal(result.stdout, '');
    assert.equal(result.status, 2, result.stderr);
  });
});
