import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigInvalidError } from '../config/index.js';
import { SecretRegistry } from '../logging/index.js';
import { pandaConfigFrom } from './config.js';

const url = 'https://panda.example.org:25443/server/panda';

describe('pandaConfigFrom', () => {
  test('no pandacon section means no PanDA client', () => {
    assert.equal(pandaConfigFrom({ logLevel: 'info' }), undefined);
  });

  test('fills harvester defaults and keeps unknown keys aside', () => {
    const config = pandaConfigFrom({ pandacon: { pandaURLSSL: url, useInspect: true }, harvester_id: 'cern_central_a' });
    assert.ok(config !== undefined);
    assert.equal(config.pandaURL, url);
    assert.equal(config.timeoutSeconds, 180);
    assert.equal(config.authType, 'x509');
    assert.equal(config.insecure, false);
    assert.equal(config.getEventsChunkSize, 5120);
    assert.equal(config.maxRetries, 3);
    assert.equal(config.harvesterId, 'cern_central_a');
    assert.deepEqual(config.extra, { useInspect: true });
  });

  test('key_file defaults to cert_file (a proxy holds both); relative paths are under the base directory', () => {
    const config = pandaConfigFrom({ pandacon: { pandaURLSSL: url, cert_file: 'x509up', ca_cert: '/etc/grid-security/certificates' } }, { baseDir: '/srv/harvester' });
    assert.equal(config?.certFile, '/srv/harvester/x509up');
    assert.equal(config?.keyFile, '/srv/harvester/x509up');
    assert.equal(config?.caCert, '/etc/grid-security/certificates');
  });

  test('ca_cert false turns verification off as harvester (requests verify=False) does', () => {
    assert.equal(pandaConfigFrom({ pandacon: { pandaURLSSL: url, ca_cert: false } })?.insecure, true);
  });

  test('auth_token in harvester form "file:/path" is kept as a file to read at each call', () => {
    const config = pandaConfigFrom({ pandacon: { pandaURLSSL: url, auth_type: 'oidc', auth_token: 'file:/run/panda/token', auth_origin: 'atlas.pilot' } });
    assert.deepEqual(config?.authToken, { source: 'file', path: '/run/panda/token' });
    assert.equal(config?.authOrigin, 'atlas.pilot');
  });

  test('an env token is resolved at load and registered for masking', () => {
    const secrets = new SecretRegistry();
    const config = pandaConfigFrom(
      { pandacon: { pandaURLSSL: url, auth_type: 'oidc', auth_token: 'env:PANDA_TOKEN', auth_origin: 'atlas' } },
      { env: { PANDA_TOKEN: 'eyJ-token-from-env\n' }, secrets },
    );
    assert.deepEqual(config?.authToken, { source: 'env', variable: 'PANDA_TOKEN', value: 'eyJ-token-from-env' });
    assert.ok(secrets.has('eyJ-token-from-env'));
  });

  test('every problem is reported at once, with its JSON path, and never the token', () => {
    const secrets = new SecretRegistry();
    assert.throws(
      () => pandaConfigFrom({ pandacon: { pandaURLSSL: 'ftp://x', timeout: -1, auth_type: 'oidc' } }, { secrets }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigInvalidError);
        const paths = error.problems.map((p) => p.path).sort();
        assert.deepEqual(paths, ['pandacon.pandaURLSSL', 'pandacon.timeout']);
        return true;
      },
    );
    assert.throws(
      () => pandaConfigFrom({ pandacon: { pandaURLSSL: url, auth_type: 'oidc', auth_token: 'env:MISSING' } }, { env: {}, secrets }),
      (error: unknown) => error instanceof ConfigInvalidError && /pandacon\.auth_token: environment variable MISSING is not set/.test(error.message),
    );
    assert.throws(
      () => pandaConfigFrom({ pandacon: { pandaURLSSL: url, auth_type: 'oidc' } }),
      (error: unknown) => error instanceof ConfigInvalidError && /auth_token: is required with auth_type "oidc"/.test(error.message),
    );
  });

  test('API v1 by default, at scheme://host/api/v1 of pandaURLSSL unless server_api_url_ssl says otherwise', () => {
    const derived = pandaConfigFrom({ pandacon: { pandaURLSSL: 'https://pandaserver.cern.ch:25443/server/panda', pandaCacheURL_W: 'https://pandacache.cern.ch:25443/server/panda' } });
    assert.equal(derived?.api, 'v1');
    assert.equal(derived?.serverApiUrl, 'https://pandaserver.cern.ch:25443/api/v1');
    assert.equal(derived?.cacheApiUrl, 'https://pandacache.cern.ch:25443/api/v1');
    const explicit = pandaConfigFrom({ pandacon: { pandaURLSSL: url, server_api_url_ssl: 'https://panda.example.org/api/v1', api: 'legacy' } });
    assert.equal(explicit?.serverApiUrl, 'https://panda.example.org/api/v1');
    assert.equal(explicit?.api, 'legacy');
  });

  test('a token without auth_origin is a problem naming what to set: PanDA takes the VO from the Origin header', () => {
    assert.throws(
      () => pandaConfigFrom({ pandacon: { pandaURLSSL: url, auth_type: 'oidc', auth_token: 'file:/run/panda/token' } }),
      (error: unknown) => error instanceof ConfigInvalidError && /pandacon\.auth_origin: is required with auth_type "oidc": PanDA takes the VO from it/.test(error.message),
    );
  });

  test('a pandacon that is not an object is a problem', () => {
    assert.throws(() => pandaConfigFrom({ pandacon: 'https://x' }), ConfigInvalidError);
  });
});
