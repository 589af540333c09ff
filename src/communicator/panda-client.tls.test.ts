import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, SecretRegistry } from '../logging/index.js';
import { pandaConfigFrom } from './config.js';
import { PandaNetworkError, PandaTlsError, type PandaCommunicatorError } from './errors.js';
import { PandaClient } from './panda-client.js';
import { FakePandaServer } from '../../test/support/panda/fake-panda-server.js';
import { makeTestPki, opensslAvailable, type TestPki } from '../../test/support/panda/test-pki.js';

// Without openssl the certificates cannot be made: skip and say why (under CI that is a broken machine).
const skip = opensslAvailable() ? false : 'the openssl command is not installed (apt-get install openssl)';
if (skip !== false && process.env.CI === 'true') throw new Error(`TLS tests cannot run: ${skip}`);

function quietClient(pandacon: Record<string, unknown>, lines: string[] = []): PandaClient {
  const secrets = new SecretRegistry();
  const destination = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const config = pandaConfigFrom({ pandacon: { timeout: 5, maxRetries: 0, ...pandacon } }, { secrets });
  assert.ok(config !== undefined);
  return new PandaClient(config, { logger: createLogger({ destination, secrets }), secrets });
}

describe('PandaClient over TLS with X.509 client certificates', { skip }, () => {
  let dir: string;
  let pki: TestPki;
  let server: FakePandaServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'panda-pki-'));
    pki = makeTestPki(dir);
    server = await FakePandaServer.start({
      tls: { cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey), ca: readFileSync(pki.caCert), requireClientCert: true },
    });
  });
  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a client certificate signed by the CA the server trusts is accepted, the server verified by ca_cert', async () => {
    const client = quietClient({ pandaURLSSL: server.url, cert_file: pki.clientCert, key_file: pki.clientKey, ca_cert: pki.caCert });
    assert.equal((await client.checkPanda()).alive, true);
    assert.equal(server.requestsTo('system/is_alive').at(-1)?.clientCertSubject, 'harvester-ts test client');
  });

  test('ca_cert may be a directory of CA certificates, as /etc/grid-security/certificates', async () => {
    const caDir = join(dir, 'certificates');
    mkdirSync(caDir, { recursive: true });
    copyFileSync(pki.caCert, join(caDir, 'harvester-test-ca.pem'));
    const client = quietClient({ pandaURLSSL: server.url, cert_file: pki.clientCert, key_file: pki.clientKey, ca_cert: caDir });
    assert.equal((await client.checkPanda()).alive, true);
  });

  test('a server certificate from an unknown CA is a PandaTlsError, not retried', async () => {
    const client = quietClient({ pandaURLSSL: server.url, cert_file: pki.clientCert, key_file: pki.clientKey, maxRetries: 3 });
    const before = server.requests.length;
    await assert.rejects(client.checkPanda(), (error: unknown) => {
      assert.ok(error instanceof PandaTlsError, String(error));
      assert.equal(error.attempts, 1);
      assert.match(error.message, /system\/is_alive at https:\/\/127\.0\.0\.1:\d+\/api\/v1\/system\/is_alive failed: TLS failure/);
      assert.match(error.message, /not signed by a CA we trust: set pandacon\.ca_cert to the CA file or directory/);
      return true;
    });
    assert.equal(server.requests.length, before);
  });

  test('without a client certificate, or with one the CA never signed, the server refuses the connection', async () => {
    for (const pandacon of [
      { pandaURLSSL: server.url, ca_cert: pki.caCert },
      { pandaURLSSL: server.url, ca_cert: pki.caCert, cert_file: pki.strangerCert, key_file: pki.strangerKey },
    ]) {
      const before = server.requests.length;
      await assert.rejects(quietClient(pandacon).checkPanda(), (error: unknown) => {
        // Under TLS 1.3 the refusal arrives after the handshake: an alert, or a reset connection.
        assert.ok(error instanceof PandaTlsError || error instanceof PandaNetworkError, String(error));
        assert.equal((error as PandaCommunicatorError).method, 'system/is_alive');
        return true;
      });
      assert.equal(server.requests.length, before, 'no request reached the server');
    }
  });

  test('insecure skips verification of the server and says so loudly in the log', async () => {
    const lines: string[] = [];
    const client = quietClient({ pandaURLSSL: server.url, cert_file: pki.clientCert, key_file: pki.clientKey, insecure: true }, lines);
    assert.equal((await client.checkPanda()).alive, true);
    const warning = lines.map((l) => JSON.parse(l) as { level: number; msg: string }).find((l) => l.msg.startsWith('INSECURE'));
    assert.equal(warning?.level, 40);
  });

  test('a missing certificate file is a typed error naming the file', async () => {
    const missing = join(dir, 'no-such-proxy');
    await assert.rejects(quietClient({ pandaURLSSL: server.url, cert_file: missing, ca_cert: pki.caCert }).checkPanda(), (error: unknown) => {
      assert.ok(error instanceof Error && error.name === 'PandaCredentialsError');
      assert.match(error.message, new RegExp(`cannot use cert_file ${missing}: no such file`));
      return true;
    });
  });
});
