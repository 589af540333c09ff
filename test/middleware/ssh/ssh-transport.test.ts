// The SSH transport against real sshd on the testbed: core -> jump -> hpc as the test user. One file on
// purpose: some tests stop a host's sshd, and node runs the tests of one file one after the other, so they
// cannot pull the rug from under the other tests here.
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectRoute, type StepReport } from '../../../src/middleware/ssh/connect.js';
import {
  AuthFailedError,
  ForwardError,
  HostKeyChangedError,
  HostKeyUnknownError,
  KeyPassphraseError,
  SftpError,
  SshTcpError,
  TcpRefusedError,
  TcpUnreachableError,
} from '../../../src/middleware/ssh/errors.js';
import { parseKnownHosts } from '../../../src/middleware/ssh/known-hosts.js';
import type { LinkCloseReason, SshLink } from '../../../src/middleware/ssh/link.js';
import { TunnelPool, type SlotStatus } from '../../../src/middleware/ssh/tunnel-pool.js';
import { requireTestbed, type Testbed } from '../../support/testbed.js';
import { assertNoSecrets, echoRoundTrip, recordingLog, scratchDir, startEchoServer, testbedRoute, type RouteChoice } from './support.js';

/** Connects with the given choices; returns the link (closed after the test), the steps and the log. */
async function connect(t: TestContext, tb: Testbed, choice: Partial<RouteChoice> = {}) {
  const knownHostsFile = choice.knownHostsFile ?? join(scratchDir(t), 'known_hosts');
  const log = recordingLog();
  const steps: StepReport[] = [];
  const link = await connectRoute(testbedRoute(tb, { knownHostsFile, ...choice }), { log, onStep: (s) => steps.push(s) });
  t.after(() => link.close());
  return { link, steps, log, knownHostsFile };
}

/** Expects the connection to fail; returns the error and the steps that were reported. */
async function connectFails(t: TestContext, tb: Testbed, choice: Partial<RouteChoice> = {}) {
  const knownHostsFile = choice.knownHostsFile ?? join(scratchDir(t), 'known_hosts');
  const log = recordingLog();
  const steps: StepReport[] = [];
  const error = await connectRoute(testbedRoute(tb, { knownHostsFile, ...choice }), { log, onStep: (s) => steps.push(s) }).then(
    (link) => {
      link.close();
      return assert.fail('the connection should have failed');
    },
    (e: unknown) => e as Error,
  );
  assertNoSecrets(tb, [error.message, ...log.lines, ...steps.map((s) => s.error?.message ?? '')]);
  return { error, steps, log };
}

function knownHostsLine(tb: Testbed, host: 'jump' | 'hpc', publicKey = tb.hosts[host].hostPublicKey): string {
  const [type, blob] = publicKey.split(' ');
  const h = tb.hosts[host];
  return `${h.port === 22 ? h.ip : `[${h.ip}]:${h.port}`} ${type} ${blob}`;
}

/** A valid ed25519 public key that is not the host's. */
const impostorKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIom4ehrWXIfDMlFa4MYOmOXoEtISMarxwK6cNgIW4nq';

describe('connectRoute through the jump host', () => {
  test('authenticates with the password on both hops and reaches hpc', async (t) => {
    const tb = requireTestbed(t);
    if (!tb) return;
    const { link, steps, log, knownHostsFile } = await connect(t, tb, { password: true });
    assert.deepEqual(
      steps.map((s) => [s.step, s.ok, s.method]),
      [
        ['jump-tcp', true, undefined],
        ['jump-auth', true, 'password'],
        ['remote-tcp', true, undefined],
        ['remote-auth', true, 'password'],
      ],
    );
    const whoami = await link.exec('echo "$USER $SSH_CONNECTION"');
    assert.equal(whoami.code, 0);
    const [user, , , serverIp] = whoami.stdout.trim().split(' ');
    assert.equal(user, tb.user.name);
    assert.equal(serverIp, tb.hosts.hpc.ip, 'the command ran on hpc');
    // Both hosts were new: recorded, with the keys the testbed says they have.
    const recorded = parseKnownHosts(readFileSync(knownHostsFile, 'utf8')).map((e) => `${e.keyType} ${e.keyBase64}`);
    assert.deepEqual(recorded, [tb.hosts.jump.hostPublicKey, tb.hosts.hpc.hostPublicKey].map((k) => k.split(' ').slice(0, 2).join(' ')));
    assert.ok(log.lines.some((l) => l.includes('new SSH host key accepted and recorded')));
    assertNoSecrets(tb, log.lines);
  });

  test('authenticates with the passphrase-protected key', async (t) => {
    const tb = requireTestbed(t);
    if (!tb) return;
    const { link, steps } = await connect(t, tb, { key: true });
    assert.deepEqual(
      steps.filter((s) => s.step.endsWith('auth')).map((s) => s.method),
      ['publickey', 'publickey'],
    );
    assert.deepEqual(link.authMethods, { remote: 'publickey', jump: 'publickey' });
  });

  test('answers keyboard-interactive with the password', async (t) => {
    const tb = requireTestbed(t);
    if (!tb) return;
    const { link } = await connect(t, tb, { password: true, preferredMethods: ['keyboard-interactive'] });
    assert.deepEqual(link.authMethods, { remote: 'keyboard-interactive', jump: 'keyboard-interactive' });
  });

  test('answers keyboard-interactive with the output of otpCommand', async (t) => {
    const tb = requireTestbed(t);
    if (!tb) return;
    // A stand-in for a token generator: prints the password (never part of the command line).
    const script = join(scratchDir(t), 'otp.sh');
    writeFileSync(script, `#!/bin/sh\nexec cat '${tb.passwordPath}'\n`);
    chmodSync(script, 0o700);
    const { link } = await connect(t, tb, { otpCommand: script });
    assert.deepEqual(link.authMethods, { remote: 'keyboard-interactive', jump: 'keyboard-interactive' });
  });

  test('a wrong password fails at jump-auth, naming host, user and the methods tried', async (t) => {
    const tb = requireTestbed(t);
    if (!tb) return;
    const { error, steps } = await connectFails(t, tb, { password: 'definitely-wrong' });
    assert.ok(error instanceof AuthFailedError, error.message);
    assert.equal(error.step, 'jump-auth');
    assert.equal(error.host, tb.hosts.jump.ip);
    assert.equal(error.user, tb.user.name);
    assert.deepEqual(error.methodsTried, ['password', 'keyboard-interactive']);
    assert.ok(error.message.includes(`${tb.user.name}@${tb.hosts.jump.ip}`));
    assert.ok(!error.message.includes('definitely-wrong'));
    assert.deepEqual(
      steps.map((s) => [s.step, s.ok]),
      [
        ['jump-tcp', true],
        ['jump-auth', false],
      ],
    );
  });

  test('a wrong passphrase fails before any connection', async (t) => {
    const tb = requireTestbed(t);
    if (!tb) return;
    const { error, steps } = await connectFails(t, tb, { key: true, passphrase: 'not-the-passphrase' });
    assert.ok(error instanceof KeyPassphraseError, error.message);
    assert.equal(error.keyPath, tb.privateKeyPath);
    assert.deepEqual(steps, []);
  });
});

describe('host keys', () => {
  test('a changed jump host key is refused, naming the file and the line to remove', async (t) => {
    const tb = requireTestbed(t);
    if (!tb) return;
    const knownHostsFile = join(scratchDir(t), 'known_hosts');
    await connect(t, tb, { password: true, knownHostsFile });
    // Tamper: replace the jump host's recorded key (line 1) by another one.
    const lines = readFileSync(knownHostsFile, 'utf8').split('\n');
    lines[0] = knownHostsLine(tb, 'jump', impostorKey);
    writeFileSync(knownHostsFile, lines.join('\n'));
    const { error } = await connectFails(t, tb, { password: true, knownHostsFile });
    assert.ok(error instanceof HostKeyChangedError, error.message);
    assert.equal(error.step, 'jump-auth');
    assert.equal(error.host, tb.hosts.jump.ip);
    assert.equal(error.knownHostsFile, knownHostsFile);
    assert.equal(error.line, 1);
    assert.match(error.message, /remove line 1 of/);
  });

  test('a changed remote host key is refused at remote-auth, even when not strict', async (t) => {
    const tb = requireTestbed(t);
    if (!tb) return;
    const knownHostsFile = join(scratchDir(t), 'known_hosts');
    writeFileSync(knownHostsFile, `${knownHostsLine(tb, 'jump')}\n${knownHostsLine(tb, 'hpc', impostorKey)}\n`);
    const { error } = await connectFails(t, tb, { password: true, knownHostsFile, strict: false });
    assert.ok(error instanceof HostKeyChangedError, error.message);
    assert.equal(error.step, 'remote-auth');
    assert.equal(error.host, tb.hosts.hpc.ip);
    assert.equal(error.line, 2);
  });

  test('strict mode refuses an unknown host and records nothing', async (t) => {
    const tb = requireTestbed(t);
    if (!tb) return;
    const knownHostsFile = join(scratchDir(t), 'known_hosts');
    writeFileSync(knownHostsFile, `${knownHostsLine(tb, 'jump')}\n`);
    const { error } = await connectFails(t, tb, { password: true, knownHostsFile, strict: true });
    assert.ok(error instanceof HostKeyUnknownError, error.message);
    assert.equal(error.step, 'remote-auth');
    assert.equal(readFileSync(knownHostsFile, 'utf8'), `${knownHostsLine(tb, 'jump')}\n`);
  });

  test('strict mode connects when both hosts are known', async (t) => {
    const tb = requireTestbed(t);
    if (!tb) return;
    const knownHostsFile = join(scratchDir(t), 'known_hosts');
    writeFileSync(knownHostsFile, `${knownHostsLine(tb, 'jump')}\n${knownHostsLine(tb, 'hpc')}\n`);
    const { link } = await connect(t, tb, { password: true, knownHostsFile, strict: true });
    assert.equal(link.isOpen, true);
  });
});

describe('SshLink', () => {
  test('exec collects stdout, stderr and the exit code, with or without a pty', async (t) => {
    const tb = requireTestbed(t);
    if (!tb) return;
    const { link } = await connect(t, tb, { key: true });
    const plain = await link.exec('echo out; echo err >&2; test -t 0 && echo tty; exit 3');
    assert.deepEqual(plain, { code: 3, stdout: 'out\n', stderr: 'err\n' });
    const withPty = await link.exec('test -t 0 && echo tty', { pty: true });
    assert.equal(withPty.code, 0);
    assert.match(withPty.stdout, /tty/);
  });

  test('spawn runs a long-lived command fed through its channel', async (t) => {
    const tb = requireTestbed(t);
    if (!tb) return;
    const { link } = await connect(t, tb, { key: true });
    const child = await link.spawn('cat');
    const echoed = new Promise<string>((resolve) => child.once('data', (chunk: Buffer) => resolve(chunk.toString())));
    child.write('ping\n');
    assert.equal(await echoed, 'ping\n');
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code: number | null) => resolve(code)));
    child.end();
    assert.equal(await exited, 0);
  });

  test('readFile reads a file over SFTP; a missing file is an SftpError naming the path', async (t) => {
    const tb = requireTestbed(t);
    if (!tb) return;
    const { link } = await connect(t, tb, { key: true });
    const path = `/tmp/hv-ssh-test-${process.pid}-${Date.now()}`;
    await link.exec(`printf 'secret-bytes\\n' > ${path} && chmod 600 ${path}`);
    try {
      assert.equal((await link.readFile(path)).toString(), 'secret-bytes\n');
      const error = await link.readFile(`${path}.missing`).then(
        () => assert.fail('should fail'),
        (e: unknown) => e as Error,
      );
      assert.ok(error instanceof SftpError, error.message);
      assert.equal(error.path, `${path}.missing`);
    } finally {
      await link.exec(`rm -f ${path}`);
    }
  });

  test('forward reaches a service on hpc loopback; a closed port is a ForwardError', async (t) => {
    const tb = requireTestbed(t);
    if (!tb) return;
    const echo = await startEchoServer(tb);
    t.after(() => echo.stop());
    const { link } = await connect(t, tb, { key: true });
    const channel = await link.forward(echo.port);
    await echoRoundTrip(channel, 316 * 1024);
    channel.destroy();
    const error = await link.forward(1).then(
      () => assert.fail('should fail'),
      (e: unknown) => e as Error,
    );
    assert.ok(error instanceof ForwardError, error.message);
    assert.equal(error.targetPort, 1);
    assert.equal(error.host, tb.hosts.hpc.ip);
    assert.match(error.message, /refused/i);
  });

  test('closes with the reason when its connection dies, and refuses further use', async (t) => {
    const tb = requireTestbed(t);
    if (!tb) return;
    const before = new Set(tb.sshdPids('jump'));
    const { link } = await connect(t, tb, { key: true });
    const closed = new Promise<LinkCloseReason>((resolve) => link.once('close', resolve));
    const mine = tb.sshdPids('jump').filter((pid) => !before.has(pid));
    assert.ok(mine.length >= 1, 'found the sshd process serving this link');
    for (const pid of mine) process.kill(pid, 'SIGTERM');
    const reason = await closed;
    assert.equal(reason.requested, false);
    assert.equal(link.isOpen, false);
    await assert.rejects(link.exec('true'), /closed/);
  });

  test('close() is idempotent and emits close once, as requested', async (t) => {
    const tb = requireTestbed(t);
    if (!tb) return;
    const { link } = await connect(t, tb, { key: true });
    const reasons: LinkCloseReason[] = [];
    link.on('close', (r) => reasons.push(r));
    link.close('test done');
    link.close('again');
    assert.deepEqual(reasons, [{ requested: true, message: 'test done' }]);
  });
});

describe('unreachable hosts', () => {
  test('a remote host the jump host cannot resolve fails at remote-tcp', async (t) => {
    const tb = requireTestbed(t);
    if (!tb) return;
    const { error, steps } = await connectFails(t, tb, { key: true, remoteHost: 'no-such-host.invalid' });
    assert.ok(error instanceof TcpUnreachableError, error.message);
    assert.equal(error.step, 'remote-tcp');
    assert.equal(steps.at(-1)?.step, 'remote-tcp');
  });

  test('a jump host that does not answer fails at jump-tcp', async (t) => {
    const tb = requireTestbed(t);
    if (!tb) return;
    // An address on the core-jump network that nobody has: no ARP answer, so timeout or unreachable.
    const silent = tb.hosts.jump.ip.replace(/\.\d+$/, '.250');
    const { error } = await connectFails(t, tb, { key: true, jumpHost: silent });
    assert.ok(error instanceof SshTcpError, error.message);
    assert.equal(error.step, 'jump-tcp');
    assert.equal(error.host, silent);
  });

  test('jump host sshd down: refused at jump-tcp', async (t) => {
    const tb = requireTestbed(t);
    if (!tb) return;
    await tb.stopSshd('jump');
    try {
      const { error } = await connectFails(t, tb, { key: true });
      assert.ok(error instanceof TcpRefusedError, error.message);
      assert.equal(error.step, 'jump-tcp');
      assert.equal(error.port, tb.hosts.jump.port);
    } finally {
      await tb.startSshd('jump');
    }
  });

  test('remote sshd down: refused at remote-tcp, after the jump host worked', async (t) => {
    const tb = requireTestbed(t);
    if (!tb) return;
    await tb.stopSshd('hpc');
    try {
      const { error, steps } = await connectFails(t, tb, { key: true });
      assert.ok(error instanceof TcpRefusedError, error.message);
      assert.equal(error.step, 'remote-tcp');
      assert.equal(error.host, tb.hosts.hpc.ip);
      assert.deepEqual(
        steps.map((s) => s.ok),
        [true, true, false],
      );
    } finally {
      await tb.startSshd('hpc');
    }
  });
});

describe('TunnelPool on real links', () => {
  test('reconnects after the sshd processes serving its links are killed', async (t) => {
    const tb = requireTestbed(t);
    if (!tb) return;
    const echo = await startEchoServer(tb);
    t.after(() => echo.stop());
    const log = recordingLog();
    const route = testbedRoute(tb, { key: true, knownHostsFile: join(scratchDir(t), 'known_hosts') });
    const before = new Set(tb.sshdPids('hpc'));
    const pool = new TunnelPool<{ link: SshLink; channel: Awaited<ReturnType<SshLink['forward']>> }>({
      route,
      size: 2,
      attach: async (link) => ({ link, channel: await link.forward(echo.port) }),
      detach: (v) => v.channel.destroy(),
      log,
      backoff: { initialMs: 100, maxMs: 1_000 },
    });
    t.after(() => pool.stop());
    const waitFor = (predicate: (s: SlotStatus[]) => boolean) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`pool state: ${JSON.stringify(pool.status())}`)), 20_000);
        const check = (): void => {
          if (!predicate(pool.status())) return;
          clearTimeout(timer);
          pool.off('state', check);
          resolve();
        };
        pool.on('state', check);
        check();
      });

    pool.start();
    const first = await pool.acquire({ timeoutMs: 20_000 });
    await echoRoundTrip(first.channel, 4096);
    await waitFor((s) => s.every((slot) => slot.state === 'up'));

    const mine = tb.sshdPids('hpc').filter((pid) => !before.has(pid));
    assert.ok(mine.length >= 2, `expected the pool's 2 connections among hpc's sshd processes, found ${mine.length}`);
    const closed = new Promise<LinkCloseReason>((resolve) => first.link.once('close', resolve));
    for (const pid of mine) process.kill(pid, 'SIGTERM');
    assert.equal((await closed).requested, false);

    await waitFor((s) => s.every((slot) => slot.state === 'up' && slot.connects === 2));
    const again = await pool.acquire({ timeoutMs: 5_000 });
    assert.notEqual(again, first);
    await echoRoundTrip(again.channel, 4096);
    await pool.stop();
    assert.ok(pool.status().every((s) => s.state === 'stopped'));
    assertNoSecrets(tb, log.lines);
  });

  test('acquire reports why when the bot is not there', async (t) => {
    const tb = requireTestbed(t);
    if (!tb) return;
    const route = testbedRoute(tb, { key: true, knownHostsFile: join(scratchDir(t), 'known_hosts') });
    const pool = new TunnelPool<SshLink>({
      route,
      size: 1,
      attach: async (link) => {
        // Like the herder: the attached thing is only good once the bot's port answers.
        (await link.forward(1)).destroy();
        return link;
      },
      log: recordingLog(),
      backoff: { initialMs: 200, maxMs: 1_000 },
    });
    t.after(() => pool.stop());
    pool.start();
    const error = await pool.acquire({ timeoutMs: 3_000 }).then(
      () => assert.fail('should fail'),
      (e: unknown) => e as Error,
    );
    assert.match(error.message, /no healthy SSH tunnel/);
    assert.match(error.message, /cannot open a channel to 127\.0\.0\.1:1/);
  });
});
