// A PanDA server for tests, as strict as the real one. By default it is a server 1.0: API v1 under /api/v1/
// checked the way pandaserver/api/v1/common.py's request_validation checks every call (secure connection,
// the declared HTTP method, unexpected/missing arguments, type hints: panda-v1-signatures.ts), answered in the
// {success, message, data} envelope, and the legacy entry point (/server/panda/<method>) answering our
// legacy methods "403 ERROR : <method> is forbidden". With api: "legacy" it is a server before 1.0 speaking
// the legacy API only. Tokens are checked as PandaRequest does (Origin names the VO). It records every request
// and can be told to fail.
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { legacyHandlers } from './fake-panda-legacy.js';
import { FakePandaState, type FakeCommand } from './fake-panda-state.js';
import { respond, v1Handlers, type Envelope } from './fake-panda-v1.js';
import { bindParameters, legacyMethods, MESSAGE_SSL, v1Signatures } from './panda-v1-signatures.js';

export type { FakeCommand } from './fake-panda-state.js';

/** What to do instead of answering, for the next request(s) to one function. */
export type Fault =
  /** Answer with this HTTP status (and body). */
  | { readonly kind: 'status'; readonly status: number; readonly body?: string }
  /** Never answer (the client's deadline must fire). */
  | { readonly kind: 'hang' }
  /** HTTP 200 with a body that is not what the function answers. */
  | { readonly kind: 'malformed'; readonly body?: string }
  /** HTTP 200 with this JSON. */
  | { readonly kind: 'answer'; readonly value: unknown }
  /** Close the connection without an answer. */
  | { readonly kind: 'reset' };

export interface RecordedRequest {
  /** The function: "pilot/acquire_jobs" for API v1, the method ("getJob") for the legacy entry point. */
  readonly method: string;
  readonly path: string;
  readonly httpMethod: string;
  readonly headers: IncomingHttpHeaders;
  /** The parameters as decoded (JSON body, query string or form). */
  readonly params: Readonly<Record<string, unknown>>;
  /** The legacy form, as text values ({} for API v1). */
  readonly form: Readonly<Record<string, string>>;
  /** CN of the client certificate, when one was presented and verified. */
  readonly clientCertSubject: string | null;
  /** The fault applied instead of an answer, if any. */
  readonly fault: Fault['kind'] | null;
  /** HTTP status and the answer sent (the envelope for API v1, the text otherwise). */
  status: number;
  answer: unknown;
}

export interface FakePandaServerOptions {
  /** Serve HTTPS with this certificate; client certificates signed by `ca` are verified (requireClientCert: refused without one). */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer; readonly ca?: string | Buffer; readonly requireClientCert?: boolean };
  /** The token the server accepts (any other is refused as PandaRequest refuses it). */
  readonly requireToken?: string;
  /** The VO the Origin header must name with a token; any Origin is taken when unset, none never. */
  readonly vo?: string;
  /** "v1": server 1.0 (default); "legacy": a server before 1.0 with the legacy API only. */
  readonly api?: 'v1' | 'legacy';
}

const LEGACY_PATH = '/server/panda';
const V1_PATH = '/api/v1';

function parseParams(method: string, url: URL, contentType: string, body: string): Record<string, unknown> {
  if (method === 'GET') {
    const params: Record<string, unknown> = {};
    for (const key of new Set(url.searchParams.keys())) {
      const values = url.searchParams.getAll(key);
      params[key] = values.length === 1 ? values[0] : values;
    }
    return params;
  }
  if (contentType.startsWith('application/json')) {
    const value = JSON.parse(body === '' ? '{}' : body) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('the JSON body is not an object');
    return value as Record<string, unknown>;
  }
  return Object.fromEntries(new URLSearchParams(body));
}

export class FakePandaServer {
  /** The legacy entry point, to configure as pandaURLSSL (API v1 is derived from it as harvester does). */
  readonly url: string;
  /** The API v1 base URL (server_api_url_ssl). */
  readonly apiUrl: string;
  readonly requests: RecordedRequest[] = [];
  readonly state = new FakePandaState();

  readonly #server: http.Server;
  readonly #options: FakePandaServerOptions;
  readonly #faults = new Map<string, (Fault | null)[]>();
  readonly #hanging = new Set<ServerResponse>();

  private constructor(server: http.Server, origin: string, options: FakePandaServerOptions) {
    this.#server = server;
    this.url = `${origin}${LEGACY_PATH}`;
    this.apiUrl = `${origin}${V1_PATH}`;
    this.#options = options;
  }

  /** Starts listening on 127.0.0.1 on a free port. */
  static async start(options: FakePandaServerOptions = {}): Promise<FakePandaServer> {
    // The listener needs the instance, and the instance the listening server's port; no request comes before both.
    const holder: { instance?: FakePandaServer } = {};
    const listener = (req: IncomingMessage, res: ServerResponse): void => {
      if (holder.instance === undefined) res.destroy();
      else holder.instance.#handle(req, res);
    };
    const tls = options.tls;
    const server = tls === undefined
      ? http.createServer(listener)
      : https.createServer(
          {
            cert: tls.cert,
            key: tls.key,
            ...(tls.ca === undefined ? {} : { ca: tls.ca }),
            // Like mod_ssl's "SSLVerifyClient optional": a certificate is asked for, token clients go without.
            requestCert: tls.ca !== undefined,
            rejectUnauthorized: tls.requireClientCert === true,
          },
          listener,
        );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    holder.instance = new FakePandaServer(server, `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`, options);
    return holder.instance;
  }

  get jobUpdates(): Map<number, Record<string, unknown>[]> {
    return this.state.jobUpdates;
  }
  get workers(): Map<number, Record<string, unknown>> {
    return this.state.workers;
  }
  get heartbeats(): { harvesterID: string; data: Record<string, unknown> }[] {
    return this.state.heartbeats;
  }
  get eventUpdates(): Record<string, unknown>[] {
    return this.state.eventUpdates;
  }
  get commands(): FakeCommand[] {
    return this.state.commands;
  }

  /** Queues jobs for a site; acquire_jobs (getJob) for that site hands them out in order. */
  addJobs(siteName: string, ...jobs: Record<string, unknown>[]): void {
    this.state.addJobs(siteName, ...jobs);
  }
  queuedJobs(siteName: string): number {
    return this.state.queuedJobs(siteName);
  }
  /** The next update of this job is answered with command "tobekilled", as PanDA does for a killed job. */
  killJob(pandaID: number): void {
    this.state.killJob(pandaID);
  }
  addEventRanges(pandaID: number, ranges: readonly Record<string, unknown>[]): void {
    this.state.addEventRanges(pandaID, ranges);
  }
  addCommand(command: string, params: unknown = null): number {
    return this.state.addCommand(command, params);
  }

  /** After `after` normal answers, the next `times` requests to `method` get `fault` instead of an answer. */
  failNext(method: string, fault: Fault, times = 1, after = 0): void {
    const queued = [...Array<Fault | null>(after).fill(null), ...Array<Fault>(times).fill(fault)];
    this.#faults.set(method, [...(this.#faults.get(method) ?? []), ...queued]);
  }

  requestsTo(method: string): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method);
  }

  /**
   * Requests the server refused: an HTTP status other than 200, or an envelope with success false (except
   * acquire_jobs' "No jobs in PanDA", an empty queue) or a job of a bulk update refused.
   */
  refusals(): RecordedRequest[] {
    return this.requests.filter((r) => {
      if (r.fault !== null) return false;
      if (r.status !== 200) return true;
      const answer = r.answer as Envelope | undefined;
      if (answer === undefined || typeof answer !== 'object' || answer === null || !('success' in answer)) return false;
      if (!answer.success) return !(r.method === 'pilot/acquire_jobs' && answer.message === 'No jobs in PanDA');
      return r.method === 'pilot/update_jobs_bulk' && (answer.data as Envelope[]).some((job) => !job.success);
    });
  }

  async close(): Promise<void> {
    for (const res of this.#hanging) res.destroy();
    this.#hanging.clear();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const v1 = url.pathname.startsWith(`${V1_PATH}/`);
      const name = v1 ? url.pathname.slice(V1_PATH.length + 1) : (url.pathname.split('/').at(-1) ?? '');
      const httpMethod = req.method ?? 'GET';
      const body = Buffer.concat(chunks).toString('utf8');
      const socket = req.socket as TLSSocket;
      const peer = socket.authorized === true ? socket.getPeerCertificate() : undefined;
      const subject = peer?.subject?.CN;
      const fault = this.#faults.get(name)?.shift() ?? null;
      let params: Record<string, unknown> = {};
      let parseError: string | null = null;
      try {
        params = parseParams(httpMethod, url, String(req.headers['content-type'] ?? ''), body);
      } catch (error) {
        parseError = (error as Error).message;
      }
      const record: RecordedRequest = {
        method: name,
        path: url.pathname,
        httpMethod,
        headers: req.headers,
        params,
        form: v1 ? {} : Object.fromEntries(new URLSearchParams(body)),
        clientCertSubject: typeof subject === 'string' ? subject : null,
        fault: fault?.kind ?? null,
        status: 0,
        answer: undefined,
      };
      this.requests.push(record);
      const send = (status: number, type: string, text: string, answer: unknown = text): void => {
        record.status = status;
        record.answer = answer;
        res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
      };
      if (fault !== null) {
        this.#applyFault(fault, res, send);
        return;
      }
      if (parseError !== null) {
        send(500, 'text/plain', parseError);
        return;
      }
      const refusal = this.#authenticate(req.headers);
      if (refusal !== null) {
        send(403, 'text/plain', `ERROR : Token authentication failed. ${refusal}`);
        return;
      }
      const secure = record.clientCertSubject !== null || req.headers.authorization !== undefined;
      try {
        if (v1) this.#v1(name, httpMethod, params, secure, send);
        else this.#legacy(url.pathname, name, record.form, secure, send);
      } catch (error) {
        send(500, 'text/plain', `fake server: ${(error as Error).message}`);
      }
    });
  }

  /** PandaRequest's token check: the token must be the accepted one, the Origin must name the VO. */
  #authenticate(headers: IncomingHttpHeaders): string | null {
    const authorization = headers.authorization;
    if (authorization === undefined) return null;
    const origin = headers.origin;
    if (origin === undefined) return 'Unknown vo : None';
    if (this.#options.vo !== undefined && origin !== this.#options.vo) return `Unknown vo : ${origin}`;
    if (this.#options.requireToken !== undefined && authorization !== `Bearer ${this.#options.requireToken}`) return 'Corrupted token. Signature verification failed';
    return null;
  }

  #v1(name: string, httpMethod: string, params: Record<string, unknown>, secure: boolean, send: (status: number, type: string, text: string, answer?: unknown) => void): void {
    const signature = this.#options.api === 'legacy' ? undefined : v1Signatures.find((s) => s.name === name);
    const handler = v1Handlers[name];
    if (signature === undefined || handler === undefined) {
      send(this.#options.api === 'legacy' ? 404 : 403, 'text/plain', `ERROR : ${name} is ${this.#options.api === 'legacy' ? 'not found' : 'forbidden'}`);
      return;
    }
    const envelope = ((): Envelope => {
      // The order of request_validation: secure, then the method, then the arguments.
      if (signature.secure && !secure) return respond(false, MESSAGE_SSL);
      if (httpMethod !== signature.method) return respond(false, `expecting ${signature.method}, received ${httpMethod}`);
      const bound = bindParameters(signature, params, httpMethod);
      if ('error' in bound) return respond(false, bound.error);
      return handler(bound.params, this.state);
    })();
    send(200, 'application/json', JSON.stringify(envelope), envelope);
  }

  #legacy(path: string, method: string, form: Readonly<Record<string, string>>, secure: boolean, send: (status: number, type: string, text: string) => void): void {
    const handler = path.startsWith(`${LEGACY_PATH}/`) ? legacyHandlers[method] : undefined;
    if (this.#options.api !== 'legacy' && legacyMethods.includes(method)) {
      // panda.py of server 1.0: the method is not in allowed_methods any more.
      send(403, 'text/plain', `ERROR : ${method} is forbidden`);
      return;
    }
    if (handler === undefined) {
      send(404, 'text/plain', `no method ${method}`);
      return;
    }
    if (this.#options.requireToken !== undefined && !secure) {
      send(403, 'text/plain', 'ERROR : Token authentication failed. no token');
      return;
    }
    const answer = handler(form, this.state);
    send(200, answer.type, answer.body);
  }

  #applyFault(fault: Fault, res: ServerResponse, send: (status: number, type: string, text: string) => void): void {
    switch (fault.kind) {
      case 'status':
        send(fault.status, 'text/plain', fault.body ?? `fault ${fault.status}`);
        return;
      case 'malformed':
        send(200, 'application/json', fault.body ?? '{"success": true, "data": [');
        return;
      case 'answer':
        send(200, 'application/json', JSON.stringify(fault.value));
        return;
      case 'hang':
        this.#hanging.add(res);
        return;
      case 'reset':
        res.socket?.destroy();
        return;
    }
  }
}
