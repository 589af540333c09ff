// The running instance's HTTP endpoints: always a unix socket in its home (mode 0600: only its user asks it
// for /status and /metrics; no port to collide with another instance on the same machine), and, when the
// master configuration says so, a TCP listener for Prometheus (/metrics only).
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import type { HarvesterMetrics } from './harvester-metrics.js';

/** sun_path holds 108 bytes with its NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

export class ControlEndpointError extends Error {
  override readonly name = 'ControlEndpointError';
}

export interface ControlServerOptions {
  readonly metrics: HarvesterMetrics;
  /** The status document (`harvester status` reads it). */
  readonly status: () => Promise<unknown>;
  /** The unix socket (e.g. <home>/harvester.sock). */
  readonly socketPath: string;
  /** The Prometheus listener; none when undefined. */
  readonly listen?: { readonly host: string; readonly port: number };
  /** Told about a request that failed (the client got a 500). */
  readonly onError: (what: string, error: unknown) => void;
}

export class ControlServer {
  readonly #options: ControlServerOptions;
  readonly #servers: Server[] = [];
  #tcpAddress: AddressInfo | undefined;

  private constructor(options: ControlServerOptions) {
    this.#options = options;
  }

  /** Listens on the socket (and the TCP port when configured); rejects naming what could not be opened. */
  static async start(options: ControlServerOptions): Promise<ControlServer> {
    const server = new ControlServer(options);
    try {
      await server.#listenSocket();
      if (options.listen !== undefined) await server.#listenTcp(options.listen);
    } catch (error) {
      await server.close();
      throw error;
    }
    return server;
  }

  /** The Prometheus listener's address (port 0 in the configuration picks one). */
  get tcpAddress(): AddressInfo | undefined {
    return this.#tcpAddress;
  }

  async close(): Promise<void> {
    const servers = this.#servers.splice(0);
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    );
  }

  async #listenSocket(): Promise<void> {
    const path = this.#options.socketPath;
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
      throw new ControlEndpointError(`the control socket path ${path} is longer than ${MAX_SOCKET_PATH_BYTES} bytes: use a shorter --home`);
    }
    await removeStaleSocket(path);
    const server = createServer((req, res) => this.#handle(req, res, true));
    await listen(server, () => server.listen({ path, readableAll: false, writableAll: false }), `the control socket ${path}`);
    chmodSync(path, 0o600);
    this.#servers.push(server);
  }

  async #listenTcp(where: { readonly host: string; readonly port: number }): Promise<void> {
    const server = createServer((req, res) => this.#handle(req, res, false));
    await listen(server, () => server.listen({ host: where.host, port: where.port }), `the metrics listener ${where.host}:${where.port} (harvester.json "metrics")`);
    this.#tcpAddress = server.address() as AddressInfo;
    this.#servers.push(server);
  }

  #handle(req: IncomingMessage, res: ServerResponse, onSocket: boolean): void {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') return reply(res, 405, 'text/plain', 'only GET\n');
    if (path === '/metrics') {
      this.#options.metrics.text().then(
        (text) => reply(res, 200, this.#options.metrics.contentType, text),
        (error: unknown) => this.#failed(res, '/metrics', error),
      );
      return;
    }
    // The status names files and hosts: only for the instance's own user, on the socket.
    if (path === '/status' && onSocket) {
      this.#options.status().then(
        (status) => reply(res, 200, 'application/json', `${JSON.stringify(status)}\n`),
        (error: unknown) => this.#failed(res, '/status', error),
      );
      return;
    }
    reply(res, 404, 'text/plain', onSocket ? 'try /metrics or /status\n' : 'try /metrics\n');
  }

  #failed(res: ServerResponse, what: string, error: unknown): void {
    this.#options.onError(what, error);
    reply(res, 500, 'text/plain', `${what} failed: ${error instanceof Error ? error.message : String(error)}\n`);
  }
}

function reply(res: ServerResponse, code: number, type: string, body: string): void {
  res.writeHead(code, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function listen(server: Server, start: () => void, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(new ControlEndpointError(`cannot listen on ${what}: ${error.message}`, { cause: error }));
    server.once('error', onError);
    server.once('listening', () => {
      server.removeListener('error', onError);
      resolve();
    });
    start();
  });
}

/** A socket file nothing answers on (left by a killed instance) is removed; a live one is refused. */
async function removeStaleSocket(path: string): Promise<void> {
  try {
    if (!lstatSync(path).isSocket()) throw new ControlEndpointError(`${path} exists and is not a socket; remove it`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const answers = await new Promise<boolean>((resolve) => {
    const socket = connect({ path });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
  if (answers) throw new ControlEndpointError(`another harvester answers on ${path} (a second instance with this home?)`);
  unlinkSync(path);
}

/** GET `path` on the control socket; rejects when nothing answers within timeoutMs. */
export function askControlSocket(socketPath: string, path: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new ControlEndpointError(`no answer on ${socketPath} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
