// Secrets never leave the configuration: with an inline sshPassword, a passPhrase read from a file and a
// password from an environment variable, no command prints them, logs them or writes them under the home,
// even at log level trace and on failure paths (a refused SSH connection, a JSON syntax error beside one).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dummyLocalQueue, filesUnder, readText, runCli, TempDirs, writeJson, type CliResult } from './support.js';

const dirs = new TempDirs();
after(() => dirs.cleanup());

/** 24 hex characters: long enough to be masked, unlikely to appear anywhere by chance. */
function distinctiveSecret(): string {
  return randomBytes(12).toString('hex');
}

const secrets = {
  inlinePassword: distinctiveSecret(),
  filePassPhrase: distinctiveSecret(),
  envPassword: distinctiveSecret(),
  besideSyntaxError: distinctiveSecret(),
};
const SECRET_ENV = 'HV_CLI_TEST_SSH_PASSWORD';

function rpcElement(extra: Record<string, unknown>): Record<string, unknown> {
  // 127.0.0.1:1 is closed: every SSH attempt is refused at once, without leaving the machine.
  return {
    name: 'RpcHerder',
    module: 'pandaharvester.harvestermiddleware.rpc_herder',
    remoteHost: '127.0.0.1',
    remotePort: 1,
    remoteBindPort: 18861,
    numTunnels: 1,
    sshUserName: 'harvester',
    callTimeout: 2,
    ...extra,
  };
}

function remoteQueue(rpc: Record<string, unknown>): Record<string, unknown> {
  return {
    queueStatus: 'online',
    maxWorkers: 1,
    rpc,
    submitter: { name: 'DummySubmitter', module: 'pandaharvester.harvestersubmitter.dummy_submitter', middleware: 'rpc' },
    monitor: { name: 'DummyMonitor', module: 'pandaharvester.harvestermonitor.dummy_monitor', middleware: 'rpc' },
    sweeper: { name: 'DummySweeper', module: 'pandaharvester.harvestersweeper.dummy_sweeper' },
  };
}

describe('secrets in the queue configuration', () => {
  let home: string;
  const runs: CliResult[] = [];

  before(async () => {
    // The configuration and the secret file live outside the home, so anything found under the home leaked.
    const site = dirs.make('secrets-site');
    home = dirs.make('secrets-home');
    writeFileSync(join(site, 'passphrase.txt'), `${secrets.filePassPhrase}\n`);
    const config = writeJson(join(site, 'panda_queueconfig.json'), {
      local: dummyLocalQueue(),
      remoteInline: remoteQueue(rpcElement({ sshPassword: secrets.inlinePassword, passPhrase: { file: 'passphrase.txt' } })),
      remoteEnv: remoteQueue(rpcElement({ sshPassword: { env: SECRET_ENV } })),
    });
    const syntaxError = join(site, 'syntax-error.json');
    writeFileSync(
      syntaxError,
      `{\n  "broken": {\n    "rpc": {\n      "sshPassword": "${secrets.besideSyntaxError}",,\n      "remoteHost": "127.0.0.1"\n    }\n  }\n}\n`,
    );
    const opts = { home, env: { [SECRET_ENV]: secrets.envPassword } };
    const withConfig = (...args: string[]): string[] => ['--log-level', 'trace', ...args, '--queue-config', config];
    runs.push(
      ...(await Promise.all([
        runCli(withConfig('queues', 'check'), opts),
        runCli(withConfig('queues', 'show', 'remoteInline'), opts),
        runCli(withConfig('queues', 'show', 'remoteEnv'), opts),
        runCli(withConfig('queues', 'show', 'remoteInline', '--json'), opts),
        runCli(withConfig('queues', 'show', 'remoteEnv', '--json'), opts),
        runCli(withConfig('plugins', 'try', '--queue', 'local', '--workers', '2'), opts),
        runCli(withConfig('plugins', 'try', '--queue', 'remoteInline', '--workers', '1'), opts),
        runCli(['--log-level', 'trace', 'plugins', 'list'], opts),
        runCli(withConfig('tunnel-test', '--queue', 'remoteInline'), opts),
        runCli(withConfig('tunnel-test', '--queue', 'remoteEnv'), opts),
        runCli(['--log-level', 'trace', 'queues', 'check', '--queue-config', syntaxError], opts),
      ])),
    );
  });

  /** The first run of `harvester --log-level trace ...args` (trailing options left out). */
  function runOf(...args: string[]): CliResult {
    const found = runs.find((r) => args.every((a, i) => r.args[i + 2] === a));
    assert.ok(found !== undefined, `no run of ${args.join(' ')}`);
    return found;
  }

  test('the commands really ran, so the checks below have something to look at', () => {
    assert.equal(runOf('queues', 'check').status, 0, runOf('queues', 'check').stdout);
    assert.match(runOf('queues', 'show', 'remoteInline').stdout, /"sshPassword": "\*\*\* \(inline\)"/);
    assert.match(runOf('queues', 'show', 'remoteInline').stdout, /"passPhrase": "\*\*\* \(from file /);
    assert.match(runOf('queues', 'show', 'remoteEnv').stdout, /"sshPassword": "\*\*\* \(from env HV_CLI_TEST_SSH_PASSWORD\)"/);
    assert.equal(runOf('plugins', 'try', '--queue', 'local').status, 0, runOf('plugins', 'try', '--queue', 'local').stderr);
    assert.equal(runOf('plugins', 'try', '--queue', 'remoteInline').status, 1);
    assert.match(runOf('plugins', 'try', '--queue', 'remoteInline').stdout, /connection refused/);
    assert.equal(runOf('plugins', 'list').status, 0);
    for (const queue of ['remoteInline', 'remoteEnv']) {
      const run = runOf('tunnel-test', '--queue', queue);
      assert.equal(run.status, 1, run.stdout);
      assert.match(run.stdout, /FAIL remote-tcp/);
    }
    const syntax = runs.at(-1)!;
    assert.equal(syntax.status, 2);
    assert.match(syntax.stdout, /malformed JSON at line 4, column \d+/);
  });

  test('no secret appears in any command\'s stdout or stderr', () => {
    for (const run of runs) {
      for (const [name, value] of Object.entries(secrets)) {
        assert.ok(!run.stdout.includes(value), `${name} in stdout of harvester ${run.args.join(' ')}`);
        assert.ok(!run.stderr.includes(value), `${name} in stderr of harvester ${run.args.join(' ')}`);
      }
    }
  });

  test('no secret appears in any file under the home, log files included', () => {
    const files = filesUnder(home);
    const logs = files.filter((f) => f.endsWith('.log') && f.includes(join(home, 'logs')));
    assert.ok(logs.some((f) => readText(f).length > 0), `no log was written under ${home}: ${files.join(', ')}`);
    for (const file of files) {
      const text = readText(file);
      for (const [name, value] of Object.entries(secrets)) assert.ok(!text.includes(value), `${name} in ${file}`);
    }
  });
});
