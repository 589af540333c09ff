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
    assert.deepEqual(route.remote, { host: 'cori04', port: 22, user: 'alice' });
    assert.deepEqual(route.jump, { host: 'cori.nersc.gov', port: 2222, user: 'alice' });
    assert.equal(route.auth.password?.reveal(), password);
    assert.equal(route.auth.passphrase?.reveal(), passphrase);
    assert.equal(route.auth.privateKeyPath, '/home/alice/.ssh/id_ed25519');
    const withJumpUser = routeFromMiddleware(middleware({ jumpUserName: 'gateway' }), { knownHostsFile: 'kh' });
    assert.equal(withJumpUser.jump?.user, 'gateway');
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
    const route = routeFromMiddleware(middleware(), { knownHostsFile: 'kh' });
    for (const text of [describeRoute(route), routeKey(route), JSON.stringify(route), inspect(route, { depth: 10 }), String(route.auth.password)]) {
      assert.ok(!text.includes(password), text);
      assert.ok(!text.includes(passphrase), text);
    }
  });

  test('routes to the same place with the same credentials share a key; any difference splits them', () => {
    const key = (mw: MiddlewareConfig) => routeKey(routeFromMiddleware(mw, { knownHostsFile: 'kh' }));
    assert.equal(key(middleware()), key(middleware({ numTunnels: 5, callTimeout: 10 })));
    assert.notEqual(key(middleware()), key(middleware({ remoteBindPort: 18862 })));
    assert.notEqual(key(middleware()), key(middleware({ jumpHost: 'other' })));
    assert.notEqual(key(middleware()), key(middleware({ sshPassword: { source: 'inline', value: 'different' } })));
  });

  test('RedactedSecret reveals only on request', () => {
    const secret = new RedactedSecret('s3cret');
    assert.equal(secret.reveal(), 's3cret');
    assert.equal(`${secret}`, '***');
    assert.equal(JSON.stringify({ secret }), '{"secret":"***"}');
    assert.equal(inspect(secret), '***');
  });
});
