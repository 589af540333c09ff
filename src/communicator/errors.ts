// Failures of calls to the PanDA server. Each names the URL (without credentials), the PanDA method and what
// went wrong, so an operator can tell a dead server from a refused certificate from a broken answer. Nothing
// here ever holds the token or key material: server text quoted in a message is masked and cut short.
import { JobSourceError } from './job-source.js';

/** A URL fit for a message: user and password removed, query string dropped. */
export function displayUrl(url: URL | string): string {
  const copy = new URL(url.toString());
  copy.username = '';
  copy.password = '';
  copy.search = '';
  copy.hash = '';
  return copy.toString();
}

export class PandaCommunicatorError extends JobSourceError {
  constructor(
    method: string,
    /** The endpoint called, already stripped for display. */
    readonly url: string,
    /** How many times the request was sent before giving up. */
    readonly attempts: number,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(method, `PanDA ${method} at ${url} failed${attempts > 1 ? ` after ${attempts} attempts` : ''}: ${reason}`, options);
    this.name = 'PandaCommunicatorError';
  }
}

/** The server answered with an HTTP status other than 200. */
export class PandaHttpError extends PandaCommunicatorError {
  constructor(
    method: string,
    url: string,
    attempts: number,
    readonly status: number,
    /** The start of the response body (masked). */
    readonly bodyExcerpt: string,
    /** What to change when the status says what is wrong (the API the server speaks). */
    readonly advice?: string,
  ) {
    super(method, url, attempts, `HTTP ${status}${bodyExcerpt === '' ? '' : `: ${bodyExcerpt}`}${advice === undefined ? '' : ` (${advice})`}`);
    this.name = 'PandaHttpError';
  }
}

/** No complete answer within the deadline. */
export class PandaTimeoutError extends PandaCommunicatorError {
  constructor(
    method: string,
    url: string,
    attempts: number,
    readonly timeoutMs: number,
  ) {
    super(method, url, attempts, `no answer within ${timeoutMs} ms (pandacon.timeout)`);
    this.name = 'PandaTimeoutError';
  }
}

/** The connection failed or broke (refused, reset, unknown host...). */
export class PandaNetworkError extends PandaCommunicatorError {
  constructor(
    method: string,
    url: string,
    attempts: number,
    /** The system error code, e.g. ECONNREFUSED. */
    readonly code: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(method, url, attempts, `${code}${detail === '' ? '' : ` (${detail})`}`, options);
    this.name = 'PandaNetworkError';
  }
}

/** OpenSSL's codes for a server certificate that does not verify against the CAs we trust. */
const SERVER_CA_CODES: ReadonlySet<string> = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE',
]);

/** What to set for a TLS failure: the CA problem named, with the option that fixes it. */
function tlsAdvice(code: string): string {
  if (SERVER_CA_CODES.has(code)) {
    return "the server's certificate is not signed by a CA we trust: set pandacon.ca_cert to the CA file or directory that signed it (e.g. /etc/grid-security/certificates)";
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return "the server's certificate is outside its validity period: check the clocks, or the server's certificate";
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return "the server's certificate does not name this host: use the host name of the certificate in pandaURLSSL/server_api_url_ssl";
  return 'check pandacon.ca_cert, cert_file and key_file';
}

/** TLS refused: the server's certificate did not verify, or ours was not accepted. Not retried. */
export class PandaTlsError extends PandaCommunicatorError {
  constructor(
    method: string,
    url: string,
    attempts: number,
    readonly code: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(method, url, attempts, `TLS failure ${code}: ${detail} (${tlsAdvice(code)})`, options);
    this.name = 'PandaTlsError';
  }
}

/** HTTP 200, but a body that is not what the method answers (bad JSON, wrong shape). */
export class PandaResponseError extends PandaCommunicatorError {
  constructor(
    method: string,
    url: string,
    attempts: number,
    readonly problem: string,
    readonly bodyExcerpt: string,
  ) {
    super(method, url, attempts, `malformed answer: ${problem}${bodyExcerpt === '' ? '' : ` (body starts: ${bodyExcerpt})`}`);
    this.name = 'PandaResponseError';
  }
}

/** A well-formed answer saying the call failed (StatusCode != 0, or (false, message)). */
export class PandaServerError extends PandaCommunicatorError {
  constructor(
    method: string,
    url: string,
    attempts: number,
    /** PanDA's StatusCode when there is one (10 timeout, 30 failed, 60 role...), else null. */
    readonly statusCode: number | null,
    readonly serverMessage: string,
  ) {
    super(method, url, attempts, `server refused${statusCode === null ? '' : ` with StatusCode=${statusCode}`}${serverMessage === '' ? '' : `: ${serverMessage}`}`);
    this.name = 'PandaServerError';
  }
}

/** Credentials that cannot be used: a token or certificate file missing, unreadable or empty. */
export class PandaCredentialsError extends PandaCommunicatorError {
  constructor(
    method: string,
    url: string,
    /** What was being read: "auth_token file /path", "cert_file /path". Never the content. */
    readonly source: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(method, url, 0, `cannot use ${source}: ${reason}`, options);
    this.name = 'PandaCredentialsError';
  }
}
