// The routes `harvester run` builds (one BotClient and tunnel pool per route) never accept an unknown host
// key: the herder's own route, connected to an in-process sshd whose key nobody recorded or pinned.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MiddlewareConfig } from '../../config/index.js';
import { createLogger } from '../../logging/index.js';
import { startFakeSshd } from '../../../test/support/fake-sshd.js';
import { connectRoute, HostKeyUnknownError, silentLog } from '../ssh/index.js';
import { RpcMiddlewareProvider } from './rpc-provider.js';

describe('the herder and host keys', () => {
  test("the herder's routes refuse an unknown host key and record nothing, strictHostKeyChecking or not", async (t) => {
    const sshd = await startFakeSshd({ password: 'remote-password-1' });
    t.after(() => sshd.close());
    const dir = mkdtempSync(join(tmpdir(), 'hv-herder-hostkey-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const knownHostsFile = join(dir, 'known_hosts');
    const provider = new RpcMiddlewareProvider({ knownHostsFile, log: createLogger({ level: 'silent' }) });
    t.after(() => provider.close());
    const mw = {
      key: 'rpc',
      name: 'RpcHerder',
      module: 'pandaharvester.harvestermiddleware.rpc_herder',
      remoteHost: '127.0.0.1',
      remotePort: sshd.port,
      remoteBindPort: 18861,
      numTunnels: 1,
      sshUserName: 'alice',
      sshPassword: { source: 'inline', value: 'remote-password-1' },
      jumpPort: 22,
      launchBot: false,
      useAgent: false,
      strictHostKeyChecking: false,
      botHome: '.harvester',
      remoteCommand: 'harvester',
      transport: 'tcp',
      callTimeout: 60,
      connectTimeout: 30,
      extra: {},
    } satisfies MiddlewareConfig;
    const route = provider.clientFor(mw).route;
    assert.equal(route.unknownHostKeys, 'refuse');
    const error = await connectRoute(route, { log: silentLog, nagleGuard: false }).then(
      (link) => {
        link.close();
        return assert.fail('an unknown host key must not be accepted');
      },
      (e: unknown) => e as Error,
    );
    assert.ok(error instanceof HostKeyUnknownError, error.message);
    assert.equal(error.presentedFingerprint, sshd.fingerprint);
    assert.equal(existsSync(knownHostsFile), false);
    assert.deepEqual(sshd.attempts, [], 'no credential went to the unverified host');
  });
});
