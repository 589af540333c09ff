// What an operator sees when the route to the bot is broken: a wrong password, a wrong key passphrase, a
// changed host key, the jump host down, no bot on the port. Each must be its own error (a different root
// cause class and a different, specific message), name the host and user at fault, and arrive within a
// bounded time: the rpc element's connectTimeout (how long a call waits for a working tunnel), well before
// a long callTimeout; never hang.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BotUnavailableError, NotOurBotError } from '../../../src/middleware/errors.js';
import {
  AuthFailedError,
  ForwardError,
  HostKeyChangedError,
  KeyPassphraseError,
  SshStepError,
  TcpRefusedError,
} from '../../../src/middleware/ssh/errors.js';
import { remoteBot, type RemoteBot } from '../../support/remote-bot.js';
import {
  assertNamesHostAndUser,
  assertNoSecretIn,
  botLogs,
  botSecret,
  causeChain,
  Herder,
  rejectionOf,
  remoteQueue,
  suiteTestbed,
  waitUntil,
} from './support.js';

process.umask(0o000);

const { testbed, skip } = suiteTestbed();
/** Long on purpose: every failure below must come by connectTimeout, far earlier. */
const CALL_TIMEOUT_S = 120;
/** Nothing listens there: the "bot not running" case. */
const IDLE_PORT = 18905;
/** Held by another user's program: the "port squatted" case. */
const SQUAT_PORT = 18906;
/** For failures retrying cannot fix: far beyond the tests' own timeout, so an answer at all means "at once". */
const PERSISTENT_CONNECT_TIMEOUT_S = 600;
/** The hang guard of each failing-route test. */
const TEST_TIMEOUT = { timeout: 90_000 };
const WRONG_PASSWORD = 'not-the-password-9f3c1';
const WRONG_PASSPHRASE = 'not-the-passphrase-7b2e4';

interface Case {
  readonly name: string;
  /** The root cause class expected somewhere in the error's chain. */
  readonly cause: abstract new (...args: never[]) => Error;
  /** The host the root cause must name. */
  readonly host: 'jump' | 'hpc';
  readonly specific: RegExp;
  /** Seconds a call waits for a working tunnel. */
  readonly connectTimeout: number;
  /** Whether retrying cannot help (the pool means to give up on these at once). */
  readonly persistent: boolean;
}

describe('broken routes to the bot fail with distinct, specific errors in bounded time', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'hv-fault-route-'));
  let bot: RemoteBot;
  const herders: Herder[] = [];
  const seen = new Map<string, { error: Error; root: Error; ms: number; case: Case }>();

  before(async () => {
    bot = await remoteBot(testbed!, 'fault-route', 18903);
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

  /** A fresh herder (own pool, own known_hosts) making one call through a queue with these rpc settings. */
  async function failingCall(c: Case, rpc: Record<string, unknown>, knownHosts?: string): Promise<void> {
    const herderDir = join(dir, c.name);
    mkdirSync(herderDir);
    if (knownHosts !== undefined) writeFileSync(join(herderDir, 'known_hosts'), knownHosts);
    const h = new Herder(herderDir, 'herder');
    herders.push(h);
    const queue = remoteQueue(`fault_route_${c.name}`, bot.rpc({ numTunnels: 2, callTimeout: CALL_TIMEOUT_S, connectTimeout: c.connectTimeout, ...rpc }));
    const monitor = await h.plugin(queue, 'monitor');
    const { error, ms } = await rejectionOf(monitor.checkWorkers(h.ctx(queue), []));
    await h.close();

    assert.ok(error instanceof BotUnavailableError, `BotUnavailableError, got ${error.name}: ${error.message}`);
    assertNamesHostAndUser(error, 'hpc', testbed!.user.name);
    const root = causeChain(error).find((e) => e instanceof c.cause);
    assert.ok(root !== undefined, `the cause is a ${c.cause.name}: ${causeChain(error).map((e) => e.name).join(' <- ')}`);
    assert.match(error.message, c.specific, 'the message says what is wrong');
    // The root cause names the hop at fault and the user.
    const at = root instanceof SshStepError ? root : causeChain(root).find((e): e is SshStepError => e instanceof SshStepError);
    assert.ok(at !== undefined, 'an SSH step error names the endpoint');
    assert.equal(at.host, c.host, `the error is about ${c.host}`);
    assert.equal(at.user, testbed!.user.name);
    assert.ok(error.message.includes(`${testbed!.user.name}@${c.host}`), `the message names ${testbed!.user.name}@${c.host}: ${error.message}`);
    if (c.persistent) assert.match(error.message, /will not heal by retrying/, 'the message says retrying will not help');
    // A failure retrying cannot fix comes back at once: such cases set a connectTimeout far beyond the test's
    // own timeout (the hang guard), so getting the error at all shows the pool did not wait for it. The others
    // come by connectTimeout, long before the 120 s callTimeout (a generous bound, as a hang guard only).
    if (!c.persistent) assert.ok(ms < c.connectTimeout * 1000 + 30_000, `reported by connectTimeout, not callTimeout: ${Math.round(ms)} ms`);
    seen.set(c.name, { error, root, ms, case: c });
  }

  test('a wrong password: authentication failed on the jump host, at once (without waiting for connectTimeout)', TEST_TIMEOUT, async () => {
    await failingCall(
      { name: 'password', cause: AuthFailedError, host: 'jump', specific: /authentication failed \(tried: [^)]*password/, connectTimeout: PERSISTENT_CONNECT_TIMEOUT_S, persistent: true },
      { sshPassword: WRONG_PASSWORD },
    );
  });

  test('a wrong key passphrase: the key cannot be decrypted, at once (without waiting for connectTimeout)', TEST_TIMEOUT, async () => {
    await failingCall(
      { name: 'passphrase', cause: KeyPassphraseError, host: 'hpc', specific: /wrong passPhrase for private key/, connectTimeout: PERSISTENT_CONNECT_TIMEOUT_S, persistent: true },
      { sshPassword: undefined, privateKey: testbed!.privateKeyPath, passPhrase: WRONG_PASSPHRASE },
    );
  });

  test('a changed host key for hpc: refused as HOST KEY CHANGED, naming the known_hosts line, at once (without waiting for connectTimeout)', TEST_TIMEOUT, async () => {
    const jumpKey = testbed!.hosts.jump.hostPublicKey.split(' ').slice(0, 2).join(' ');
    // hpc "presents" the jump host's key in our file: the key hpc really presents differs from the recorded one.
    await failingCall(
      { name: 'hostkey', cause: HostKeyChangedError, host: 'hpc', specific: /HOST KEY CHANGED.*line 2 of/, connectTimeout: PERSISTENT_CONNECT_TIMEOUT_S, persistent: true },
      {},
      `jump ${jumpKey}\nhpc ${jumpKey}\n`,
    );
  });

  test('the jump host down: connection refused on the jump host, reported by connectTimeout', async () => {
    await testbed!.stopSshd('jump');
    try {
      await failingCall({ name: 'jumpdown', cause: TcpRefusedError, host: 'jump', specific: /jump-tcp \S+@jump:22: connection refused/, connectTimeout: 3, persistent: false }, {});
    } finally {
      await testbed!.startSshd('jump');
    }
  });

  test('no bot (launchBot off): neither its socket nor its port on hpc answers, reported by connectTimeout', async () => {
    await failingCall(
      {
        name: 'nobot',
        cause: ForwardError,
        host: 'hpc',
        specific: new RegExp(`no bot answers on hpc: not on its socket \\(.*bot\\.sock.*\\), not on 127\\.0\\.0\\.1:${IDLE_PORT} \\(.*Connection refused`),
        connectTimeout: 3,
        persistent: false,
      },
      { remoteBindPort: IDLE_PORT, launchBot: false, botHome: '.harvester-fault-route-nobot' },
    );
  });

  test('the bot port squatted by another user before the bot started (transport tcp): "not our bot" in one line naming the port and its holder', async (t) => {
    // Another local user's program holds the port and greets every connection like an SSH server would.
    const script = [
      'import socket',
      's = socket.socket()',
      's.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
      `s.bind(('127.0.0.1', ${SQUAT_PORT}))`,
      's.listen(16)',
      'while True:',
      '    c, _ = s.accept()',
      "    c.sendall(b'SSH-2.0-squatter\\r\\n')",
      '    c.close()',
    ].join('\n');
    const [command, ...prefix] = testbed!.onHostPrefix.hpc;
    const squatter = spawn(command!, [...prefix, 'runuser', '-u', 'nobody', '--', '/usr/bin/python3', '-c', script], { stdio: 'ignore' });
    try {
      const listening = async (): Promise<boolean> => (await testbed!.runOnHost('hpc', ['sh', '-c', `ss -ltnH 'sport = :${SQUAT_PORT}' | grep -q .`])).status === 0;
      assert.ok(await waitUntil(listening, 10_000), 'the squatter listens on the bot port');
      const herderDir = join(dir, 'squat');
      mkdirSync(herderDir);
      const h = new Herder(herderDir, 'herder');
      herders.push(h);
      const queue = remoteQueue(
        'fault_route_squat',
        bot.rpc({ numTunnels: 1, callTimeout: CALL_TIMEOUT_S, connectTimeout: 5, transport: 'tcp', remoteBindPort: SQUAT_PORT, botHome: '.harvester-fault-route-squat' }),
      );
      const monitor = await h.plugin(queue, 'monitor');
      const { error } = await rejectionOf(monitor.checkWorkers(h.ctx(queue), []));
      await h.close();
      assert.ok(error instanceof BotUnavailableError, `BotUnavailableError, got ${error.name}: ${error.message}`);
      const notOurs = causeChain(error).find((e): e is NotOurBotError => e instanceof NotOurBotError);
      assert.ok(notOurs !== undefined, `NotOurBotError in the chain: ${causeChain(error).map((e) => e.name).join(' <- ')}`);
      assert.equal(notOurs.bareMessage.split('\n').length, 1, 'one line');
      assert.match(notOurs.message, new RegExp(`^not our bot on hpc: 127\\.0\\.0\\.1:${SQUAT_PORT} is held by user nobody \\(uid \\d+\\)`));
      assert.match(notOurs.message, /does not speak the bot protocol/);
      assert.match(error.message, /not our bot on hpc/, 'the caller\'s error carries the reason');
      t.diagnostic(notOurs.message);
    } finally {
      squatter.kill('SIGKILL');
      // runuser's child: gone once nothing holds the port.
      await testbed!.runOnHost('hpc', ['pkill', '-KILL', '-u', 'nobody', '-f', 'squatter']);
    }
  });

  test('the five failures are distinct: different root cause classes and different messages', (t) => {
    if (seen.size < 5) return t.skip(`only ${seen.size} of the failures above were produced`);
    for (const [name, { root, ms }] of seen) t.diagnostic(`${name} (${Math.round(ms)} ms): ${root.name}: ${root.message}`);
    const classes = new Set([...seen.values()].map(({ root }) => root.constructor.name));
    assert.equal(classes.size, 5, `five root cause classes: ${[...classes].join(', ')}`);
    const strip = (m: string) => m.replace(/callId=\S+|queue=\S+|\d+ ms/g, '');
    const messages = new Set([...seen.values()].map(({ error }) => strip(error.message)));
    assert.equal(messages.size, 5, 'five different messages');
  });

  test('no secret (password, passphrase, wrong ones included, bot secret) appears in the herder logs, the bot logs or the errors', async () => {
    const texts = new Map<string, string>(await botLogs(bot));
    for (const [name, { error }] of seen) {
      texts.set(`error (${name})`, causeChain(error).map((e) => `${e.message}\n${e.stack ?? ''}`).join('\n'));
      texts.set(`herder log (${name})`, readFileSync(join(dir, name, 'herder.log'), 'utf8'));
    }
    assertNoSecretIn(texts, {
      password: testbed!.password(),
      passphrase: testbed!.passphrase(),
      'wrong password': WRONG_PASSWORD,
      'wrong passphrase': WRONG_PASSPHRASE,
      'bot secret': botSecret(bot),
    });
  });
});
