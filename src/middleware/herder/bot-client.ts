// One BotClient per SSH route, shared by every queue and section that goes the same way. It owns the tunnel
// pool; each pooled SSH link carries one authenticated RPC session on a direct-tcpip channel to the bot.
// A call keeps its id across reconnects, so the bot's journal answers a retried call instead of running it
// again; a dead link or bot fails the calls on it with a typed error and heals in the background.
import { randomUUID } from 'node:crypto';
import type { MiddlewareConfig } from '../../config/index.js';
import type { Logger } from '../../logging/index.js';
import type { PluginKind } from '../../plugins/contracts.js';
import type { PluginSection } from '../../config/index.js';
import {
  BotUnavailableError,
  ConnectionLostError,
  DeadlineExceededError,
  MiddlewareError,
  OutcomeUnknownError,
  ProtocolError,
} from '../errors.js';
import type { BotHealth, ClientSession } from '../protocol/index.js';
import { handshakeWithBot } from './bot-handshake.js';
import { botOfferSchema, replyPayloadSchema, type BotOffer, type CallPayload, type RemoteCallTiming, type ReplyPayload } from '../rpc/call-payload.js';
import { TunnelPool, routeFromMiddleware, type LinkConnector, type SshRoute } from '../ssh/index.js';
import type { BotLink } from './bot-link.js';
import { describeRoute, routeLabel } from './route.js';
import { BotLauncher } from './bot-launcher.js';
import { BotStreamOpener, type TransportUsed } from './bot-stream.js';
import { readBotSecret } from './bot-secret.js';
import { botSecretPath } from '../bot/paths.js';

export interface BotClientOptions {
  readonly knownHostsFile: string;
  readonly log: Logger;
  /** How links are made; default: SSH through the route (connectRoute). Tests and benchmarks pass local links. */
  readonly connect?: LinkConnector<BotLink>;
}

export interface CallOptions {
  readonly deadlineMs: number;
  readonly signal?: AbortSignal;
  /** For error messages and logs. */
  readonly method: string;
  readonly queue: string;
}

/** A route's state as this process sees it (metrics, `harvester status`); cheap, nothing is sent. */
export interface BotClientSnapshot {
  /** routeLabel: user@host via jump. */
  readonly route: string;
  readonly description: string;
  /** Whether anything used the route yet (its tunnel pool starts on the first call). */
  readonly started: boolean;
  readonly links: number;
  readonly linksUp: number;
  readonly callsInFlight: number;
  /** Every slot's connects beyond its first. */
  readonly reconnects: number;
  readonly calls: number;
  /** Failed calls by error class, since start. */
  readonly failuresByType: ReadonlyMap<string, number>;
  readonly lastError?: { readonly message: string; readonly type: string; readonly at: Date };
  /** A link's error, when no link is up (why the route is down). */
  readonly linkError?: string;
  /** The version of harvester-ts the bot runs (its hello), once a session was made. */
  readonly botVersion?: string;
  readonly transport?: string;
}

/** A health answer with its round trip. */
export interface BotHealthSample extends BotHealth {
  readonly roundTripMs: number;
  readonly botVersion: string;
}

export class BotClient {
  readonly route: SshRoute;
  readonly description: string;
  /** The route's short name (metrics labels, `harvester status`). */
  readonly label: string;
  #callsInFlight = 0;
  #calls = 0;
  readonly #failuresByType = new Map<string, number>();
  #lastError: { message: string; type: string; at: Date } | undefined;
  #botVersion: string | undefined;
  private readonly pool: TunnelPool<ClientSession, BotLink>;
  private readonly streams: BotStreamOpener;
  /** How the last session reached the bot (tunnel-test and status show it). */
  transportUsed: TransportUsed | undefined;
  private latestOffer: BotOffer | undefined;
  private offerWaiters: (() => void)[] = [];
  private started = false;
  private readonly timingListeners = new Set<(timing: RemoteCallTiming) => void>();

  constructor(
    private readonly mw: MiddlewareConfig,
    private readonly opts: BotClientOptions,
  ) {
    this.route = routeFromMiddleware(mw, { knownHostsFile: opts.knownHostsFile });
    this.description = describeRoute(mw);
    this.label = routeLabel(mw);
    this.streams = new BotStreamOpener(mw, opts.log, mw.launchBot ? new BotLauncher(mw, opts.log) : undefined);
    this.pool = new TunnelPool<ClientSession, BotLink>({
      route: this.route,
      size: mw.numTunnels,
      log: opts.log.child({ route: this.description }),
      attach: (link) => this.attach(link),
      detach: (session) => session.close(),
      isHealthy: (session) => session.isOpen,
      ...(opts.connect === undefined ? {} : { connect: opts.connect }),
    });
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.pool.start();
  }

  async stop(): Promise<void> {
    await this.pool.stop();
  }

  status(): ReturnType<TunnelPool<ClientSession, BotLink>['status']> {
    return this.pool.status();
  }

  /**
   * Whether the bot's plugin for this section has `method`: true/false from the bot's offer, or undefined
   * when the bot does not know the plugin by name (a plugin from its plugin directories: assume it has it).
   */
  async offers(section: PluginSection, kind: PluginKind, method: string, signal?: AbortSignal): Promise<boolean | undefined> {
    const offer = await this.waitForOffer(signal);
    const plugin = offer.plugins.find((p) => p.kind === kind && p.className === section.name);
    return plugin === undefined ? undefined : plugin.methods.includes(method);
  }

  private waitForOffer(signal?: AbortSignal): Promise<BotOffer> {
    if (this.latestOffer !== undefined) return Promise.resolve(this.latestOffer);
    this.start();
    return new Promise<BotOffer>((resolve, reject) => {
      // Nothing was sent yet: whatever aborted the wait, the call did not run.
      const onAbort = (): void =>
        reject(new BotUnavailableError(`gave up waiting for the bot's welcome (${this.description})`, { host: this.mw.remoteHost, user: this.mw.sshUserName }, { cause: signal?.reason }));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.offerWaiters.push(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve(this.latestOffer!);
      });
    });
  }

  /** Calls `listener` with the timing of every remote call through this client; returns the unsubscribe. */
  onTiming(listener: (timing: RemoteCallTiming) => void): () => void {
    this.timingListeners.add(listener);
    return () => this.timingListeners.delete(listener);
  }

  /** A remote call's timing: logged at debug on the caller's logger, and given to the listeners. */
  reportTiming(log: Logger, timing: RemoteCallTiming): void {
    if (log.isLevelEnabled('debug')) log.debug({ timing, route: this.description }, 'remote call timing');
    for (const listener of this.timingListeners) {
      // The call has succeeded by now: a failing observer must not turn it into a failure for the agent.
      try {
        listener(timing);
      } catch (error) {
        log.warn({ err: error, method: timing.method }, 'a remote call timing listener failed; the call itself succeeded');
      }
    }
  }

  /**
   * One plugin call: one round trip, retried with the same id on another link if a link drops. Once a
   * delivery may have reached the bot, no later failure may say 'not-run': a failure of a later attempt
   * (no tunnel, the deadline, a bot refusing while it stops) becomes OutcomeUnknownError, its cause the
   * failure, unless the bot's journal answers the id.
   */
  async call(payload: CallPayload, opts: CallOptions): Promise<ReplyPayload> {
    this.#callsInFlight++;
    this.#calls++;
    try {
      return await this.#call(payload, opts);
    } catch (error) {
      const type = error instanceof Error ? error.constructor.name : 'NonError';
      this.#failuresByType.set(type, (this.#failuresByType.get(type) ?? 0) + 1);
      this.#lastError = { message: errorMessage(error), type, at: new Date() };
      throw error;
    } finally {
      this.#callsInFlight--;
    }
  }

  /** What this process knows of the route now: links, calls, failures, the bot's version. Sends nothing. */
  snapshot(): BotClientSnapshot {
    const slots = this.pool.status();
    const up = slots.filter((s) => s.state === 'up').length;
    const linkError = up === 0 ? slots.find((s) => s.lastError !== undefined)?.lastError?.message : undefined;
    return {
      route: this.label,
      description: this.description,
      started: this.started,
      links: slots.length,
      linksUp: up,
      callsInFlight: this.#callsInFlight,
      reconnects: slots.reduce((n, s) => n + Math.max(0, s.connects - 1), 0),
      calls: this.#calls,
      failuresByType: new Map(this.#failuresByType),
      ...(this.#lastError === undefined ? {} : { lastError: { ...this.#lastError } }),
      ...(linkError === undefined ? {} : { linkError }),
      ...(this.#botVersion === undefined ? {} : { botVersion: this.#botVersion }),
      ...(this.transportUsed === undefined ? {} : { transport: this.transportUsed.kind }),
    };
  }

  /**
   * Asks the bot how it is, on a link that is up now: never opens one (a scrape must not dial a route
   * nobody uses), so a route without a link up rejects at once with the pool's error.
   */
  async health(timeoutMs: number): Promise<BotHealthSample> {
    const session = await this.pool.acquire({ timeoutMs: 0 });
    const started = performance.now();
    const health = await session.health(timeoutMs);
    return { ...health, roundTripMs: performance.now() - started, botVersion: session.welcome.program.version };
  }

  async #call(payload: CallPayload, opts: CallOptions): Promise<ReplyPayload> {
    this.start();
    const id = randomUUID();
    const deadline = Date.now() + opts.deadlineMs;
    const context = { queue: opts.queue, method: opts.method, callId: id, host: this.mw.remoteHost, user: this.mw.sshUserName };
    let delivered = false;
    const failure = (error: MiddlewareError): MiddlewareError => {
      error.addContext(context);
      if (!delivered || error.callEffect === 'may-have-run') return error;
      return new OutcomeUnknownError(
        `${opts.method} was sent to the bot on a link that dropped, and could not be retried (${error.bareMessage}); its outcome is unknown`,
        context,
        { cause: error },
      );
    };
    for (let attempt = 1; ; attempt++) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw failure(new DeadlineExceededError(`${opts.method} got no answer from the bot within ${opts.deadlineMs} ms (${this.description})`, context, { callEffect: 'not-run' }));
      }
      let session: ClientSession;
      try {
        // Never wait the whole call deadline for a tunnel: a dead route must fail fast, not block the agent.
        session = await this.pool.acquire({ signal: opts.signal, timeoutMs: Math.min(remaining, this.mw.connectTimeout * 1000) });
      } catch (error) {
        throw failure(
          error instanceof MiddlewareError
            ? error
            : new BotUnavailableError(`no working tunnel to the bot (${this.description}): ${errorMessage(error)}`, context, { cause: error }),
        );
      }
      try {
        const reply = await session.call(payload as never, { id, deadlineMs: remaining, signal: opts.signal });
        const parsed = replyPayloadSchema.safeParse(reply.payload);
        if (!parsed.success) {
          // The bot answered: the method ran, only its answer is unusable.
          throw new ProtocolError(`malformed reply from the bot for ${opts.method}: ${parsed.error.message}`, context, { callEffect: 'may-have-run' });
        }
        if (!reply.replayed) return parsed.data;
        this.opts.log.info({ ...context, attempt }, 'call answered from the bot journal (reply was lost before)');
        // The recorded times are those of the first delivery, not of this round trip.
        const { botTimes: _firstDelivery, ...replayed } = parsed.data;
        return replayed;
      } catch (error) {
        if (error instanceof ConnectionLostError) {
          delivered ||= error.callEffect === 'may-have-run';
          this.pool.markBroken(session, error);
          this.opts.log.warn({ ...context, attempt, err: error }, 'link lost during call; retrying with the same call id');
          continue;
        }
        if (error instanceof MiddlewareError) throw failure(error);
        throw error;
      }
    }
  }

  private async attach(link: BotLink): Promise<ClientSession> {
    const opened = await this.streams.open(link);
    const { used } = opened;
    if (this.transportUsed?.kind !== used.kind) this.opts.log.info({ host: this.mw.remoteHost, transport: used.kind, why: used.why }, 'reaching the bot');
    this.transportUsed = used;
    const secretFile = botSecretPath(this.mw.botHome);
    // Read when the bot has said hello: a bot the stdio relay is starting writes the file as it starts.
    const readSecret = async (): Promise<string> => {
      try {
        return await readBotSecret(link, secretFile);
      } catch (error) {
        throw new BotUnavailableError(
          `cannot read the bot secret ${secretFile} on ${this.mw.remoteHost} as ${this.mw.sshUserName} (is the bot started with --home ${this.mw.botHome}?): ${errorMessage(error)}`,
          { host: this.mw.remoteHost, user: this.mw.sshUserName, step: 'bot-auth' },
          { cause: error },
        );
      }
    };
    const session = await handshakeWithBot(link, opened, this.mw, readSecret);
    this.#botVersion = session.welcome.program.version;
    const offer = botOfferSchema.safeParse(session.welcome.offer);
    if (offer.success) {
      this.latestOffer = offer.data;
      const waiters = this.offerWaiters;
      this.offerWaiters = [];
      for (const wake of waiters) wake();
    }
    session.on('close', (error?: Error) => this.pool.markBroken(session, error ?? new ConnectionLostError('RPC session closed', {})));
    return session;
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
