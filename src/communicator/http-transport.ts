// One request to the PanDA server, the way harvester's request_ssl sends it: a JSON body for POST (a form body
// for the legacy API), query parameters for GET, "Accept: application/json", TLS with the client certificate
// or a bearer token. Adds what requests gave harvester
// implicitly or not at all: a deadline for the whole exchange, retries with backoff for idempotent calls,
// typed errors, and a cap on the size of an answer.
import http from 'node:http';
import https from 'node:https';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { Logger, SecretRegistry } from '../logging/index.js';
import type { TlsMaterial } from './credentials.js';
import { CredentialReadError } from './credentials.js';
import {
  displayUrl,
  PandaCredentialsError,
  PandaHttpError,
  PandaNetworkError,
  PandaTimeoutError,
  PandaTlsError,
  type PandaCommunicatorError,
} from './errors.js';

/** A form value: sent as Python's str() would render it (True/False, numbers); null and undefined are left out. */
export type FormValue = string | number | boolean | null | undefined;

/** How the parameters travel: a JSON body (API v1 POST), the query string (GET), a form body (legacy API). */
export type ParameterEncoding = 'json' | 'query' | 'form';

/** One request: the server function's name (for messages), its path under the base URL, and its parameters. */
export interface WireRequest {
  readonly name: string;
  readonly httpMethod: 'GET' | 'POST';
  readonly path: string;
  readonly encoding: ParameterEncoding;
  readonly params: Readonly<Record<string, unknown>>;
}

export interface TransportOptions {
  /** The dialect's base URL: a function's path is appended after a slash. */
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly maxRetries: number;
  readonly retryBackoffMs: number;
  /** Extra headers for each request (Authorization, Origin); may throw CredentialReadError. */
  readonly headers: () => Record<string, string>;
  /** TLS material for each request; may throw CredentialReadError. */
  readonly tls: () => TlsMaterial;
  /** false only when the configuration says insecure. */
  readonly rejectUnauthorized: boolean;
  readonly secrets: SecretRegistry;
  readonly logger: Logger;
  readonly verbose: boolean;
  /** Larger answers are refused (a misrouted download must not fill the memory). */
  readonly maxResponseBytes?: number;
  /** For tests: how to wait between attempts. */
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface PostOptions {
  /**
   * Whether sending the request twice is harmless. Only idempotent calls are retried after a failure in
   * which the server may have acted (timeout, reset, 5xx); any call is retried when it never reached the
   * server (connection refused, unknown host).
   */
  readonly idempotent: boolean;
}

export interface PostAnswer {
  readonly text: string;
  readonly contentType: string;
  /** Where the request went (for messages): no credentials, no query. */
  readonly url: string;
  readonly attempts: number;
}

const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
const MAX_BACKOFF_MS = 60_000;
const EXCERPT_LENGTH = 200;
const RETRIED_STATUSES: ReadonlySet<number> = new Set([429, 500, 502, 503, 504]);
/** The request never reached a server: safe to send again whatever the call does. */
const NOT_DELIVERED: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

export function encodeForm(form: Readonly<Record<string, FormValue>>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(form)) {
    if (value === null || value === undefined) continue;
    params.append(key, typeof value === 'boolean' ? (value ? 'True' : 'False') : String(value));
  }
  return params.toString();
}

/** A query value as requests renders it: str() of the value, lists as repeated keys. */
function queryValues(value: unknown): string[] {
  if (value === null || value === undefined) return [];
  if (Array.isArray(value)) return value.flatMap(queryValues);
  if (typeof value === 'boolean') return [value ? 'True' : 'False'];
  return [typeof value === 'object' ? JSON.stringify(value) : String(value as string | number)];
}

/** The body and content type of a request; GET parameters go into `url`'s query string. */
function encodeRequest(request: WireRequest, url: URL): { body: Buffer | null; contentType: string | null } {
  switch (request.encoding) {
    case 'query':
      for (const [key, value] of Object.entries(request.params)) for (const v of queryValues(value)) url.searchParams.append(key, v);
      return { body: null, contentType: null };
    case 'json': {
      const defined = Object.fromEntries(Object.entries(request.params).filter(([, v]) => v !== undefined));
      return { body: Buffer.from(JSON.stringify(defined), 'utf8'), contentType: 'application/json' };
    }
    case 'form':
      return { body: Buffer.from(encodeForm(request.params as Record<string, FormValue>), 'utf8'), contentType: 'application/x-www-form-urlencoded' };
  }
}

/** The start of a body for a message: masked, on one line, short. */
export function excerpt(text: string, secrets: SecretRegistry): string {
  const line = secrets.mask(text).replace(/\s+/g, ' ').trim();
  return line.length > EXCERPT_LENGTH ? `${line.slice(0, EXCERPT_LENGTH)}...` : line;
}

class DeadlineExceeded extends Error {}
class AnswerTooLarge extends Error {}

interface RawAnswer {
  readonly status: number;
  readonly text: string;
  readonly contentType: string;
}

/** What one failed attempt means: the error to throw (given the attempt count), and whether to try again. */
interface Failure {
  readonly error: (attempts: number) => PandaCommunicatorError;
  readonly retry: boolean;
}

function errorCode(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : 'EUNKNOWN';
}

function isTlsCode(code: string): boolean {
  return /CERT|^ERR_SSL_|^ERR_TLS_|^ERR_OSSL_|^EPROTO$|SIGNATURE|ISSUER/.test(code);
}

export class PandaTransport {
  readonly #options: TransportOptions;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(options: TransportOptions) {
    this.#options = options;
    this.#sleep = options.sleep ?? ((ms) => new Promise((done) => setTimeout(done, ms)));
  }

  /** The URL of a server function. */
  urlOf(path: string): URL {
    return new URL(`${this.#options.baseUrl.replace(/\/+$/, '')}/${path}`);
  }

  /** Sends the request; resolves with the body of an HTTP 200 answer, or rejects with a typed error. */
  async send(request: WireRequest, opts: PostOptions): Promise<PostAnswer> {
    const method = request.name;
    const url = this.urlOf(request.path);
    const shownUrl = displayUrl(url);
    const { body, contentType } = encodeRequest(request, url);
    for (let attempt = 1; ; attempt++) {
      const started = Date.now();
      let failure: Failure;
      try {
        const answer = await this.#once(url, request.httpMethod, body, contentType);
        if (this.#options.verbose) {
          this.#options.logger.info({ method, url: shownUrl, status: answer.status, ms: Date.now() - started, attempt }, 'PanDA call');
        }
        if (answer.status === 200) return { text: answer.text, contentType: answer.contentType, url: shownUrl, attempts: attempt };
        const bodyExcerpt = excerpt(answer.text, this.#options.secrets);
        failure = {
          error: (n) => new PandaHttpError(method, shownUrl, n, answer.status, bodyExcerpt),
          retry: opts.idempotent && RETRIED_STATUSES.has(answer.status),
        };
      } catch (error) {
        failure = this.#classify(error, method, shownUrl, opts);
      }
      if (!failure.retry || attempt > this.#options.maxRetries) throw failure.error(attempt);
      const delay = this.#backoff(attempt);
      this.#options.logger.warn({ method, url: shownUrl, attempt, retryInMs: delay, reason: failure.error(attempt).message }, 'PanDA call failed, retrying');
      await this.#sleep(delay);
    }
  }

  /** base * 2^(n-1), capped, with jitter so that many instances do not retry in step. */
  #backoff(attempt: number): number {
    const full = Math.min(MAX_BACKOFF_MS, this.#options.retryBackoffMs * 2 ** (attempt - 1));
    return Math.round(full / 2 + (Math.random() * full) / 2);
  }

  #classify(error: unknown, method: string, url: string, opts: PostOptions): Failure {
    if (error instanceof CredentialReadError) {
      return { error: () => new PandaCredentialsError(method, url, error.source, error.reason, { cause: error }), retry: false };
    }
    if (error instanceof DeadlineExceeded) {
      return { error: (n) => new PandaTimeoutError(method, url, n, this.#options.timeoutMs), retry: opts.idempotent };
    }
    if (error instanceof AnswerTooLarge) {
      return { error: (n) => new PandaNetworkError(method, url, n, 'ETOOLARGE', error.message), retry: false };
    }
    const code = errorCode(error);
    // OpenSSL's messages span lines: one line keeps log entries and CLI output readable.
    const detail = this.#options.secrets.mask(error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ').trim();
    if (isTlsCode(code)) return { error: (n) => new PandaTlsError(method, url, n, code, detail, { cause: error }), retry: false };
    return {
      error: (n) => new PandaNetworkError(method, url, n, code, detail, { cause: error }),
      retry: NOT_DELIVERED.has(code) || opts.idempotent,
    };
  }

  #once(url: URL, httpMethod: 'GET' | 'POST', body: Buffer | null, contentType: string | null): Promise<RawAnswer> {
    const o = this.#options;
    const headers: Record<string, string> = {
      ...o.headers(),
      Accept: 'application/json',
      'Accept-Encoding': 'gzip, deflate',
      ...(contentType === null ? {} : { 'Content-Type': contentType }),
      ...(body === null ? {} : { 'Content-Length': String(body.length) }),
      Connection: 'close',
    };
    const secure = url.protocol === 'https:';
    // A fresh connection each time (as harvester's requests): renewed proxies and CAs take effect at once.
    const requestOptions: https.RequestOptions = { method: httpMethod, headers, agent: false };
    if (secure) Object.assign(requestOptions, o.tls(), { rejectUnauthorized: o.rejectUnauthorized });
    return new Promise<RawAnswer>((resolve, reject) => {
      let settled = false;
      const finish = (error: unknown, answer?: RawAnswer): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (answer !== undefined) resolve(answer);
        else reject(error);
      };
      const request = (secure ? https : http).request(url, requestOptions, (response) => {
        const encoding = String(response.headers['content-encoding'] ?? '').toLowerCase();
        let stream: Readable = response;
        if (encoding === 'gzip') stream = response.pipe(createGunzip());
        else if (encoding === 'deflate') stream = response.pipe(createInflate());
        else if (encoding === 'br') stream = response.pipe(createBrotliDecompress());
        const limit = o.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
        const chunks: Buffer[] = [];
        let size = 0;
        stream.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > limit) {
            finish(new AnswerTooLarge(`answer larger than ${limit} bytes`));
            request.destroy();
            return;
          }
          chunks.push(chunk);
        });
        stream.on('error', (error) => finish(error));
        response.on('error', (error) => finish(error));
        stream.on('end', () => {
          finish(undefined, {
            status: response.statusCode ?? 0,
            text: Buffer.concat(chunks).toString('utf8'),
            contentType: String(response.headers['content-type'] ?? ''),
          });
        });
      });
      const timer = setTimeout(() => {
        finish(new DeadlineExceeded());
        request.destroy();
      }, o.timeoutMs);
      request.on('error', (error) => finish(error));
      request.end(body ?? undefined);
    });
  }
}
