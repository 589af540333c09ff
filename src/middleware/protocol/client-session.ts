// The herder's end of a connection to a bot: handshake (version check, mutual proof of the bot secret),
// then any number of concurrent calls, each matched to its reply by call id.
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import {
  AuthenticationError,
  BotUnavailableError,
  CallCancelledError,
  ConnectionLostError,
  DeadlineExceededError,
  FrameTooLargeError,
  HandshakeTimeoutError,
  NotOurBotError,
  ProtocolError,
  ProtocolVersionError,
  fromWireError,
  type MiddlewareError,
  type MiddlewareErrorContext,
} from '../errors.js';
import { newNonce, proofFor, proofMatches } from './auth.js';
import { MessageConnection } from './connection.js';
import { DEFAULT_MAX_FRAME_BYTES } from './frames.js';
import type { JsonValue } from './json.js';
import { MAX_TIMER_MS } from './ledger.js';
import { PROGRAM_NAME, PROTOCOL_VERSION, type BotHealth, type Message, type MessageOf } from './messages.js';

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

export interface ClientSessionOptions {
  /**
   * The bot secret, or how to get it once the bot has said hello (a bot being started by the stdio relay
   * writes its secret file as it starts). Never logged, never part of an error.
   */
  readonly secret: string | (() => Promise<string>);
  readonly programVersion: string;
  readonly programName?: string;
  readonly handshakeTimeoutMs?: number;
  readonly maxFrameBytes?: number;
  /** Put into every error this session raises (queue, host, user). */
  readonly context?: MiddlewareErrorContext;
}

/** What the bot told us once both sides proved they know the secret. */
export interface Welcome {
  readonly botId: string;
  readonly startedAt: string;
  /** Opaque to the protocol: the bot's owner says what the bot offers (plugins, methods). */
  readonly offer: JsonValue;
  readonly protocol: number;
  readonly program: { readonly name: string; readonly version: string };
}

export interface CallOptions {
  /** Reuse the same id when retrying: the bot answers a known id from its record instead of running it again. */
  readonly id?: string;
  /** Budget in ms, sent to the bot (which aborts the handler's signal when it passes). */
  readonly deadlineMs: number;
  readonly signal?: AbortSignal;
  /** Only for error context. */
  readonly method?: string;
}

export interface CallResult {
  readonly payload: JsonValue;
  /** True when this reply did not come from an execution started by this delivery (record or earlier delivery). */
  readonly replayed: boolean;
}

interface PendingCall {
  readonly resolve: (result: CallResult) => void;
  readonly reject: (error: Error) => void;
  readonly context: MiddlewareErrorContext;
  readonly timer: NodeJS.Timeout;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: (() => void) | undefined;
}

type State = 'await-hello' | 'await-welcome' | 'open' | 'closed';

/** Emits 'close' once, with the error that ended the session (undefined when closed without one). */
export class ClientSession extends EventEmitter<{ close: [error: Error | undefined] }> {
  private readonly connection: MessageConnection;
  private readonly context: MiddlewareErrorContext;
  private readonly pending = new Map<string, PendingCall>();
  private readonly healthRequests = new Map<string, { resolve: (health: BotHealth) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  private readonly clientNonce = newNonce();
  private state: State = 'await-hello';
  /** The secret once known (at hello). */
  private secret: string | undefined;
  private serverNonce = '';
  private serverProgram = { name: '', version: '' };
  private welcomeValue: Welcome | undefined;
  private settleHandshake: ((error: Error | undefined) => void) | undefined;
  /** Whether the peer ever sent a well-formed protocol message (else it is not a bot at all). */
  private peerSpoke = false;
  private handshakeTimer: NodeJS.Timeout | undefined;

  private constructor(
    stream: Duplex,
    private readonly options: ClientSessionOptions,
  ) {
    super();
    this.context = options.context ?? {};
    this.connection = new MessageConnection(
      stream,
      { onMessage: (message) => this.onMessage(message), onClose: (error) => this.onClose(error) },
      { maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES, context: this.context },
    );
  }

  /** Runs the handshake on `stream`; resolves once the bot has proved it knows the secret. */
  static connect(stream: Duplex, options: ClientSessionOptions): Promise<ClientSession> {
    const session = new ClientSession(stream, options);
    return session.handshake().then(() => session);
  }

  get welcome(): Welcome {
    if (this.welcomeValue === undefined) throw new ProtocolError('no welcome before the handshake ends', this.context);
    return this.welcomeValue;
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  get inFlight(): number {
    return this.pending.size;
  }


  /** Closes the connection; calls in flight reject with ConnectionLostError. */
  close(): void {
    this.connection.close();
  }

  call(payload: JsonValue, options: CallOptions): Promise<CallResult> {
    const id = options.id ?? randomUUID();
    const context: MiddlewareErrorContext = {
      ...this.context,
      ...(options.method === undefined ? {} : { method: options.method }),
      callId: id,
      step: 'call',
    };
    // Until the call frame is written, every failure is 'not-run'; after, the bot may be running it.
    const notSent = { callEffect: 'not-run' } as const;
    const sent = { callEffect: 'may-have-run' } as const;
    if (this.state !== 'open') return Promise.reject(new ConnectionLostError('the session is not open', context, notSent));
    if (this.pending.has(id)) {
      return Promise.reject(new ProtocolError(`call ${id} is already in flight on this session`, context, notSent));
    }
    if (options.signal?.aborted) {
      return Promise.reject(new CallCancelledError(`call ${id} was cancelled before it was sent`, context, { ...notSent, cause: options.signal.reason }));
    }
    let json: string;
    try {
      json = JSON.stringify({ t: 'call', id, deadline: options.deadlineMs, payload });
    } catch (error) {
      return Promise.reject(new ProtocolError(`the call payload is not JSON: ${(error as Error).message}`, context, { ...notSent, cause: error }));
    }
    return new Promise<CallResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.abandon(id, 'deadline', new DeadlineExceededError(`call ${id} got no answer within ${options.deadlineMs} ms`, context, sent));
      }, Math.min(MAX_TIMER_MS, Math.max(0, options.deadlineMs)));
      const signal = options.signal;
      const onAbort =
        signal === undefined
          ? undefined
          : () => this.abandon(id, 'cancelled', new CallCancelledError(`call ${id} was cancelled after it was sent`, context, { ...sent, cause: signal.reason }));
      signal?.addEventListener('abort', onAbort!, { once: true });
      this.pending.set(id, { resolve, reject, context, timer, signal, onAbort });
      try {
        this.connection.sendJson(json);
      } catch (error) {
        // sendJson throws before anything is written (the frame is too large to encode).
        this.settle(id)?.reject(notSentError(error, context));
      }
    });
  }

  /**
   * Asks the bot how it is (memory, calls running, journal size): answered by its session, never journaled,
   * never run by a plugin. Rejects with DeadlineExceededError after timeoutMs, ConnectionLostError when the
   * session closes first.
   */
  health(timeoutMs: number): Promise<BotHealth> {
    const id = randomUUID();
    const context: MiddlewareErrorContext = { ...this.context, method: 'health', callId: id, step: 'health' };
    if (this.state !== 'open') return Promise.reject(new ConnectionLostError('the session is not open', context, { callEffect: 'not-run' }));
    return new Promise<BotHealth>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.healthRequests.delete(id);
        reject(new DeadlineExceededError(`the bot did not answer the health request within ${timeoutMs} ms`, context, { callEffect: 'not-run' }));
      }, timeoutMs);
      this.healthRequests.set(id, { resolve, reject, timer });
      this.connection.send({ t: 'health', id });
    });
  }

  private onHealthReport(report: MessageOf<'health-report'>): void {
    const request = this.healthRequests.get(report.id);
    if (request === undefined) return; // given up on already
    this.healthRequests.delete(report.id);
    clearTimeout(request.timer);
    request.resolve(report.health);
  }

  /** Gives up on a call locally and tells the bot, which aborts the handler unless another caller waits. */
  private abandon(id: string, reason: 'deadline' | 'cancelled', error: MiddlewareError): void {
    const call = this.settle(id);
    if (call === undefined) return;
    if (this.state === 'open') this.connection.send({ t: 'cancel', id, reason });
    call.reject(error);
  }

  /** Removes a pending call and its timer and listener; undefined when it is no longer pending. */
  private settle(id: string): PendingCall | undefined {
    const call = this.pending.get(id);
    if (call === undefined) return undefined;
    this.pending.delete(id);
    clearTimeout(call.timer);
    if (call.onAbort !== undefined) call.signal?.removeEventListener('abort', call.onAbort);
    return call;
  }

  private handshake(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timeoutMs = this.options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
      this.settleHandshake = (error) => {
        this.settleHandshake = undefined;
        clearTimeout(this.handshakeTimer);
        if (error === undefined) resolve();
        else reject(error);
      };
      this.handshakeTimer = setTimeout(() => {
        const context = { ...this.context, step: 'handshake' };
        this.connection.close(
          this.peerSpoke
            ? new BotUnavailableError(`the bot did not complete the handshake within ${timeoutMs} ms`, context)
            : new HandshakeTimeoutError(`the peer accepted the connection but sent no hello within ${timeoutMs} ms`, context),
        );
      }, timeoutMs);
      this.connection.send({
        t: 'hello',
        protocol: PROTOCOL_VERSION,
        program: { name: this.options.programName ?? PROGRAM_NAME, version: this.options.programVersion },
        nonce: this.clientNonce,
      });
    });
  }

  private onMessage(message: Message): void {
    this.peerSpoke = true;
    switch (this.state) {
      case 'await-hello':
        if (message.t === 'hello') return this.onHello(message);
        break;
      case 'await-welcome':
        if (message.t === 'welcome') return this.onWelcome(message);
        break;
      case 'open':
        if (message.t === 'result') return this.onResult(message);
        if (message.t === 'error') return this.onError(message);
        if (message.t === 'health-report') return this.onHealthReport(message);
        break;
      case 'closed':
        return;
    }
    if (message.t === 'denied') return this.onDenied(message);
    this.connection.close(new ProtocolError(`unexpected '${message.t}' message while ${this.state}`, { ...this.context, step: this.step() }));
  }

  private onHello(hello: MessageOf<'hello'>): void {
    if (hello.protocol !== PROTOCOL_VERSION) {
      this.connection.close(
        new ProtocolVersionError(
          `bot speaks protocol ${hello.protocol} (${hello.program.name} ${hello.program.version}), herder ${PROTOCOL_VERSION} ` +
            `(${this.options.programVersion}); install the same harvester-ts version on both hosts`,
          { ...this.context, step: 'handshake' },
        ),
      );
      return;
    }
    this.serverNonce = hello.nonce;
    this.state = 'await-welcome';
    this.serverProgram = hello.program;
    const given = this.options.secret;
    if (typeof given === 'string') {
      this.secret = given;
      this.connection.send({ t: 'auth', proof: proofFor('client', given, this.serverNonce, this.clientNonce) });
      return;
    }
    given().then(
      (secret) => {
        this.secret = secret;
        if (this.state === 'await-welcome') this.connection.send({ t: 'auth', proof: proofFor('client', secret, this.serverNonce, this.clientNonce) });
      },
      (error: unknown) => this.connection.close(error instanceof Error ? error : new AuthenticationError(String(error), { ...this.context, step: 'auth' })),
    );
  }

  private onWelcome(welcome: MessageOf<'welcome'>): void {
    const expected = proofFor('server', this.secret ?? '', this.serverNonce, this.clientNonce);
    if (!proofMatches(expected, welcome.proof)) {
      this.connection.close(
        new AuthenticationError('the bot could not prove it knows the bot secret (wrong secret, or not our bot)', {
          ...this.context,
          step: 'auth',
        }),
      );
      return;
    }
    this.welcomeValue = {
      protocol: PROTOCOL_VERSION,
      program: this.serverProgram,
      botId: welcome.botId,
      startedAt: welcome.startedAt,
      offer: welcome.offer,
    };
    this.state = 'open';
    this.settleHandshake?.(undefined);
  }

  private onDenied(denied: MessageOf<'denied'>): void {
    const context = { ...this.context, step: this.step() };
    const reason = `the bot refused the session: ${denied.reason}`;
    let error: Error;
    if (denied.code === 'auth') error = new AuthenticationError(reason, context);
    else if (denied.code === 'protocol-version') error = new ProtocolVersionError(reason, context);
    else if (denied.code === 'protocol') error = new ProtocolError(reason, context);
    else error = new BotUnavailableError(reason, context);
    this.connection.close(error);
  }

  private onResult(result: MessageOf<'result'>): void {
    // Unknown ids are replies to calls we already gave up on (deadline, cancel): nothing waits for them.
    this.settle(result.id)?.resolve({ payload: result.payload, replayed: result.replayed });
  }

  private onError(message: MessageOf<'error'>): void {
    const call = this.settle(message.id);
    if (call === undefined) return;
    call.reject(fromWireError(message.error, call.context));
  }

  private step(): string {
    return this.state === 'open' ? 'call' : this.state === 'await-welcome' ? 'auth' : 'handshake';
  }

  private onClose(error: Error | undefined): void {
    const step = this.step();
    this.state = 'closed';
    if (this.settleHandshake !== undefined) {
      this.settleHandshake(
        error instanceof ConnectionLostError || error === undefined
          ? new ConnectionLostError('the connection closed during the handshake', { ...this.context, step }, { cause: error })
          : !this.peerSpoke && error instanceof ProtocolError
            ? new NotOurBotError(`whatever answered does not speak the bot protocol (${error.bareMessage})`, { ...this.context, step }, { cause: error })
            : error,
      );
    }
    for (const [id, request] of [...this.healthRequests]) {
      this.healthRequests.delete(id);
      clearTimeout(request.timer);
      request.reject(new ConnectionLostError('connection lost before the bot answered the health request', { ...this.context, step: 'health' }, { cause: error, callEffect: 'not-run' }));
    }
    for (const id of [...this.pending.keys()]) {
      const call = this.settle(id)!;
      call.reject(
        new ConnectionLostError(`connection lost while call ${id} was in flight; retry with the same id`, call.context, {
          cause: error,
          callEffect: 'may-have-run',
        }),
      );
    }
    this.emit('close', error);
  }
}

/** The error of a call whose frame could not be written: the same kind of error, saying the call did not run. */
function notSentError(error: unknown, context: MiddlewareErrorContext): MiddlewareError {
  if (error instanceof FrameTooLargeError) {
    return new FrameTooLargeError(error.declaredBytes, error.maxBytes, context, { cause: error, callEffect: 'not-run' });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ProtocolError(`the call could not be sent: ${message}`, context, { cause: error, callEffect: 'not-run' });
}
