// TLS to PostgreSQL and MariaDB (the servers of scripts/db-servers offer it, with a certificate of a
// throwaway CA for 127.0.0.1): what db.tls promises. Verified against the CA that signed the server's
// certificate, the store works and its sessions are encrypted; a certificate that does not verify (another
// CA, or the system's CAs) is refused at once, in one line naming the server and user and saying that TLS
// verification failed, never the password and never retried; rejectUnauthorized false encrypts without
// verifying; and a server that offers no TLS is refused, never used in plain text.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkSpec } from '../../src/spec/index.js';
import { StoreTlsError } from '../../src/store/errors.js';
import { openServerStore, serverDriverFor } from '../../src/store/server/open-server-store.js';
import type { ServerConnectionSettings } from '../../src/store/server/settings.js';
import { runCli } from '../cli/support.js';
import { createTestDatabase, dbServersProblem, dropTestDatabases, loadDbServers, serverEngines, serverSettings, type DbServersEnv } from '../support/store/db-servers.js';
import { startTlsStrippingProxy } from '../support/store/tls-stripping-proxy.js';

/** The TLS cipher of the session a driver's transaction runs on; '' when the session is not encrypted. */
async function sessionCipher(settings: ServerConnectionSettings): Promise<string> {
  const driver = await serverDriverFor(settings);
  try {
    return await driver.transaction('cipher', async (session) => {
      if (settings.engine === 'postgresql') {
        const [row] = await session.query('SELECT "ssl", "cipher" FROM pg_stat_ssl WHERE "pid" = pg_backend_pid()');
        return row?.ssl === true ? String(row.cipher ?? '') : '';
      }
      const [row] = await session.query(`SHOW SESSION STATUS LIKE 'Ssl_cipher'`);
      return String(row?.Value ?? '');
    });
  } finally {
    await driver.close();
  }
}

/** Asserts the one-line TLS refusal: engine, host, port and user named, "TLS verification failed", no password. */
function assertTlsRefusal(error: unknown, settings: ServerConnectionSettings, env: DbServersEnv, what: RegExp): void {
  assert.ok(error instanceof StoreTlsError, String(error));
  assert.equal(error.message.split('\n').length, 1, error.message);
  assert.match(error.message, new RegExp(`${settings.engine}://${settings.user}@${settings.host}:${settings.port}/`));
  assert.match(error.message, new RegExp(`connect with TLS to ${settings.host.replace(/\./g, '\\.')}:${settings.port} as user ${settings.user}`));
  assert.match(error.message, what);
  assert.doesNotMatch(error.message, new RegExp(env.password));
}

const env = loadDbServers();
const homes = mkdtempSync(join(tmpdir(), 'hv-dbtls-'));
after(() => rmSync(homes, { recursive: true, force: true }));

const tlsProblem =
  env !== undefined && env.tls === undefined
    ? 'the connection file has no "tls" (servers started by an older scripts/db-servers): run scripts/db-servers down, then up'
    : undefined;
if (tlsProblem !== undefined && process.env.CI === 'true') throw new Error(tlsProblem);

if (env === undefined || env.tls === undefined) {
  test('TLS to PostgreSQL and MariaDB', (t) => t.skip(dbServersProblem() ?? tlsProblem));
} else {
  const tls = env.tls;
  const ca = readFileSync(tls.ca, 'utf8');
  const otherCa = readFileSync(tls.otherCa, 'utf8');
  for (const engine of serverEngines) {
    after(() => dropTestDatabases(env, engine));
    describe(`TLS to ${engine}`, () => {
      test('verified against the CA that signed the server certificate, the store works and its sessions are encrypted', async () => {
        const settings = serverSettings(env, engine, await createTestDatabase(env, engine), { tls: { ca, rejectUnauthorized: true } });
        const store = await openServerStore(settings);
        try {
          await store.insertWorkers([new WorkSpec({ computingSite: 'Q_TLS', status: 'running' })]);
          assert.deepEqual(await store.getWorkerStats('Q_TLS'), { running: 1 });
        } finally {
          await store.close();
        }
        assert.notEqual(await sessionCipher(settings), '', 'the session has a TLS cipher');
        // The check itself tells a plain session from an encrypted one.
        assert.equal(await sessionCipher(serverSettings(env, engine, settings.schema)), '', 'a session without db.tls is not encrypted');
      });

      test('a server certificate signed by another CA is refused at once, in one line saying TLS verification failed, without the password', async () => {
        const events: string[] = [];
        // The agents' patience (reconnectTimeout) does not apply: waiting does not fix a certificate.
        const settings = serverSettings(env, engine, env[engine].database, { tls: { ca: otherCa, rejectUnauthorized: true }, reconnectTimeoutSec: 300, onEvent: (e) => events.push(e.kind) });
        const error = await openServerStore(settings).then(
          () => assert.fail('a certificate of another CA was accepted'),
          (e: unknown) => e,
        );
        assertTlsRefusal(error, settings, env, /TLS verification failed: the server's certificate is not signed by a CA we trust .*set db\.tls\.ca/);
        assert.deepEqual(events, [], 'not retried');
      });

      test('tls true (the system CAs) refuses the certificate of the throwaway CA', async () => {
        const settings = serverSettings(env, engine, env[engine].database, { tls: { rejectUnauthorized: true } });
        const error = await openServerStore(settings).then(
          () => assert.fail('the system CAs accepted the test CA'),
          (e: unknown) => e,
        );
        assertTlsRefusal(error, settings, env, /TLS verification failed/);
      });

      test('a certificate that does not name the host connected to is refused, naming TLS verification and db.host', async (t) => {
        // 127.0.0.1 as an IPv4-mapped IPv6 address reaches the same server, but is not the certificate's 127.0.0.1.
        const host = '::ffff:127.0.0.1';
        const reachable = await openServerStore(serverSettings(env, engine, env[engine].database, { host })).then(
          async (store) => (await store.close(), true),
          () => false,
        );
        if (!reachable) return t.skip(`${host} does not reach the server here (no IPv6 in this network namespace?)`);
        const settings = serverSettings(env, engine, env[engine].database, { host, tls: { ca, rejectUnauthorized: true } });
        const error = await openServerStore(settings).then(
          () => assert.fail('a certificate for another name was accepted'),
          (e: unknown) => e,
        );
        assert.ok(error instanceof StoreTlsError, String(error));
        assert.match(error.message, /TLS verification failed: the server's certificate does not name this host .*set db\.host/);
        assert.doesNotMatch(error.message, new RegExp(env.password));
      });

      test('rejectUnauthorized false encrypts the session without verifying the certificate', async () => {
        const settings = serverSettings(env, engine, await createTestDatabase(env, engine), { tls: { ca: otherCa, rejectUnauthorized: false } });
        const store = await openServerStore(settings);
        await store.close();
        assert.notEqual(await sessionCipher(settings), '', 'the session has a TLS cipher');
      });

      test('a server that offers no TLS is refused when db.tls is set, never used in plain text', async () => {
        const proxy = await startTlsStrippingProxy(engine, env[engine]);
        try {
          const events: string[] = [];
          const settings = serverSettings(env, engine, env[engine].database, { port: proxy.port, tls: { ca, rejectUnauthorized: true }, reconnectTimeoutSec: 300, onEvent: (e) => events.push(e.kind) });
          const error = await openServerStore(settings).then(
            () => assert.fail('the store went on without TLS'),
            (e: unknown) => e,
          );
          assertTlsRefusal(error, settings, env, /the server does not offer TLS, which db\.tls requires/);
          assert.deepEqual(events, [], 'not retried');
          // The proxy passes a session without TLS through: the refusal above is the client's, not a broken proxy.
          const plain = await openServerStore(serverSettings(env, engine, env[engine].database, { port: proxy.port }));
          await plain.close();
        } finally {
          await proxy.close();
        }
      });

      test('an admin command with db.tls.ca reads over TLS; with another CA it fails in one line naming the server, user and TLS, never the password', async () => {
        const server = env[engine];
        const schema = await createTestDatabase(env, engine);
        const seed = await openServerStore(serverSettings(env, engine, schema));
        try {
          await seed.insertWorkers([new WorkSpec({ computingSite: 'Q_TLS_CLI', status: 'running' })]);
        } finally {
          await seed.close();
        }
        const configure = (caFile: string): string => {
          const home = mkdtempSync(join(homes, `${engine}-`));
          writeFileSync(join(home, 'db-password'), `${env.password}\n`);
          const db = { engine, host: server.host, port: server.port, user: server.user, password: { file: 'db-password' }, schema, tls: { ca: caFile } };
          writeFileSync(join(home, 'harvester.json'), JSON.stringify({ db }));
          return home;
        };
        const ok = await runCli(['workers', 'list', '--json'], { home: configure(tls.ca), timeoutMs: 60_000 });
        assert.equal(ok.status, 0, ok.stderr);
        assert.match(ok.stdout, /Q_TLS_CLI/);

        const refused = await runCli(['workers', 'list'], { home: configure(tls.otherCa), timeoutMs: 60_000 });
        assert.equal(refused.status, 1, refused.stderr);
        assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
        assert.match(refused.stderr, new RegExp(`${engine}://${server.user}@${server.host}:${server.port}/${schema}`));
        assert.match(refused.stderr, /TLS verification failed/);
        assert.doesNotMatch(refused.stderr + refused.stdout, new RegExp(env.password));
      });
    });
  }

  test('a db.tls.ca that cannot be read fails in one line naming the file', async () => {
    const home = mkdtempSync(join(homes, 'missing-ca-'));
    const server = env.postgresql;
    const missing = join(home, 'no-such-ca.pem');
    writeFileSync(join(home, 'harvester.json'), JSON.stringify({ db: { engine: 'postgresql', host: server.host, port: server.port, user: server.user, schema: server.database, tls: { ca: missing } } }));
    const result = await runCli(['workers', 'list'], { home, timeoutMs: 60_000 });
    assert.equal(result.status, 1, result.stderr);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`cannot read db\\.tls\\.ca ${missing.replace(/[.]/g, '\\.')} \\(ENOENT\\)`));
  });
}
