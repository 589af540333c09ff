// TLS to a database server that cannot be set up as configured: the server's certificate does not verify
// (CA, name, validity), or the server does not offer TLS at all while db.tls asks for it. Both are
// configuration errors that waiting does not fix: never retried (not even by the agents' reconnectTimeout),
// and told in one line with the db.tls setting that fixes them.
import { StoreTlsError } from '../errors.js';
import { serverTarget, type ServerConnectionSettings } from './settings.js';

/** OpenSSL's codes for a server certificate not signed by a CA we trust. */
const untrustedCodes: ReadonlySet<string> = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REJECTED',
  // MariaDB's connector: a self-signed certificate it could not authenticate otherwise.
  'ER_SELF_SIGNED',
  'ER_SELF_SIGNED_NO_PWD',
  'ER_SELF_SIGNED_BAD_PLUGIN',
  'ER_SELF_SIGNED_SHA256',
]);

const validityCodes: ReadonlySet<string> = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);
const identityCodes: ReadonlySet<string> = new Set(['ERR_TLS_CERT_ALTNAME_INVALID', 'ER_TLS_IDENTITY_ERROR']);
/** The server answered that it does not do TLS (MariaDB's connector; node-postgres says it in words only). */
const notOfferedCodes: ReadonlySet<string> = new Set(['ER_SERVER_SSL_DISABLED']);
const pgNotOffered = /server does not support SSL connections/i;

export interface TlsFailure {
  /** "TLS verification failed: ..." or "the server does not offer TLS ...", with the setting that fixes it. */
  readonly reason: string;
}

interface CodedError {
  readonly code?: unknown;
  readonly message?: unknown;
  readonly cause?: unknown;
}

/** The error, or one of its causes, as a TLS failure; undefined for any other error. */
export function tlsFailureOf(error: unknown): TlsFailure | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const failure = classify(current as CodedError);
    if (failure !== undefined) return failure;
    current = (current as CodedError).cause;
  }
  return undefined;
}

function classify(error: CodedError): TlsFailure | undefined {
  const code = typeof error.code === 'string' ? error.code : '';
  // The connectors' own message, first line only (MariaDB's may append the connection's details).
  const text = String(error.message ?? '').split('\n')[0] ?? '';
  const said = code === '' ? text : `${code}: ${text}`;
  if (untrustedCodes.has(code)) {
    return { reason: `TLS verification failed: the server's certificate is not signed by a CA we trust (${said}); set db.tls.ca to the CA file that signed it` };
  }
  if (validityCodes.has(code)) {
    return { reason: `TLS verification failed: the server's certificate is outside its validity period (${said}); check the clocks, or the server's certificate` };
  }
  if (identityCodes.has(code)) {
    return { reason: `TLS verification failed: the server's certificate does not name this host (${said}); set db.host to a name the certificate holds` };
  }
  if (notOfferedCodes.has(code) || pgNotOffered.test(text)) {
    return { reason: `the server does not offer TLS, which db.tls requires (${said}); enable TLS on the server (or leave db.tls out, on a trusted network only)` };
  }
  return undefined;
}

/** The error as a StoreTlsError naming the server and user (never the password), or undefined when it is no TLS failure. */
export function tlsErrorOf(error: unknown, database: string, operation: string, settings: Pick<ServerConnectionSettings, 'host' | 'port' | 'user'>): StoreTlsError | undefined {
  const failure = tlsFailureOf(error);
  if (failure === undefined) return undefined;
  return new StoreTlsError(database, operation, `connect with TLS to ${serverTarget(settings)}`, failure.reason, { cause: error });
}
