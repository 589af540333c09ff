// The bot's RPC listener: loopback TCP (the herder arrives through an SSH tunnel) and, when given, a unix
// socket only the bot's user can open (stream-local forwarding, or `harvester bot connect` in an SSH
// session); one ServerSession per connection. A connection that misbehaves (garbage, oversized frame,
// failed authentication) is closed; the listener keeps serving everyone else.
//
// Any local user can connect to the TCP port, so connections that have not completed the handshake are
// kept on a short leash: at most maxPreAuthConnections per listener (a new one pushes out the oldest), each
// for at most handshakeTimeoutMs, and their refusals are logged at a bounded rate. A flood of idle
// connections then neither holds the connection slots nor fills the log, and an authenticated herder still
// gets in.
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createServer, isIP, type Server, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { BotUnavailableError, ConnectionLostError, MiddlewareError } from '../errors.js';
import type { JsonValue } from '../protocol/json.js';
import { shutdownReason, type CallLedger } from '../protocol/ledger.js';
import type { MiddlewareLogger } from '../protocol/log.js';
import type { BotHealth } from '../protocol/messages.js';
import { ServerSession, type CallHandler } from '../protocol/server-session.js';
import { CallLimiter, DEFAULT_MAX_CALLS_PER_CONNECTION } from './call-limiter.js';
import { LogThrottle, DEFAULT_LOG_INTERVAL_MS } from './log-throttle.js';
import { claimSocketPath } from './unix-socket.js';

export const DEFAULT_BOT_PORT = 18861;
export const DEFAULT_STOP_GRACE_MS = 10_000;
/** Connections of one listener that may be in their handshake at once. */
export const DEFAULT_MAX_PRE_AUTH_CONNECTIONS = 16;
/** How long a connection may take to complete its handshake (the herder needs one round trip or two). */
export const DEFAULT_BOT_HANDSHAKE_TIMEOUT_MS = 5_000;

/** The options ask for something the bot refuses to do (e.g. listen beyond loopback). */
export class RpcServerOptionsError extends MiddlewareError {}

export interface RpcServerOptions {
  /** A loopback address; anything else is refused. Default 127.0.0.1. */
  readonly host?: string;
  /** 0 picks a free port (tests). Default 18861, harvester's remoteBindPort. */
  readonly port?: number;
  /** Also listen on this unix socket (mode 0600; a stale file is replaced, a live one refused). */
  readonly socketPath?: string;
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
  /** Default DEFAULT_BOT_HANDSHAKE_TIMEOUT_MS. */
  readonly handshakeTimeoutMs?: number;
  readonly maxFrameBytes?: number;
  readonly preAuthMaxFrameBytes?: number;
  readonly maxConnections?: number;
  /** Per listener; default DEFAULT_MAX_PRE_AUTH_CONNECTIONS. */
  readonly maxPreAuthConnections?: number;
  /** Plugin calls of one connection running at once; the others wait. Default 64. */
  readonly maxCallsPerConnection?: number;
  /** At most one line per this interval about refused handshakes (with a count of the others). */
  readonly refusalLogIntervalMs?: number;
  /** Called when the last open connection closes (the bot uses it to give memory back while idle). */
  readonly onLastConnectionClosed?: () => void;
  /** The journal's size on disk, for the health request (the CallJournal's sizeBytes). */
  readonly journalBytes?: () => number;
  readonly log: MiddlewareLogger;
}

function isLoopback(host: string): boolean {
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** One listening socket and the connections it accepted that are still in their handshake, oldest first. */
interface Listener {
  readonly kind: 'tcp' | 'unix';
  readonly server: Server;
  readonly pending: Set<Socket>;
}

export class RpcServer {
  private readonly host: string;
  private readonly port: number;
  private readonly startedAt: string;
  private readonly botId: string;
  private readonly log: MiddlewareLogger;
  private readonly refusals: LogThrottle;
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Map<Socket, ServerSession>();
  private readonly listeners: Listener[] = [];
  /** Inode of the socket file we created, so stop removes ours and never a successor's. */
  private socketInode: number | undefined;
  private started = false;
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
    this.refusals = new LogThrottle(this.log, 'connections refused during the handshake', { intervalMs: options.refusalLogIntervalMs ?? DEFAULT_LOG_INTERVAL_MS });
  }

  /** Authenticated connections currently open. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Connections still in their handshake, over every listener. */
  get preAuthCount(): number {
    let count = 0;
    for (const listener of this.listeners) count += listener.pending.size;
    return count;
  }

  async start(): Promise<void> {
    if (this.started) return;
    if (this.stopping !== undefined) throw new BotUnavailableError('the server was stopped; create a new one', { step: 'listen' });
    this.started = true;
    try {
      await this.listenTcp();
      if (this.options.socketPath !== undefined) await this.listenUnix(this.options.socketPath);
    } catch (error) {
      await this.closeListeners();
      throw error;
    }
    this.log.info(
      { host: this.host, port: this.address().port, ...(this.options.socketPath === undefined ? {} : { socket: this.options.socketPath }), botId: this.botId },
      'bot listening',
    );
  }

  address(): { host: string; port: number } {
    const address = this.listeners.find((l) => l.kind === 'tcp')?.server.address();
    if (address === undefined || address === null || typeof address === 'string') {
      throw new BotUnavailableError('the server is not listening', { step: 'listen' });
    }
    return { host: address.address, port: address.port };
  }

  /** The unix socket listened on, if any. */
  get socketPath(): string | undefined {
    return this.options.socketPath;
  }

  /**
   * Stops accepting connections and calls, lets calls in flight finish for up to graceMs, then aborts the
   * rest (their journal records stay "started": a retry hears OutcomeUnknown) and closes every connection.
   */
  stop(options: { graceMs?: number } = {}): Promise<void> {
    this.stopping ??= this.shutdown(options.graceMs ?? DEFAULT_STOP_GRACE_MS);
    return this.stopping;
  }

  private addListener(kind: Listener['kind']): Listener {
    const server = createServer({ noDelay: true }, (socket) => this.onConnection(socket, listener));
    server.maxConnections = this.options.maxConnections ?? 64;
    const listener: Listener = { kind, server, pending: new Set() };
    this.listeners.push(listener);
    return listener;
  }

  private async listenTcp(): Promise<void> {
    const { server } = this.addListener('tcp');
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) =>
        reject(
          new BotUnavailableError(`cannot listen on ${this.host}:${this.port}: ${error.message}`, { host: this.host, step: 'listen' }, { cause: error }),
        ),
      );
      server.listen({ port: this.port, host: this.host, backlog: this.options.backlog ?? 511 }, () => resolve());
    });
    server.on('error', (error) => this.log.error({ err: error }, 'bot listener failed'));
  }

  private async listenUnix(path: string): Promise<void> {
    await claimSocketPath(path);
    const { server } = this.addListener('unix');
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) =>
        reject(new BotUnavailableError(`cannot listen on the unix socket ${path}: ${error.message}`, { step: 'listen' }, { cause: error })),
      );
      // bind(2) happens within listen(): with this umask the socket is created 0600, never briefly wider.
      const umask = process.umask(0o177);
      try {
        server.listen({ path, backlog: this.options.backlog ?? 511 }, () => resolve());
      } finally {
        process.umask(umask);
      }
    });
    chmodSync(path, 0o600);
    this.socketInode = lstatSync(path).ino;
    server.on('error', (error) => this.log.error({ err: error, socket: path }, 'bot socket listener failed'));
  }

  private closeListeners(): Promise<void> {
    const closed = Promise.all(
      this.listeners.map((listener) => new Promise<void>((resolve) => (listener.server.listening ? listener.server.close(() => resolve()) : resolve()))),
    ).then(() => this.removeSocketFile());
    return closed;
  }

  /** Removes the socket file if it is still the one we created (Node removes it on close, but not on every path). */
  private removeSocketFile(): void {
    const path = this.options.socketPath;
    if (path === undefined || this.socketInode === undefined) return;
    try {
      if (lstatSync(path).ino === this.socketInode) unlinkSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ err: error, socket: path }, 'cannot remove the bot socket file');
    }
  }

  private async shutdown(graceMs: number): Promise<void> {
    if (!this.started) return;
    const closed = this.closeListeners();
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
    this.refusals.flush();
    this.log.info({ botId: this.botId }, 'bot stopped');
  }

  /** What the bot says of itself when a herder asks (health request). */
  health(): BotHealth {
    return {
      rssBytes: process.memoryUsage.rss(),
      callsInFlight: this.options.journal.runningCount,
      journalBytes: this.options.journalBytes?.() ?? 0,
      connections: this.sockets.size,
      uptimeSeconds: Math.max(0, (Date.now() - Date.parse(this.startedAt)) / 1000) || 0,
    };
  }

  private onConnection(socket: Socket, listener: Listener): void {
    const peer = listener.kind === 'unix' ? `unix:${this.options.socketPath ?? '?'}` : `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    if (this.stopping !== undefined) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    listener.pending.add(socket);
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.sessions.delete(socket);
      listener.pending.delete(socket);
      if (this.sockets.size === 0 && this.stopping === undefined) this.options.onLastConnectionClosed?.();
    });
    const maxPending = this.options.maxPreAuthConnections ?? DEFAULT_MAX_PRE_AUTH_CONNECTIONS;
    if (listener.pending.size > maxPending) {
      // The oldest is the one least likely to be a herder in the middle of its handshake (that takes a round
      // trip or two): it makes room for the newcomer.
      const oldest = listener.pending.values().next().value!;
      listener.pending.delete(oldest);
      oldest.destroy();
    }
    const { options } = this;
    const limiter = new CallLimiter({
      maxRunning: options.maxCallsPerConnection ?? DEFAULT_MAX_CALLS_PER_CONNECTION,
      pause: () => socket.pause(),
      resume: () => socket.resume(),
    });
    ServerSession.accept(socket, {
      ...(options.secret === undefined ? {} : { secret: options.secret }),
      ...(options.secretProvider === undefined ? {} : { secretProvider: options.secretProvider }),
      offer: options.offer,
      handler: limiter.wrap(options.handler),
      journal: options.journal,
      botId: this.botId,
      startedAt: this.startedAt,
      programVersion: options.programVersion,
      ...(options.programName === undefined ? {} : { programName: options.programName }),
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? DEFAULT_BOT_HANDSHAKE_TIMEOUT_MS,
      ...(options.maxFrameBytes === undefined ? {} : { maxFrameBytes: options.maxFrameBytes }),
      ...(options.preAuthMaxFrameBytes === undefined ? {} : { preAuthMaxFrameBytes: options.preAuthMaxFrameBytes }),
      context: { host: peer },
      log: this.log,
      health: () => this.health(),
    }).then(
      (session) => {
        listener.pending.delete(socket);
        if (socket.destroyed) return;
        this.sessions.set(socket, session);
        if (this.stopping !== undefined) session.stopAcceptingCalls();
        this.log.info({ peer, client: session.peerProgram }, 'herder connected');
        session.on('close', (error) => {
          if (error === undefined || error instanceof ConnectionLostError) this.log.info({ peer }, 'herder disconnected');
          else this.log.warn({ peer, err: error }, 'connection closed after a protocol error');
        });
      },
      (error: unknown) => {
        listener.pending.delete(socket);
        this.refusals.warn({ peer, err: error }, 'connection refused during the handshake');
      },
    );
  }
}
