import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import type { MiddlewareConfig } from '../../config/types.js';
import { RedactedSecret, describeRoute, routeFromMiddleware, routeKey } from './route.js';

const password = 'pw-that-must-not-leak';
const passphrase = 'phrase-that-must-not-leak';

function middleware(overrides: Partial<MiddlewareConfig> = {}): MiddlewareConfig {
  return {
    key: 'rpc',
    name: 'RpcHerder',
    module: 'pandaharvester.harvestermiddleware.rpc_herder',
    remoteHost: 'cori04',
    remotePort: 22,
    remoteBindPort: 18861,
    numTunnels: 3,
    sshUserName: 'alice',
    sshPassword: { source: 'inline', value: password },
    privateKey: '/home/alice/.ssh/id_ed25519',
    passPhrase: { source: 'env', ref: 'PHRASE', value: passphrase },
    jumpHost: 'cori.nersc.gov',
    jumpPort: 2222,
    launchBot: false,
    useAgent: false,
    strictHostKeyChecking: false,
    botHome: '.harvester-bot',
    remoteCommand: 'harvester',
    transport: 'tcp',
    callTimeout: 60,
    connectTimeout: 30,
    extra: {},
    ...overrides,
  };
}

describe('SshRoute', () => {
  test('builds both hops from the rpc element, the jump user defaulting to sshUserName', () => {
    const route = routeFromMiddleware(middleware(), { knownHostsFile: '/var/lib/harvester/known_hosts' });
    assert.deepEqual([route.remote.host, route.remote.port, route.remote.user], ['cori04', 22, 'alice']);
    assert.deepEqual([route.jump?.host, route.jump?.port, route.jump?.user], ['cori.nersc.gov', 2222, 'alice']);
    assert.equal(route.remote.auth.password?.reveal(), password);
    assert.equal(route.remote.auth.passphrase?.reveal(), passphrase);
    assert.equal(route.remote.auth.privateKeyPath, '/home/alice/.ssh/id_ed25519');
    const withJumpUser = routeFromMiddleware(middleware({ jumpUserName: 'gateway' }), { knownHostsFile: 'kh' });
    assert.equal(withJumpUser.jump?.user, 'gateway');
  });

  test("the remote host's password is not offered to the jump host unless shareCredentialsWithJump", () => {
    const route = routeFromMiddleware(middleware(), { knownHostsFile: 'kh' });
    assert.equal(route.jump?.auth.password, undefined);
    const shared = routeFromMiddleware(middleware({ shareCredentialsWithJump: true }), { knownHostsFile: 'kh' });
    assert.equal(shared.jump?.auth.password?.reveal(), password);
  });

  test('without keys of its own, the jump host uses privateKey with its passPhrase (as harvester does)', () => {
    const route = routeFromMiddleware(middleware(), { knownHostsFile: 'kh' });
    assert.equal(route.jump?.auth.privateKeyPath, '/home/alice/.ssh/id_ed25519');
    assert.equal(route.jump?.auth.passphrase?.reveal(), passphrase);
  });

  test('jumpSshPassword, jumpPrivateKey and jumpPassPhrase go to the jump host only', () => {
    const route = routeFromMiddleware(
      middleware({
        jumpSshPassword: { source: 'inline', value: 'jump-pw' },
        jumpPrivateKey: '/keys/gateway',
        jumpPassPhrase: { source: 'inline', value: 'jump-phrase' },
        shareCredentialsWithJump: true,
      }),
      { knownHostsFile: 'kh' },
    );
    assert.equal(route.jump?.auth.password?.reveal(), 'jump-pw', "the jump host's own password wins over a shared one");
    assert.equal(route.jump?.auth.privateKeyPath, '/keys/gateway');
    assert.equal(route.jump?.auth.passphrase?.reveal(), 'jump-phrase');
    assert.equal(route.remote.auth.password?.reveal(), password);
    assert.equal(route.remote.auth.privateKeyPath, '/home/alice/.ssh/id_ed25519');
    assert.equal(route.remote.auth.passphrase?.reveal(), passphrase);
  });

  test("a jump key without jumpPassPhrase is not decrypted with the remote key's passPhrase", () => {
    const route = routeFromMiddleware(middleware({ jumpPrivateKey: '/keys/gateway' }), { knownHostsFile: 'kh' });
    assert.equal(route.jump?.auth.passphrase, undefined);
  });

  test('otpCommand answers the remote host, jumpOtpCommand the jump host', () => {
    const route = routeFromMiddleware(middleware({ otpCommand: 'remote-otp', jumpOtpCommand: 'jump-otp' }), { knownHostsFile: 'kh' });
    assert.equal(route.remote.auth.otpCommand, 'remote-otp');
    assert.equal(route.jump?.auth.otpCommand, 'jump-otp');
    const remoteOnly = routeFromMiddleware(middleware({ otpCommand: 'remote-otp' }), { knownHostsFile: 'kh' });
    assert.equal(remoteOnly.jump?.auth.otpCommand, undefined);
    const shared = routeFromMiddleware(middleware({ otpCommand: 'remote-otp', shareCredentialsWithJump: true }), { knownHostsFile: 'kh' });
    assert.equal(shared.jump?.auth.otpCommand, 'remote-otp');
  });

  test('pinned host keys belong to their hop', () => {
    const remoteKey = `SHA256:${'r'.repeat(43)}`;
    const jumpKey = `SHA256:${'j'.repeat(43)}`;
    const route = routeFromMiddleware(middleware({ hostKeys: { remote: [remoteKey], jump: [jumpKey] } }), { knownHostsFile: 'kh' });
    assert.deepEqual(route.remote.pinnedHostKeys, [remoteKey]);
    assert.deepEqual(route.jump?.pinnedHostKeys, [jumpKey]);
  });

  test('unknown host keys are refused unless the caller asks to record them, and strictHostKeyChecking forbids that', () => {
    assert.equal(routeFromMiddleware(middleware(), { knownHostsFile: 'kh' }).unknownHostKeys, 'refuse');
    assert.equal(routeFromMiddleware(middleware(), { knownHostsFile: 'kh', acceptNewHostKeys: true }).unknownHostKeys, 'record');
    assert.equal(routeFromMiddleware(middleware({ strictHostKeyChecking: true }), { knownHostsFile: 'kh', acceptNewHostKeys: true }).unknownHostKeys, 'refuse');
  });

  test('has no jump hop without a jumpHost', () => {
    const route = routeFromMiddleware(middleware({ jumpHost: undefined }), { knownHostsFile: 'kh' });
    assert.equal(route.jump, undefined);
    assert.equal(describeRoute(route), 'alice@cori04:22');
  });

  test('displays as user@host:port via jumpUser@jump:port', () => {
    const route = routeFromMiddleware(middleware({ jumpUserName: 'gw' }), { knownHostsFile: 'kh' });
    assert.equal(describeRoute(route), 'alice@cori04:22 via gw@cori.nersc.gov:2222');
  });

  test('never shows a secret in its display form, key, JSON or inspect output', () => {
    const route = routeFromMiddleware(
      middleware({ jumpSshPassword: { source: 'inline', value: 'jump-pw-that-must-not-leak' }, jumpPrivateKey: '/k', jumpPassPhrase: { source: 'inline', value: 'jump-phrase-that-must-not-leak' } }),
      { knownHostsFile: 'kh' },
    );
    for (const text of [describeRoute(route), routeKey(route), JSON.stringify(route), inspect(route, { depth: 10 }), String(route.remote.auth.password)]) {
      for (const secret of [password, passphrase, 'jump-pw-that-must-not-leak', 'jump-phrase-that-must-not-leak']) assert.ok(!text.includes(secret), text);
    }
  });

  test('routes to the same place with the same credentials share a key; any difference splits them', () => {
    const key = (mw: MiddlewareConfig) => routeKey(routeFromMiddleware(mw, { knownHostsFile: 'kh' }));
    assert.equal(key(middleware()), key(middleware({ numTunnels: 5, callTimeout: 10 })));
    assert.notEqual(key(middleware()), key(middleware({ remoteBindPort: 18862 })));
    assert.notEqual(key(middleware()), key(middleware({ jumpHost: 'other' })));
    assert.notEqual(key(middleware()), key(middleware({ sshPassword: { source: 'inline', value: 'different' } })));
    assert.notEqual(key(middleware()), key(middleware({ jumpSshPassword: { source: 'inline', value: 'jump-only' } })));
    assert.notEqual(key(middleware()), key(middleware({ hostKeys: { jump: [`SHA256:${'j'.repeat(43)}`] } })));
  });

  test('RedactedSecret reveals only on request', () => {
    const secret = new RedactedSecret('s3cret');
    assert.equal(secret.reveal(), 's3cret');
    assert.equal(`${secret}`, '***');
    assert.equal(JSON.stringify({ secret }), '{"secret":"***"}');
    assert.equal(inspect(secret), '***');
  });
});
