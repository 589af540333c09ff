// The bot's RPC listener: loopback only (the herder arrives through an SSH tunnel), one ServerSession per
// connection. A connection that misbehaves (garbage, oversized frame, failed authentication) is closed and
// logged; the listener keeps serving everyone else.
import { createServer, isIP, type Server, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { BotUnavailableError, ConnectionLostError, MiddlewareError } from '../errors.js';
import type { JsonValue } from '../protocol/json.js';
import { shutdownReason, type CallLedger } from '../protocol/ledger.js';
import type { MiddlewareLogger } from '../protocol/log.js';
import { ServerSession, type CallHandler } from '../protocol/server-session.js';

export const DEFAULT_BOT_PORT = 18861;
export const DEFAULT_STOP_GRACE_MS = 10_000;

/** The options ask for something the bot refuses to do (e.g. listen beyond loopback). */
export class RpcServerOptionsError extends MiddlewareError {}

export interface RpcServerOptions {
  /** A loopback address; anything else is refused. Default 127.0.0.1. */
  readonly host?: string;
  /** 0 picks a free port (tests). Default 18861, harvester's remoteBindPort. */
  readonly port?: number;
  readonly secret?: string;
  readonly secretProvider?: () => string | Promise<string>;
  readonly offer: JsonValue;
  readonly handler: CallHandler;
  /** Shared by every connection, so a retry on a new connection finds its call. Owned (and closed) by the caller. */
  readonly journal: CallLedger;
  /** Default: host name and pid. */
  readonly botId?: string;
  readonly startedAt?: string;
  /** listen(2) backlog. */
  readonly backlog?: number;
  readonly programVersion: string;
  readonly programName?: string;
  readonly handshakeTimeoutMs?: number;
  readonly maxFrameBytes?: number;
  readonly preAuthMaxFrameBytes?: number;
  readonly maxConnections?: number;
  /** Called when the last open connection closes (the bot uses it to give memory back while idle). */
  readonly onLastConnectionClosed?: () => void;
  readonly log: MiddlewareLogger;
}

function isLoopback(host: string): boolean {
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

export class RpcServer {
  private readonly host: string;
  private readonly port: number;
  private readonly startedAt: string;
  private readonly botId: string;
  private readonly log: MiddlewareLogger;
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Map<Socket, ServerSession>();
  private server: Server | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: RpcServerOptions) {
    this.host = options.host ?? '127.0.0.1';
    if (!isLoopback(this.host)) {
      throw new RpcServerOptionsError(
        `the bot listens on loopback only (127.0.0.1 or ::1), not on ${this.host}: the herder reaches it through SSH`,
        { host: this.host, step: 'listen' },
      );
    }
    if ((options.secret === undefined) === (options.secretProvider === undefined)) {
      throw new RpcServerOptionsError('give exactly one of secret and secretProvider', { step: 'listen' });
    }
    this.port = options.port ?? DEFAULT_BOT_PORT;
    this.startedAt = options.startedAt ?? new Date().toISOString();
    this.botId = options.botId ?? `${hostname()}:${process.pid}`;
    this.log = options.log;
  }

  /** Authenticated connections currently open. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  async start(): Promise<void> {
    if (this.server !== undefined) return;
    if (this.stopping !== undefined) throw new BotUnavailableError('the server was stopped; create a new one', { step: 'listen' });
    const server = createServer({ noDelay: true }, (socket) => this.onConnection(socket));
    server.maxConnections = this.options.maxConnections ?? 64;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) =>
        reject(
          new BotUnavailableError(`cannot listen on ${this.host}:${this.port}: ${error.message}`, { host: this.host, step: 'listen' }, { cause: error }),
        ),
      );
      server.listen({ port: this.port, host: this.host, backlog: this.options.backlog ?? 511 }, () => resolve());
    });
    server.on('error', (error) => this.log.error({ err: error }, 'bot listener failed'));
    this.log.info({ host: this.host, port: this.address().port, botId: this.botId }, 'bot listening');
  }

  address(): { host: string; port: number } {
    const address = this.server?.address();
    if (address === undefined || address === null || typeof address === 'string') {
      throw new BotUnavailableError('the server is not listening', { step: 'listen' });
    }
    return { host: address.address, port: address.port };
  }

  /**
   * Stops accepting connections and calls, lets calls in flight finish for up to graceMs, then aborts the
   * rest (their journal records stay "started": a retry hears OutcomeUnknown) and closes every connection.
   */
  stop(options: { graceMs?: number } = {}): Promise<void> {
    this.stopping ??= this.shutdown(options.graceMs ?? DEFAULT_STOP_GRACE_MS);
    return this.stopping;
  }

  private async shutdown(graceMs: number): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const session of this.sessions.values()) session.stopAcceptingCalls();
    for (const socket of this.sockets) if (!this.sessions.has(socket)) socket.destroy();
    const journal = this.options.journal;
    if (journal.runningCount > 0) {
      this.log.info({ running: journal.runningCount, graceMs }, 'bot stopping: waiting for calls in flight');
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
      await Promise.race([journal.whenIdle(), graceOver]);
      clearTimeout(timer);
      if (journal.runningCount > 0) {
        this.log.warn({ running: journal.runningCount }, 'bot stopping: aborting calls still running; their outcome is unknown');
        journal.abandonRunning(shutdownReason());
      }
    }
    // Let the replies of the calls that just finished reach their sockets before closing them.
    await new Promise((resolve) => setImmediate(resolve));
    for (const socket of this.sockets) {
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
    }
    await closed;
    this.log.info({ botId: this.botId }, 'bot stopped');
  }

  private onConnection(socket: Socket): void {
    const peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    if (this.stopping !== undefined) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.sessions.delete(socket);
      if (this.sockets.size === 0 && this.stopping === undefined) this.options.onLastConnectionClosed?.();
    });
    const { options } = this;
    ServerSession.accept(socket, {
      ...(options.secret === undefined ? {} : { secret: options.secret }),
      ...(options.secretProvider === undefined ? {} : { secretProvider: options.secretProvider }),
      offer: options.offer,
      handler: options.handler,
      journal: options.journal,
      botId: this.botId,
      startedAt: this.startedAt,
      programVersion: options.programVersion,
      ...(options.programName === undefined ? {} : { programName: options.programName }),
      ...(options.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: options.handshakeTimeoutMs }),
      ...(options.maxFrameBytes === undefined ? {} : { maxFrameBytes: options.maxFrameBytes }),
      ...(options.preAuthMaxFrameBytes === undefined ? {} : { preAuthMaxFrameBytes: options.preAuthMaxFrameBytes }),
      context: { host: peer },
      log: this.log,
    }).then(
      (session) => {
        if (socket.destroyed) return;
        this.sessions.set(socket, session);
        if (this.stopping !== undefined) session.stopAcceptingCalls();
        this.log.info({ peer, client: session.peerProgram }, 'herder connected');
        session.on('close', (error) => {
          if (error === undefined || error instanceof ConnectionLostError) this.log.info({ peer }, 'herder disconnected');
          else this.log.warn({ peer, err: error }, 'connection closed after a protocol error');
        });
      },
      (error: unknown) => this.log.warn({ peer, err: error }, 'connection refused during the handshake'),
    );
  }
}
