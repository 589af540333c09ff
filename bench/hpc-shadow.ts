// The bare monitor as a shadow of the bot's: a process in hv-hpc (as the testbed user) that checks, on request,
// the same live workers the bot just checked (or is about to), so each monitor cycle has a bare and a bot check
// of the same jobs at the same moment. They talk over a unix socket in the run's directory: the file system is
// shared by the network namespaces, so hv-core reaches it. One JSON line per request and per answer.
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { decodeValues, encodeValues, WorkSpec, type JsonValue } from '../src/spec/index.js';
import type { SlurmBenchPlugins } from './hpc-queue.js';

/** The shadow did not answer as it should (bad line, closed socket, failed check). */
export class ShadowMonitorError extends Error {
  constructor(
    message: string,
    readonly socketPath: string,
  ) {
    super(`${message} (shadow monitor at ${socketPath})`);
    this.name = 'ShadowMonitorError';
  }
}

interface ShadowAnswer {
  readonly ms?: number;
  readonly verdict?: boolean;
  readonly error?: string;
}

/** Serves checks of the given workers with the bare monitor; resolves once listening. */
export function serveShadowMonitor(socketPath: string, plugins: SlurmBenchPlugins): Promise<Server> {
  const server = createServer((socket) => {
    const lines = createInterface({ input: socket });
    // One request at a time per connection: the client waits for each answer.
    lines.on('line', (line) => {
      void answer(plugins, line).then((reply) => socket.write(`${JSON.stringify(reply)}\n`));
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve(server));
  });
}

async function answer(plugins: SlurmBenchPlugins, line: string): Promise<ShadowAnswer> {
  try {
    const workers = decodeValues(JSON.parse(line) as JsonValue[])[0];
    if (!Array.isArray(workers) || !workers.every((w) => w instanceof WorkSpec)) return { error: 'the request is not a list of WorkSpecs' };
    const started = performance.now();
    const outcome = await plugins.monitor.checkWorkers(plugins.context(), workers);
    const ms = performance.now() - started;
    if (outcome.kind === 'succeeded' && outcome.value.length !== workers.length) return { error: `${outcome.value.length} verdicts for ${workers.length} workers` };
    return { ms, verdict: outcome.kind === 'succeeded' };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

export class ShadowMonitor {
  private readonly answers: string[] = [];
  private waiting: ((line: string | undefined) => void) | undefined;
  private closed = false;

  private constructor(
    private readonly socket: Socket,
    readonly socketPath: string,
  ) {
    const lines = createInterface({ input: socket });
    lines.on('line', (line) => this.deliver(line));
    lines.on('close', () => {
      this.closed = true;
      this.deliver(undefined);
    });
  }

  static connect(socketPath: string): Promise<ShadowMonitor> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(socketPath);
      socket.once('error', (error) => reject(new ShadowMonitorError(`cannot connect: ${error.message}`, socketPath)));
      socket.once('connect', () => resolve(new ShadowMonitor(socket, socketPath)));
    });
  }

  private deliver(line: string | undefined): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    if (waiting !== undefined) waiting(line);
    else if (line !== undefined) this.answers.push(line);
  }

  private nextLine(): Promise<string | undefined> {
    const queued = this.answers.shift();
    if (queued !== undefined || this.closed) return Promise.resolve(queued);
    return new Promise((resolve) => (this.waiting = resolve));
  }

  /** The request for a check of these workers, taken now (before a check changes their statuses). */
  static request(workers: readonly WorkSpec[]): string {
    return `${JSON.stringify(encodeValues([workers]))}\n`;
  }

  /** How long the bare monitor took to check the workers of `request`. */
  async check(request: string): Promise<number> {
    this.socket.write(request);
    const line = await this.nextLine();
    if (line === undefined) throw new ShadowMonitorError('the connection closed before an answer', this.socketPath);
    const reply = JSON.parse(line) as ShadowAnswer;
    if (reply.error !== undefined || typeof reply.ms !== 'number') throw new ShadowMonitorError(`the check failed: ${reply.error ?? line.slice(0, 200)}`, this.socketPath);
    if (reply.verdict !== true) throw new ShadowMonitorError('the bare monitor answered without a verdict (retryLater)', this.socketPath);
    return reply.ms;
  }

  close(): void {
    this.socket.end();
  }
}
