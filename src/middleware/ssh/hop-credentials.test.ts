// What connectRoute offers to which host, against two in-process sshds (ssh2's Server): a jump host that
// forwards to a remote host. From the rpc element to the wire: routeFromMiddleware's rule (README, "The rpc
// element") and the handshake's use of it. Also the host-key rule: unknown keys fail unless pinned or recorded.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MiddlewareConfig } from '../../config/types.js';
import { generateKeyPair, startFakeSshd, type FakeSshd, type FakeSshdOptions } from '../../../test/support/fake-sshd.js';
import { connectRoute, type ConnectOptions } from './connect.js';
import { AuthFailedError, HostKeyChangedError, HostKeyUnknownError } from './errors.js';
import type { HostKeyAccepted } from './hop.js';
import { silentLog } from './log.js';
import { routeFromMiddleware, type RouteOptions } from './route.js';

const REMOTE_PASSWORD = 'remote-password-1';
const JUMP_PASSWORD = 'jump-password-2';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hv-hop-credentials-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function knownHostsPath(): string {
  return join(dir, `known_hosts-${++files}`);
}

/** A jump sshd and a remote sshd behind it, closed after the test. */
async function hosts(t: { after: (fn: () => Promise<void>) => void }, jump: FakeSshdOptions, remote: FakeSshdOptions): Promise<{ jump: FakeSshd; remote: FakeSshd }> {
  const j = await startFakeSshd(jump);
  t.after(() => j.close());
  const r = await startFakeSshd(remote);
  t.after(() => r.close());
  return { jump: j, remote: r };
}

/** The rpc element for these hosts, both host keys pinned unless `pin` is false. */
function rpc(h: { jump: FakeSshd; remote: FakeSshd }, overrides: Partial<MiddlewareConfig> = {}, pin = true): MiddlewareConfig {
  return {
    key: 'rpc',
    name: 'RpcHerder',
    module: 'pandaharvester.harvestermiddleware.rpc_herder',
    remoteHost: '127.0.0.1',
    remotePort: h.remote.port,
    remoteBindPort: 18861,
    numTunnels: 1,
    sshUserName: 'alice',
    jumpHost: '127.0.0.1',
    jumpPort: h.jump.port,
    launchBot: false,
    useAgent: false,
    strictHostKeyChecking: false,
    botHome: '.harvester',
    remoteCommand: 'harvester',
    transport: 'tcp',
    callTimeout: 60,
    connectTimeout: 30,
    ...(pin ? { hostKeys: { remote: [h.remote.fingerprint], jump: [h.jump.fingerprint] } } : {}),
    extra: {},
    ...overrides,
  };
}

const secret = (value: string) => ({ source: 'inline' as const, value });

async function connect(mw: MiddlewareConfig, routeOptions: Partial<RouteOptions> = {}, options: Partial<ConnectOptions> = {}) {
  const route = routeFromMiddleware(mw, { knownHostsFile: knownHostsPath(), ...routeOptions });
  const link = await connectRoute(route, { log: silentLog, nagleGuard: false, ...options });
  link.close();
  return link;
}

async function connectFails(mw: MiddlewareConfig, routeOptions: Partial<RouteOptions> = {}, options: Partial<ConnectOptions> = {}): Promise<Error> {
  return connect(mw, routeOptions, options).then(
    () => assert.fail('the connection should have failed'),
    (error: unknown) => error as Error,
  );
}

/** Every value a host was offered: passwords and keyboard-interactive answers. */
function offered(host: FakeSshd): string[] {
  return host.attempts.flatMap((a) => [...(a.password !== undefined ? [a.password] : []), ...(a.answers ?? [])]);
}

describe('credentials per hop', () => {
  test("without jump credentials, the remote host's password is never offered to the jump host", async (t) => {
    const h = await hosts(t, { password: JUMP_PASSWORD, keyboardInteractiveAnswer: JUMP_PASSWORD }, { password: REMOTE_PASSWORD });
    const error = await connectFails(rpc(h, { sshPassword: secret(REMOTE_PASSWORD) }));
    assert.ok(error instanceof AuthFailedError, error.message);
    assert.equal(error.step, 'jump-auth');
    assert.deepEqual(error.methodsTried, [], 'nothing to offer the jump host');
    assert.match(error.hint, /shareCredentialsWithJump/);
    assert.deepEqual(offered(h.jump), []);
  });

  test('jumpSshPassword goes to the jump host and sshPassword to the remote host, each only there', async (t) => {
    const h = await hosts(t, { password: JUMP_PASSWORD }, { password: REMOTE_PASSWORD });
    const link = await connect(rpc(h, { sshPassword: secret(REMOTE_PASSWORD), jumpSshPassword: secret(JUMP_PASSWORD), jumpUserName: 'gw' }));
    assert.deepEqual(link.authMethods, { remote: 'password', jump: 'password' });
    assert.deepEqual(h.jump.attempts.filter((a) => a.method === 'password'), [{ method: 'password', username: 'gw', password: JUMP_PASSWORD }]);
    assert.deepEqual(h.remote.attempts.filter((a) => a.method === 'password'), [{ method: 'password', username: 'alice', password: REMOTE_PASSWORD }]);
  });

  test('keyboard-interactive prompts get only the answers configured for that host', async (t) => {
    const h = await hosts(t, { keyboardInteractiveAnswer: 'otp:jump-otp' }, { keyboardInteractiveAnswer: 'otp:remote-otp' });
    const runs: string[] = [];
    const runOtp = (command: string, context: { password?: { reveal(): string } }) => {
      runs.push(`${command} ${context.password?.reveal() ?? '-'}`);
      return Promise.resolve(`otp:${command}`);
    };
    const link = await connect(
      rpc(h, { otpCommand: 'remote-otp', jumpOtpCommand: 'jump-otp', sshPassword: secret(REMOTE_PASSWORD), extra: { preferredAuthentications: 'keyboard-interactive' } }),
      {},
      { runOtp },
    );
    assert.deepEqual(link.authMethods, { remote: 'keyboard-interactive', jump: 'keyboard-interactive' });
    assert.deepEqual(offered(h.jump), ['otp:jump-otp']);
    assert.deepEqual(offered(h.remote), ['otp:remote-otp']);
    // Each command ran with its own hop's password only: the jump host has none.
    assert.deepEqual(runs, ['jump-otp -', `remote-otp ${REMOTE_PASSWORD}`]);
  });

  test("the remote host's otpCommand does not answer the jump host's prompts", async (t) => {
    const h = await hosts(t, { keyboardInteractiveAnswer: 'otp:remote-otp' }, { keyboardInteractiveAnswer: 'otp:remote-otp' });
    const error = await connectFails(rpc(h, { otpCommand: 'remote-otp' }), {}, { runOtp: (command) => Promise.resolve(`otp:${command}`) });
    assert.ok(error instanceof AuthFailedError, error.message);
    assert.equal(error.step, 'jump-auth');
    assert.deepEqual(offered(h.jump), []);
  });

  test('shareCredentialsWithJump offers sshPassword and otpCommand to the jump host too (harvester\'s behaviour)', async (t) => {
    const h = await hosts(t, { password: REMOTE_PASSWORD }, { password: REMOTE_PASSWORD });
    const link = await connect(rpc(h, { sshPassword: secret(REMOTE_PASSWORD), shareCredentialsWithJump: true }));
    assert.deepEqual(link.authMethods, { remote: 'password', jump: 'password' });
  });

  test('jumpPrivateKey logs in to the jump host, privateKey to the remote host', async (t) => {
    const jumpPair = generateKeyPair('jump-phrase');
    const remotePair = generateKeyPair();
    const jumpKeyFile = join(dir, 'id_jump');
    const remoteKeyFile = join(dir, 'id_remote');
    writeFileSync(jumpKeyFile, jumpPair.private, { mode: 0o600 });
    writeFileSync(remoteKeyFile, remotePair.private, { mode: 0o600 });
    const h = await hosts(t, { authorizedKey: jumpPair.public }, { authorizedKey: remotePair.public });
    const link = await connect(rpc(h, { privateKey: remoteKeyFile, jumpPrivateKey: jumpKeyFile, jumpPassPhrase: secret('jump-phrase') }));
    assert.deepEqual(link.authMethods, { remote: 'publickey', jump: 'publickey' });
    const keyOf = (line: string) => line.split(' ').slice(0, 2).join(' ');
    const keysOffered = (host: FakeSshd) => new Set(host.attempts.filter((a) => a.method === 'publickey').map((a) => a.publicKey));
    assert.deepEqual(keysOffered(h.jump), new Set([keyOf(jumpPair.public)]));
    assert.deepEqual(keysOffered(h.remote), new Set([keyOf(remotePair.public)]));
  });
});

describe('host keys', () => {
  test('an unknown host key fails the hop, naming host, port, fingerprint and what to do; nothing is recorded', async (t) => {
    const h = await hosts(t, { password: JUMP_PASSWORD }, { password: REMOTE_PASSWORD });
    const knownHostsFile = knownHostsPath();
    const error = await connectFails(rpc(h, { jumpSshPassword: secret(JUMP_PASSWORD), sshPassword: secret(REMOTE_PASSWORD) }, false), { knownHostsFile });
    assert.ok(error instanceof HostKeyUnknownError, error.message);
    assert.equal(error.step, 'jump-auth');
    assert.equal(error.host, '127.0.0.1');
    assert.equal(error.port, h.jump.port);
    assert.equal(error.presentedFingerprint, h.jump.fingerprint);
    assert.ok(error.message.includes(`127.0.0.1:${h.jump.port}`), error.message);
    assert.ok(error.message.includes(h.jump.fingerprint), error.message);
    assert.match(error.hint, /harvester tunnel-test --queue <queue> --accept-new-host-key/);
    assert.ok(error.hint.includes(`"hostKeys": {"jump": ["${h.jump.fingerprint}"]}`), error.hint);
    assert.equal(existsSync(knownHostsFile), false);
    assert.deepEqual(h.jump.attempts, [], 'no credential was sent to an unverified host');
  });

  test('pinned keys are accepted without known_hosts, and nothing is written', async (t) => {
    const h = await hosts(t, { password: JUMP_PASSWORD }, { password: REMOTE_PASSWORD });
    const knownHostsFile = knownHostsPath();
    const accepted: HostKeyAccepted[] = [];
    await connect(rpc(h, { jumpSshPassword: secret(JUMP_PASSWORD), sshPassword: secret(REMOTE_PASSWORD) }), { knownHostsFile }, { onHostKey: (a) => accepted.push(a) });
    assert.deepEqual(
      accepted.map((a) => [a.step, a.how, a.fingerprint]),
      [
        ['jump-auth', 'pinned', h.jump.fingerprint],
        ['remote-auth', 'pinned', h.remote.fingerprint],
      ],
    );
    assert.equal(existsSync(knownHostsFile), false);
  });

  test('a key pinned for the jump host is not accepted for the remote host', async (t) => {
    const h = await hosts(t, { password: JUMP_PASSWORD }, { password: REMOTE_PASSWORD });
    const mw = rpc(h, { jumpSshPassword: secret(JUMP_PASSWORD), sshPassword: secret(REMOTE_PASSWORD), hostKeys: { jump: [h.jump.fingerprint, h.remote.fingerprint] } });
    const error = await connectFails(mw);
    assert.ok(error instanceof HostKeyUnknownError, error.message);
    assert.equal(error.step, 'remote-auth');
  });

  test('when asked to (tunnel-test --accept-new-host-key), unknown keys are recorded in known_hosts and reported', async (t) => {
    const h = await hosts(t, { password: JUMP_PASSWORD }, { password: REMOTE_PASSWORD });
    const knownHostsFile = knownHostsPath();
    const accepted: HostKeyAccepted[] = [];
    const mw = rpc(h, { jumpSshPassword: secret(JUMP_PASSWORD), sshPassword: secret(REMOTE_PASSWORD) }, false);
    await connect(mw, { knownHostsFile, acceptNewHostKeys: true }, { onHostKey: (a) => accepted.push(a) });
    assert.deepEqual(accepted.map((a) => [a.how, a.fingerprint]), [
      ['recorded', h.jump.fingerprint],
      ['recorded', h.remote.fingerprint],
    ]);
    assert.equal(readFileSync(knownHostsFile, 'utf8'), `${h.jump.knownHostsLine}\n${h.remote.knownHostsLine}\n`);
    // From then on, without the flag: known.
    await connect(mw, { knownHostsFile });
  });

  test('strictHostKeyChecking: true refuses unknown keys even when asked to record them', async (t) => {
    const h = await hosts(t, { password: JUMP_PASSWORD }, { password: REMOTE_PASSWORD });
    const knownHostsFile = knownHostsPath();
    const mw = rpc(h, { jumpSshPassword: secret(JUMP_PASSWORD), strictHostKeyChecking: true }, false);
    const error = await connectFails(mw, { knownHostsFile, acceptNewHostKeys: true });
    assert.ok(error instanceof HostKeyUnknownError, error.message);
    assert.match(error.hint, /strictHostKeyChecking is on/);
    assert.equal(existsSync(knownHostsFile), false);
  });

  test('a changed key stays refused, even when the new key is pinned', async (t) => {
    const h = await hosts(t, { password: JUMP_PASSWORD }, { password: REMOTE_PASSWORD });
    const other = await startFakeSshd({});
    t.after(() => other.close());
    const knownHostsFile = knownHostsPath();
    // known_hosts says the jump host has another key.
    writeFileSync(knownHostsFile, `${other.knownHostsLine.replace(`]:${other.port} `, `]:${h.jump.port} `)}\n`);
    const error = await connectFails(rpc(h, { jumpSshPassword: secret(JUMP_PASSWORD) }), { knownHostsFile, acceptNewHostKeys: true });
    assert.ok(error instanceof HostKeyChangedError, error.message);
    assert.equal(error.step, 'jump-auth');
    assert.equal(error.line, 1);
  });
});
