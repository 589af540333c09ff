// A PanDA server for tests: the endpoints harvester's communicator calls (getJob, updateJobsInBulk,
// updateWorkers, harvesterIsAlive, isAlive, getEventRanges, updateEventRanges, getCommands, ackCommands),
// answering in the formats of PanDA's JobDispatcher and harvester API, over an in-memory job list. It records
// every request, can require a bearer token or a client certificate, and can be told to fail.
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';

/** What to do instead of answering, for the next request(s) to one method. */
export type Fault =
  /** Answer with this HTTP status (and body). */
  | { readonly kind: 'status'; readonly status: number; readonly body?: string }
  /** Never answer (the client's deadline must fire). */
  | { readonly kind: 'hang' }
  /** HTTP 200 with a body that is not what the method answers. */
  | { readonly kind: 'malformed'; readonly body?: string }
  /** Close the connection without an answer. */
  | { readonly kind: 'reset' };

export interface RecordedRequest {
  /** The PanDA method (last path segment). */
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly form: Readonly<Record<string, string>>;
  /** CN of the client certificate, when one was presented. */
  readonly clientCertSubject: string | null;
  /** The fault applied instead of an answer, if any. */
  readonly fault: Fault['kind'] | null;
}

export interface FakePandaServerOptions {
  /** Serve HTTPS with this certificate; requireClientCert makes it refuse clients without one signed by `ca`. */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer; readonly ca?: string | Buffer; readonly requireClientCert?: boolean };
  /** Refuse (HTTP 403) requests without "Authorization: Bearer <this token>". */
  readonly requireToken?: string;
  /** Path under which the methods live; "/server/panda" as on a real server. */
  readonly basePath?: string;
}

export interface FakeCommand {
  readonly command_id: number;
  readonly command: string;
  readonly params: unknown;
  status: 'new' | 'retrieved' | 'acknowledged';
}

type Handler = (form: Readonly<Record<string, string>>) => { status?: number; type?: string; body: string };

const json = (value: unknown): { type: string; body: string } => ({ type: 'application/json', body: JSON.stringify(value) });
/** JobDispatcher's Response.encode(acceptJson=True) as updateJobsInBulk lists it. */
const encoded = (data: Record<string, unknown>): Record<string, unknown> => ({ type: 'json', content: JSON.stringify(data) });

export class FakePandaServer {
  /** Base URL to configure as pandaURLSSL. */
  readonly url: string;
  readonly requests: RecordedRequest[] = [];
  /** Every update received per PandaID, in order (the dicts of updateJobsInBulk's jobList). */
  readonly jobUpdates = new Map<number, Record<string, unknown>[]>();
  /** The latest report of each worker, by workerID. */
  readonly workers = new Map<number, Record<string, unknown>>();
  readonly heartbeats: { harvesterID: string; data: Record<string, unknown> }[] = [];
  /** Every event update received (the entries of updateEventRanges' eventRanges, flattened). */
  readonly eventUpdates: Record<string, unknown>[] = [];
  readonly commands: FakeCommand[] = [];

  readonly #server: http.Server;
  readonly #options: FakePandaServerOptions;
  readonly #queued = new Map<string, Record<string, unknown>[]>();
  readonly #dispatched = new Map<number, Record<string, unknown>>();
  readonly #pendingCommands = new Map<number, string>();
  readonly #eventRanges = new Map<number, Record<string, unknown>[]>();
  readonly #faults = new Map<string, (Fault | null)[]>();
  readonly #hanging = new Set<ServerResponse>();
  readonly #handlers: Record<string, Handler>;

  private constructor(server: http.Server, url: string, options: FakePandaServerOptions) {
    this.#server = server;
    this.url = url;
    this.#options = options;
    this.#handlers = {
      isAlive: () => ({ type: 'text/plain', body: 'alive=yes' }),
      getJob: (form) => this.#getJob(form),
      updateJobsInBulk: (form) => this.#updateJobsInBulk(form),
      updateWorkers: (form) => this.#updateWorkers(form),
      harvesterIsAlive: (form) => {
        this.heartbeats.push({ harvesterID: form['harvesterID'] ?? '', data: JSON.parse(form['data'] ?? '{}') as Record<string, unknown> });
        return json([true, 'succeeded']);
      },
      getEventRanges: (form) => this.#getEventRanges(form),
      updateEventRanges: (form) => this.#updateEventRanges(form),
      getCommands: (form) => this.#getCommands(form),
      ackCommands: (form) => {
        const ids = JSON.parse(form['command_ids'] ?? '[]') as number[];
        for (const command of this.commands) if (ids.includes(command.command_id)) command.status = 'acknowledged';
        return json({ StatusCode: 0, Returns: 0 });
      },
    };
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
            requestCert: tls.requireClientCert === true,
            rejectUnauthorized: tls.requireClientCert === true,
          },
          listener,
        );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const basePath = options.basePath ?? '/server/panda';
    holder.instance = new FakePandaServer(server, `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}${basePath}`, options);
    return holder.instance;
  }

  /** Queues jobs for a site; getJob for that siteName hands them out in order. */
  addJobs(siteName: string, ...jobs: Record<string, unknown>[]): void {
    this.#queued.set(siteName, [...(this.#queued.get(siteName) ?? []), ...jobs]);
  }

  /** Jobs not handed out yet for a site. */
  queuedJobs(siteName: string): number {
    return this.#queued.get(siteName)?.length ?? 0;
  }

  /** The next update of this job is answered with command "tobekilled", as PanDA does for a killed job. */
  killJob(pandaID: number): void {
    this.#pendingCommands.set(pandaID, 'tobekilled');
  }

  addEventRanges(pandaID: number, ranges: readonly Record<string, unknown>[]): void {
    this.#eventRanges.set(pandaID, [...(this.#eventRanges.get(pandaID) ?? []), ...ranges]);
  }

  addCommand(command: string, params: unknown = null): number {
    const id = this.commands.length + 1;
    this.commands.push({ command_id: id, command, params, status: 'new' });
    return id;
  }

  /** After `after` normal answers, the next `times` requests to `method` get `fault` instead of an answer. */
  failNext(method: string, fault: Fault, times = 1, after = 0): void {
    const queued = [...Array<Fault | null>(after).fill(null), ...Array<Fault>(times).fill(fault)];
    this.#faults.set(method, [...(this.#faults.get(method) ?? []), ...queued]);
  }

  requestsTo(method: string): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method);
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
      const path = new URL(req.url ?? '/', 'http://fake').pathname;
      const method = path.split('/').at(-1) ?? '';
      const form = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
      const peer = 'getPeerCertificate' in req.socket ? (req.socket as TLSSocket).getPeerCertificate() : undefined;
      const subject = peer?.subject?.CN;
      const fault = this.#faults.get(method)?.shift() ?? null;
      this.requests.push({ method, path, headers: req.headers, form, clientCertSubject: typeof subject === 'string' ? subject : null, fault: fault?.kind ?? null });
      if (fault !== null) {
        this.#applyFault(fault, res);
        return;
      }
      if (this.#options.requireToken !== undefined && req.headers.authorization !== `Bearer ${this.#options.requireToken}`) {
        this.#send(res, 403, 'text/plain', 'invalid or missing token');
        return;
      }
      const handler = path.startsWith(new URL(this.url).pathname) ? this.#handlers[method] : undefined;
      if (handler === undefined) {
        this.#send(res, 404, 'text/plain', `no method ${method}`);
        return;
      }
      try {
        const answer = handler(form);
        this.#send(res, answer.status ?? 200, answer.type ?? 'application/json', answer.body);
      } catch (error) {
        this.#send(res, 500, 'text/plain', `fake server: ${(error as Error).message}`);
      }
    });
  }

  #applyFault(fault: Fault, res: ServerResponse): void {
    switch (fault.kind) {
      case 'status':
        this.#send(res, fault.status, 'text/plain', fault.body ?? `fault ${fault.status}`);
        return;
      case 'malformed':
        this.#send(res, 200, 'application/json', fault.body ?? '{"StatusCode": 0, "jobs": [');
        return;
      case 'hang':
        this.#hanging.add(res);
        return;
      case 'reset':
        res.socket?.destroy();
        return;
    }
  }

  #send(res: ServerResponse, status: number, type: string, body: string): void {
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }

  #getJob(form: Readonly<Record<string, string>>): { body: string; type: string } {
    const queue = this.#queued.get(form['siteName'] ?? '') ?? [];
    const nJobs = Number(form['nJobs'] ?? '1');
    const jobs = queue.splice(0, Number.isInteger(nJobs) && nJobs > 0 ? nJobs : 1);
    if (jobs.length === 0) return json({ StatusCode: 20, errorDialog: 'no jobs in PanDA' });
    for (const job of jobs) this.#dispatched.set(Number(job['PandaID']), job);
    return json({ StatusCode: 0, jobs: jobs.map((job) => ({ StatusCode: 0, ...job, nSent: 0 })) });
  }

  #updateJobsInBulk(form: Readonly<Record<string, string>>): { body: string; type: string } {
    const list = JSON.parse(form['jobList'] ?? '') as Record<string, unknown>[];
    const results = list.map((entry) => {
      const pandaID = Number(entry['jobId']);
      if (!this.#dispatched.has(pandaID)) return encoded({ StatusCode: 30 });
      this.jobUpdates.set(pandaID, [...(this.jobUpdates.get(pandaID) ?? []), entry]);
      const command = this.#pendingCommands.get(pandaID) ?? 'NULL';
      this.#pendingCommands.delete(pandaID);
      return encoded({ StatusCode: 0, command });
    });
    return json([true, results]);
  }

  #updateWorkers(form: Readonly<Record<string, string>>): { body: string; type: string } {
    let workers: unknown;
    try {
      workers = JSON.parse(form['workers'] ?? '');
    } catch {
      return json([false, 'failed to decode json']);
    }
    const list = workers as Record<string, unknown>[];
    for (const worker of list) this.workers.set(Number(worker['workerID']), worker);
    return json([true, list.map(() => true)]);
  }

  #getEventRanges(form: Readonly<Record<string, string>>): { body: string; type: string } {
    const pandaID = Number(form['pandaID']);
    const available = this.#eventRanges.get(pandaID) ?? [];
    const taken = available.splice(0, Number(form['nRanges'] ?? '10'));
    return json({ StatusCode: 0, eventRanges: taken });
  }

  #updateEventRanges(form: Readonly<Record<string, string>>): { body: string; type: string } {
    const updates = JSON.parse(form['eventRanges'] ?? '[]') as { eventRanges: Record<string, unknown>[] }[];
    const returns: boolean[] = [];
    for (const update of updates) {
      for (const event of update.eventRanges) {
        this.eventUpdates.push(event);
        returns.push(true);
      }
    }
    return json({ StatusCode: 0, Returns: returns, Command: {} });
  }

  #getCommands(form: Readonly<Record<string, string>>): { body: string; type: string } {
    const n = Number(form['n_commands'] ?? '1');
    const fresh = this.commands.filter((c) => c.status === 'new').slice(0, n);
    for (const command of fresh) command.status = 'retrieved';
    return json({ StatusCode: 0, Returns: 0, Commands: fresh.map(({ command_id, command, params }) => ({ command_id, command, params })) });
  }
}
