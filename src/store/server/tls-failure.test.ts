import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StoreTlsError } from '../errors.js';
import { tlsErrorOf, tlsFailureOf } from './tls-failure.js';

function coded(code: string, message: string, cause?: unknown): Error {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { code });
}

test('certificate problems are told apart: CA, validity period, host name', () => {
  assert.match(tlsFailureOf(coded('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'))?.reason ?? '', /not signed by a CA we trust .*db\.tls\.ca/);
  assert.match(tlsFailureOf(coded('CERT_HAS_EXPIRED', 'certificate has expired'))?.reason ?? '', /^TLS verification failed: .*outside its validity period/);
  assert.match(tlsFailureOf(coded('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"))?.reason ?? '', /does not name this host .*db\.host/);
});

test('a TLS failure wrapped as the cause of another error is found', () => {
  const wrapped = coded('ER_GET_CONNECTION_TIMEOUT', 'retrieve connection from pool timeout', coded('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate'));
  assert.match(tlsFailureOf(wrapped)?.reason ?? '', /UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
});

test('a server without TLS is named as such (MariaDB by code, PostgreSQL by its words)', () => {
  assert.match(tlsFailureOf(coded('ER_SERVER_SSL_DISABLED', 'Trying to connect with ssl, but ssl not enabled in the server'))?.reason ?? '', /does not offer TLS/);
  assert.match(tlsFailureOf(new Error('The server does not support SSL connections'))?.reason ?? '', /does not offer TLS/);
});

test('other errors are no TLS failure: refused connections and logins stay what they are', () => {
  assert.equal(tlsFailureOf(coded('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432')), undefined);
  assert.equal(tlsFailureOf(coded('28P01', 'password authentication failed for user "hv"')), undefined);
  assert.equal(tlsErrorOf('not an error', 'db', 'open', { host: 'h', port: 1, user: 'u' }), undefined);
});

test('the store error names the server and user, on one line', () => {
  const error = tlsErrorOf(coded('CERT_UNTRUSTED', 'certificate not trusted'), 'postgresql://hv@db:5432/hv', 'open', { host: 'db', port: 5432, user: 'hv' });
  assert.ok(error instanceof StoreTlsError);
  assert.equal(error.message.split('\n').length, 1);
  assert.match(error.message, /^open on postgresql:\/\/hv@db:5432\/hv: connect with TLS to db:5432 as user hv: TLS verification failed/);
});
