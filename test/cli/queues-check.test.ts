// `harvester queues check`: the shipped example passes, and every kind of bad input is reported the way an
// operator fixes it: one `file: queue: json.path: message` line per problem, all of them in one run, exit 2.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturePath, outputLines, packageRoot, runCli, shippedExample, TempDirs, type CliResult } from './support.js';

const dirs = new TempDirs();
after(() => dirs.cleanup());

/** Lines reporting problems (not warnings, not the summary line). */
function problemLines(result: CliResult, file: string): string[] {
  return outputLines(result.stdout).filter((line) => line.startsWith(`${file}: `) && !/^\S+: \d+ queue\(s\) OK/.test(line));
}

function summaryLine(result: CliResult, file: string): string {
  const line = outputLines(result.stdout).find((l) => l.startsWith(`${file}: `) && /: \d+ queue\(s\) OK/.test(l));
  assert.ok(line !== undefined, `no summary line for ${file} in:\n${result.stdout}`);
  return line;
}

/** The one problem line of `queue` at `path`, asserting the `file: queue: path: message` shape. */
function problemAt(result: CliResult, file: string, queue: string, path: string): string {
  const prefix = `${file}: ${queue}: ${path}: `;
  const found = problemLines(result, file).filter((line) => line.startsWith(prefix));
  assert.equal(found.length, 1, `expected one problem starting '${prefix}' in:\n${result.stdout}`);
  return found[0]!.slice(prefix.length);
}

describe('queues check on the shipped example', () => {
  test('passes with exit 0 and warns that DummySingletonSubmitter lives in dummy_singleton_submitter', async () => {
    const result = await runCli(['queues', 'check'], { home: dirs.make('example') });
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(problemLines(result, shippedExample), []);
    const warning = outputLines(result.stdout).find((line) => line.startsWith(`warning: ${shippedExample}: NERSC_Cori_rpc: submitter: `));
    assert.ok(warning !== undefined, result.stdout);
    assert.match(warning, /'DummySingletonSubmitter'/);
    assert.match(warning, /'pandaharvester\.harvestersubmitter\.dummy_singleton_submitter'/);
    assert.match(summaryLine(result, shippedExample), /3 queue\(s\) OK \(local, dummy, NERSC_Cori_rpc\)/);
  });
});

describe('queues check on the shipped SLURM example (a cori-like site behind a jump host)', () => {
  test('passes; the only warning is that the template lives on the remote host, where the bot checks it', async () => {
    const example = join(packageRoot, 'examples', 'panda_queueconfig_slurm.json');
    const result = await runCli(['queues', 'check', '--queue-config', example], { home: dirs.make('slurm-example') });
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.deepEqual(problemLines(result, example), []);
    const warnings = outputLines(result.stdout).filter((line) => line.startsWith('warning: '));
    assert.equal(warnings.length, 1, result.stdout);
    assert.match(warnings[0]!, /NERSC_Cori_slurm: submitter: cannot read template file .*harvester_slurm_submit\.sh.*the bot checks the template/);
    assert.match(summaryLine(result, example), /1 queue\(s\) OK \(NERSC_Cori_slurm\)/);
  });
});

describe('queues check on a file with every kind of bad input', () => {
  const file = fixturePath('bad-inputs.json');
  let result: CliResult;
  before(async () => {
    // HV_CLI_TEST_UNSET_SECRET is deliberately absent from the child's environment.
    result = await runCli(['queues', 'check', '--queue-config', file], { home: dirs.make('bad-inputs') });
  });

  test('exits 2 and still lists the good queue as OK', () => {
    assert.equal(result.status, 2, result.stderr);
    assert.match(summaryLine(result, file), /: 1 queue\(s\) OK \(good\), 10 problem\(s\)/);
  });

  test('prints every problem as file: queue: json.path: message', () => {
    const queues = ['wrongTypes', 'unknownPlugin', 'undefinedMiddleware', 'unservedMiddleware', 'cycleA', 'cycleB', 'missingTemplate', 'missingSecretFile', 'unsetEnvSecret'];
    const lines = problemLines(result, file);
    assert.equal(lines.length, 10, result.stdout);
    for (const line of lines) assert.match(line, new RegExp(`^${file.replaceAll('.', '\\.')}: (${queues.join('|')}): [\\w.\\[\\]]+: \\S`));
    assert.equal(result.stderr, '');
  });

  test('wrong types name the JSON path, what was expected and what was found', () => {
    assert.match(problemAt(result, file, 'wrongTypes', 'maxWorkers'), /number.*string "many"/);
    assert.match(problemAt(result, file, 'wrongTypes', 'rpc.numTunnels'), /number.*string "three"/);
  });

  test('an unknown plugin names the queue, the section, what was asked and the closest known names', () => {
    const message = problemAt(result, file, 'unknownPlugin', 'submitter');
    assert.match(message, /queue 'unknownPlugin'/);
    assert.match(message, /section 'submitter'/);
    assert.match(message, /'DumySubmiter'/);
    assert.match(message, /'pandaharvester\.harvestersubmitter\.dummy_submiter'/);
    assert.match(message, /did you mean .*pandaharvester\.harvestersubmitter\.dummy_submitter\.DummySubmitter/);
  });

  test('a section naming a middleware element the queue does not define is reported on that section', () => {
    assert.match(problemAt(result, file, 'undefinedMiddleware', 'submitter.middleware'), /no middleware element 'rcp'/);
  });

  test('a middleware element no provider serves names its name and module', () => {
    const message = problemAt(result, file, 'unservedMiddleware', 'tunnel');
    assert.match(message, /'FooHerder'/);
    assert.match(message, /'foo\.bar_herder'/);
  });

  test('a template cycle between queues is reported on each queue with the chain', () => {
    assert.match(problemAt(result, file, 'cycleA', 'templateQueueName'), /cycleA -> cycleB -> cycleA/);
    assert.match(problemAt(result, file, 'cycleB', 'templateQueueName'), /cycleB -> cycleA -> cycleB/);
  });

  test('a missing template is named, with the templates the file has', () => {
    const message = problemAt(result, file, 'missingTemplate', 'templateQueueName');
    assert.match(message, /'NO_SUCH_TEMPLATE'/);
    assert.match(message, /templates: site_TEMPLATE/);
  });

  test('a secret file that does not exist is named with its full path', () => {
    const message = problemAt(result, file, 'missingSecretFile', 'rpc.sshPassword.file');
    assert.ok(message.includes(join(fixturePath(''), 'no-such-dir', 'ssh-password.txt')), message);
    assert.match(message, /no such file/);
  });

  test('an unset environment variable holding a secret is named', () => {
    assert.match(problemAt(result, file, 'unsetEnvSecret', 'rpc.passPhrase.env'), /HV_CLI_TEST_UNSET_SECRET is not set/);
  });
});

describe('queues check reports all problems of a file at once', () => {
  test('three problems in three queues print three lines', async () => {
    const file = fixturePath('three-problems-three-queues.json');
    const result = await runCli(['queues', 'check', '--queue-config', file], { home: dirs.make('three-queues') });
    assert.equal(result.status, 2, result.stderr);
    assert.deepEqual(
      problemLines(result, file).map((line) => line.split(': ').slice(1, 3).join(': ')),
      ['badType: maxWorkers', 'badStatus: queueStatus', 'badPlugin: monitor'],
    );
    assert.match(summaryLine(result, file), /1 queue\(s\) OK \(good\), 3 problem\(s\)/);
  });

  test('three problems in one queue print three lines (a type error does not hide an unknown plugin)', async () => {
    const file = fixturePath('three-problems-one-queue.json');
    const result = await runCli(['queues', 'check', '--queue-config', file], { home: dirs.make('one-queue') });
    assert.equal(result.status, 2, result.stderr);
    assert.deepEqual(
      problemLines(result, file)
        .map((line) => line.split(': ').slice(1, 3).join(': '))
        .sort(),
      ['threeMistakes: maxWorkers', 'threeMistakes: monitor.middleware', 'threeMistakes: submitter'],
    );
    assert.match(summaryLine(result, file), /1 queue\(s\) OK \(good\), 3 problem\(s\)/);
  });
});

describe('queues check on files that cannot be used at all', () => {
  test('malformed JSON is reported with the line and column of the fault', async () => {
    const file = fixturePath('malformed.json');
    const text = readFileSync(file, 'utf8');
    // The fixture's fault is the second comma of ",,".
    const before = text.slice(0, text.indexOf(',,') + 1).split('\n');
    const line = before.length;
    const column = before[before.length - 1]!.length + 1;
    const result = await runCli(['queues', 'check', '--queue-config', file], { home: dirs.make('malformed') });
    assert.equal(result.status, 2, result.stderr);
    const lines = problemLines(result, file);
    assert.equal(lines.length, 1, result.stdout);
    assert.match(lines[0]!, new RegExp(`^${file.replaceAll('.', '\\.')}: -: malformed JSON at line ${line}, column ${column}: `));
  });

  for (const [what, make, reason] of [
    ['a path that does not exist', (dir: string) => join(dir, 'absent.json'), /no such file/],
    ['a directory', (dir: string) => dir, /is a directory/],
  ] as const) {
    test(`an unreadable queue configuration (${what}) exits 2 with one line naming the file and why`, async () => {
      const file = make(dirs.make('unreadable'));
      const result = await runCli(['queues', 'check', '--queue-config', file], { home: dirs.make('unreadable-home') });
      const output = outputLines(result.stdout + result.stderr);
      assert.equal(output.length, 1, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
      assert.ok(output[0]!.includes(file), output[0]);
      assert.match(output[0]!, reason);
      assert.equal(result.status, 2, output[0]);
    });
  }
});
