// `harvester tunnel-test` and `harvester plugins try` against a bot on the testbed's hpc host, reached from
// hv-core through the jump host with password auth: the real CLI in child processes, as an operator runs it.
// Each failure case breaks one thing in the queue's "rpc" element and expects the step that fails to be named,
// with host, user and a fix.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { remoteBot } from '../../support/remote-bot.js';
import { requireTestbed } from '../../support/testbed.js';
import { runCli, type CliResult } from '../../cli/support.js';

/** This file's ports on hpc (18960-18979): the bot's, and one where nothing listens. */
const BOT_PORT = 18960;
const IDLE_PORT = 18961;



interface StepLine {
  readonly ok: boolean;
  readonly step: string;
  readonly ms: number;
  readonly rest: string;
  /** Index of the line in the output. */
  readonly index: number;
}

/** The step lines of tunnel-test's output: `ok|FAIL <step> <ms> ms  <target>  <detail>`. */
function stepLines(stdout: string): StepLine[] {
  const steps: StepLine[] = [];
  stdout.split('\n').forEach((line, index) => {
    const match = /^(ok|FAIL) +(.+?) +(\d+(?:\.\d+)?) ms {2}(.*)$/.exec(line);
    if (match) steps.push({ ok: match[1] === 'ok', step: match[2]!, ms: Number(match[3]), rest: match[4]!, index });
  });
  return steps;
}

/** Asserts that every step before `step` passed, `step` failed naming `target`, and a fix line follows. */
function assertFailedAt(result: CliResult, step: string, target: string, fix: RegExp): StepLine {
  const output = `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
  assert.equal(result.status, 1, output);
  const steps = stepLines(result.stdout);
  const failed = steps.at(-1);
  assert.ok(failed !== undefined && !failed.ok, `the last step reported failed:\n${output}`);
  assert.equal(failed.step, step, output);
  assert.ok(steps.slice(0, -1).every((s) => s.ok), `the steps before ${step} passed:\n${output}`);
  assert.ok(failed.rest.startsWith(target), `the failed step names ${target}:\n${output}`);
  const lines = result.stdout.split('\n');
  assert.match(lines[failed.index + 1] ?? '', /^ {5}fix: \S/, output);
  assert.match(lines[failed.index + 1] ?? '', fix, output);
  assert.match(result.stdout, /tunnel-test: queue TT: FAILED/);
  return failed;
}

test('harvester tunnel-test and plugins try through the jump host to a bot on hpc', async (t) => {
  const testbed = requireTestbed(t);
  if (testbed === undefined) return;
  const user = testbed.user.name;
  const bot = await remoteBot(testbed, 'tunnel-test', BOT_PORT);
  // A bot left running by an interrupted earlier run would keep the port: stop it (no-op when none runs).
  await bot.stop();
  await bot.cleanup();
  await bot.start();
  const home = mkdtempSync(join(tmpdir(), 'hv-tunnel-test-'));
  const root = await bot.makeRoot('tunnel-test');
  t.after(async () => {
    await bot.stop();
    await bot.cleanup();
    rmSync(home, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
  });

  let files = 0;
  /** A queue configuration file with queue TT: four remote sections, a local worker maker. */
  const queueFile = (rpc: Record<string, unknown> = {}): string => {
    const remote = (name: string, module: string): Record<string, unknown> => ({ name, module, middleware: 'rpc' });
    const file = join(home, `queues-${++files}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        TT: {
          queueStatus: 'online',
          mapType: 'NoJob',
          maxWorkers: 10,
          nQueueLimitWorker: 10,
          accessPoint: `${root}/\${workerID}`,
          rpc: { name: 'RpcHerder', module: 'pandaharvester.harvestermiddleware.rpc_herder', ...bot.rpc({ numTunnels: 1, ...rpc }) },
          workerMaker: { name: 'SimpleWorkerMaker', module: 'pandaharvester.harvesterworkermaker.simple_worker_maker' },
          submitter: remote('DummySubmitter', 'pandaharvester.harvestersubmitter.dummy_submitter'),
          monitor: remote('DummyMonitor', 'pandaharvester.harvestermonitor.dummy_monitor'),
          sweeper: remote('DummySweeper', 'pandaharvester.harvestersweeper.dummy_sweeper'),
          messenger: remote('SharedFileMessenger', 'pandaharvester.harvestermessenger.shared_file_messenger'),
        },
      }),
    );
    return file;
  };
  const tunnelTest = (file: string): Promise<CliResult> => runCli(['--home', home, 'tunnel-test', '--queue', 'TT', '--queue-config', file]);

  await t.test('passes and times every step, then one line per remote plugin', async () => {
    const result = await tunnelTest(queueFile());
    assert.equal(result.status, 0, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
    const steps = stepLines(result.stdout);
    assert.deepEqual(
      steps.map((s) => s.step),
      [
        'config',
        'jump-tcp',
        'jump-auth',
        'remote-tcp',
        'remote-auth',
        'bot-stream',
        'bot-hello-auth',
        'no-op call',
        'submitter submitWorkers([])',
        'monitor checkWorkers([])',
        'sweeper killWorkers([])',
        'messenger setupAccessPoints([])',
      ],
      'the local worker maker is not probed',
    );
    for (const s of steps) {
      assert.ok(s.ok, `${s.step} passed`);
      assert.ok(Number.isFinite(s.ms) && s.ms >= 0, `${s.step} has a time`);
    }
    const target = (name: string): string => steps.find((s) => s.step === name)!.rest;
    assert.ok(target('jump-auth').startsWith(`${user}@jump:22 `));
    assert.ok(target('remote-auth').startsWith(`${user}@hpc:22 `));
    // The default transport: the bot's unix socket, by stream-local forwarding.
    assert.ok(target('bot-stream').startsWith(`${user}@hpc unix:${bot.absoluteHome}/bot.sock `), target('bot-stream'));
    assert.match(target('bot-stream'), /unix: stream-local forwarding to the bot's socket/);
    const botPid = await bot.pid();
    assert.match(target('no-op call'), new RegExp(`pong from pid ${botPid}\\b`), 'the no-op call reached the bot on hpc');
    assert.match(result.stdout, /tunnel-test: queue TT: all steps passed/);
    assert.equal(result.stdout.includes(testbed.password()), false, 'the password is never printed');
  });

  await t.test('names the transport it used and why: the TCP port when asked, the stdio relay through an sshd that forwards nothing', async () => {
    const tcp = await tunnelTest(queueFile({ transport: 'tcp' }));
    assert.equal(tcp.status, 0, tcp.stdout + tcp.stderr);
    const tcpLine = stepLines(tcp.stdout).find((s) => s.step === 'bot-stream')!;
    assert.ok(tcpLine.rest.startsWith(`${user}@hpc 127.0.0.1:${BOT_PORT} `), tcpLine.rest);
    assert.match(tcpLine.rest, /tcp: transport "tcp"/);
    const stdio = await tunnelTest(queueFile({ transport: 'stdio', remotePort: testbed.hosts.hpcstrict.port }));
    assert.equal(stdio.status, 0, stdio.stdout + stdio.stderr);
    const stdioLine = stepLines(stdio.stdout).find((s) => s.step === 'bot-stream')!;
    assert.match(stdioLine.rest, /^\S+@hpc stdio: .*bot connect .*stdio: transport "stdio": no forwarding needed/);
    assert.match(stdio.stdout, /tunnel-test: queue TT: all steps passed/);
    // The same sshd refuses what the other transports need: the failure names the prohibited forwarding.
    const unix = await tunnelTest(queueFile({ transport: 'unix', remotePort: testbed.hosts.hpcstrict.port }));
    const failed = assertFailedAt(unix, 'bot-stream', `${user}@hpc (transport unix)`, /AllowStreamLocalForwarding/);
    assert.match(failed.rest, /the socket is there: sshd prohibits stream-local forwarding/);
  });

  await t.test('with no bot (neither its socket nor its port answers), fails at bot-stream and says how to start the bot', async () => {
    const result = await tunnelTest(queueFile({ remoteBindPort: IDLE_PORT, botHome: '.harvester-tunnel-test-nobot' }));
    const failed = assertFailedAt(result, 'bot-stream', `${user}@hpc (transport auto)`, /start the bot on hpc: .* bot start --port 18961/);
    assert.match(failed.rest, /not on its socket .*bot\.sock.*not on 127\.0\.0\.1:18961 .*Connection refused/i);
  });

  await t.test('with a wrong password, fails at jump-auth and never prints the password', async () => {
    const wrong = `wrong-${randomBytes(6).toString('hex')}`;
    const result = await tunnelTest(queueFile({ sshPassword: wrong }));
    const failed = assertFailedAt(result, 'jump-auth', `${user}@jump:22`, /sshPassword/);
    assert.match(failed.rest, /authentication failed/);
    assert.equal(`${result.stdout}${result.stderr}`.includes(wrong), false, 'the wrong password is not printed either');
  });

  await t.test('with the jump host unreachable, fails at jump-tcp naming host, port and user', async () => {
    const result = await tunnelTest(queueFile({ jumpPort: 2 }));
    const failed = assertFailedAt(result, 'jump-tcp', `${user}@jump:2`, /jumpPort/);
    assert.match(failed.rest, /connection refused/i);
  });

  await t.test('with a bot home where no bot runs, fails at bot-hello-auth and names the home', async () => {
    const missing = `${bot.botHome}-missing`;
    const result = await tunnelTest(queueFile({ botHome: missing }));
    const failed = assertFailedAt(result, 'bot-hello-auth', `${user}@hpc 127.0.0.1:${BOT_PORT}`, new RegExp(`--home ${missing}\\b`));
    assert.match(failed.rest, new RegExp(`${missing}/bot.secret`));
  });

  await t.test("with the home of another bot (another secret), fails at bot-hello-auth on the bot's refusal", async (st) => {
    const other = `${bot.botHome}-other`;
    const otherHome = join(testbed.user.home, other);
    st.after(() => rmSync(otherHome, { recursive: true, force: true }));
    mkdirSync(otherHome, { mode: 0o700 });
    writeFileSync(join(otherHome, 'bot.secret'), `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    chownSync(otherHome, testbed.user.uid, -1);
    chownSync(join(otherHome, 'bot.secret'), testbed.user.uid, -1);
    const result = await tunnelTest(queueFile({ botHome: other }));
    const failed = assertFailedAt(result, 'bot-hello-auth', `${user}@hpc 127.0.0.1:${BOT_PORT}`, new RegExp(`--home ${other}\\b`));
    assert.match(failed.rest, /the bot refused the session: the proof does not match the bot secret/);
  });

  await t.test('plugins try runs a round through the herder, the workers submitted by the bot on hpc', async () => {
    const callsBefore = await bot.journalStarts();
    const result = await runCli(['--home', home, 'plugins', 'try', '--queue', 'TT', '--queue-config', queueFile(), '--workers', '2']);
    const output = `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
    assert.equal(result.status, 0, output);
    assert.match(result.stdout, /submitter=DummySubmitter \(remote\)/);
    assert.match(result.stdout, /workerMaker=SimpleWorkerMaker(?! \(remote\))/);
    const lines = result.stdout.split('\n');
    const header = lines.findIndex((l) => l.startsWith('workerID'));
    assert.ok(header >= 0, output);
    const columns = lines[header]!.trim().split(/ {2,}/);
    const rows = lines
      .slice(header + 2)
      .filter((l) => /^\d+ /.test(l))
      .map((l) => Object.fromEntries(l.trim().split(/ {2,}/).map((cell, i) => [columns[i], cell])) as Record<string, string>);
    assert.equal(rows.length, 2, output);
    for (const row of rows) {
      assert.match(row.batchID ?? '', /^batch_ID_[0-9a-f]{32}$/);
      assert.equal(row.submit, 'ok');
      assert.equal(row.status, 'submitted');
      assert.equal(row.kill, 'ok');
      assert.equal(row.sweep, 'ok');
      assert.equal(row.accessPoint, join(root, row.workerID!));
      // Written by the bot, running as the testbed user on hpc, not by this (root) process.
      const submittedLog = join(row.accessPoint!, 'submitted.log');
      assert.equal(statSync(submittedLog).uid, testbed.user.uid);
      assert.equal(readFileSync(submittedLog, 'utf8'), `${row.workerID} ${row.batchID}\n`);
    }
    assert.ok((await bot.journalStarts()) > callsBefore, 'the bot recorded the calls');
  });
});
