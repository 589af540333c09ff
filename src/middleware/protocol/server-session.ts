// The bot's end of one connection: handshake (version check, mutual proof of the bot secret), then calls.
// Each call id goes through the ledger (the bot's journal), which runs a new id once and answers a known id
// from its record or from the execution already running for it.
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import {
  AuthenticationError,
  BotUnavailableError,
  FrameTooLargeError,
  OutcomeUnknownError,
  ProtocolError,
  ProtocolVersionError,
  RemoteMethodError,
  toWireError,
  type MiddlewareErrorContext,
} from '../errors.js';
import { newNonce, proofFor, proofMatches } from './auth.js';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS } from './client-session.js';
import { MessageConnection } from './connection.js';
import { DEFAULT_MAX_FRAME_BYTES } from './frames.js';
import type { JsonValue } from './json.js';
import type { CallClaim, CallLedger, CallReply, ExecutionWaiter } from './ledger.js';
import type { MiddlewareLogger } from './log.js';
import {
  PROGRAM_NAME,
  PROTOCOL_VERSION,
  resultMessageParts,
  type BotHealth,
  type DeniedCode,
  type Message,
  type MessageOf,
} from './messages.js';

/** Until the peer is authenticated it may not make us buffer more than this. */
export const DEFAULT_PRE_AUTH_MAX_FRAME_BYTES = 64 * 1024;
/** Room left in a frame for the envelope around a result payload. */
const ENVELOPE_BYTES = 1024;

export interface CallContext {
  readonly id: string;
  /** Aborted on cancel (by every caller waiting), deadline, or bot shutdown; `reason` says which. */
  readonly signal: AbortSignal;
}

/**
 * Runs one call. Its value is sent back as the result. A thrown error is sent as an `error` whose type is
 * chosen by toWireError (src/middleware/errors.ts): a MiddlewareError's wireType, else a string `wireType`
 * property on the error, else 'RemoteMethodError'.
 */
export type CallHandler = (payload: JsonValue, context: CallContext) => Promise<JsonValue | undefined>;

export interface ServerSessionOptions {
  /** The bot secret, or a function reading it (so a rotated secret file applies to the next connection). */
  readonly secret?: string;
  readonly secretProvider?: () => string | Promise<string>;
  /** Sent in the welcome; opaque to the protocol. */
  readonly offer: JsonValue;
  readonly handler: CallHandler;
  readonly journal: CallLedger;
  readonly botId: string;
  /** ISO time the bot started. */
  readonly startedAt: string;
  readonly programVersion: string;
  readonly programName?: string;
  readonly handshakeTimeoutMs?: number;
  readonly maxFrameBytes?: number;
  readonly preAuthMaxFrameBytes?: number;
  /** Put into errors (e.g. the peer's address as host). */
  readonly context?: MiddlewareErrorContext;
  readonly log?: MiddlewareLogger;
  /** The bot's answer to a health request; default: this process's RSS and the journal's running calls. */
  readonly health?: () => BotHealth;
}

type State = 'await-hello' | 'await-auth' | 'await-secret' | 'open' | 'closed';

/** Emits 'close' once, with the error that ended the session (undefined when closed without one). */
export class ServerSession extends EventEmitter<{ close: [error: Error | undefined] }> {
  private readonly connection: MessageConnection;
  private readonly context: MiddlewareErrorContext;
  private readonly maxFrameBytes: number;
  private readonly waiting = new Map<string, ExecutionWaiter>();
  private readonly serverNonce = newNonce();
  private state: State = 'await-hello';
  private clientNonce = '';
  private secret: string | undefined;
  private secretReady: Promise<void> = Promise.resolve();
  private draining = false;
  private peerProgramValue = { name: '', version: '' };
  private settleHandshake: ((error: Error | undefined) => void) | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;

  private constructor(
    stream: Duplex,
    private readonly options: ServerSessionOptions,
  ) {
    super();
    this.context = options.context ?? {};
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.connection = new MessageConnection(
      stream,
      { onMessage: (message) => this.onMessage(message), onClose: (error) => this.onClose(error) },
      {
        maxFrameBytes: this.maxFrameBytes,
        initialReceiveLimit: Math.min(this.maxFrameBytes, options.preAuthMaxFrameBytes ?? DEFAULT_PRE_AUTH_MAX_FRAME_BYTES),
        context: this.context,
      },
    );
  }

  /** Runs the handshake on `stream`; resolves once the client proved it knows the secret. */
  static accept(stream: Duplex, options: ServerSessionOptions): Promise<ServerSession> {
    if ((options.secret === undefined) === (options.secretProvider === undefined)) {
      return Promise.reject(new TypeError('ServerSession.accept needs exactly one of secret and secretProvider'));
    }
    const session = new ServerSession(stream, options);
    return session.handshake().then(() => session);
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Calls of this connection waiting for their reply. */
  get inFlight(): number {
    return this.waiting.size;
  }

  /** The client's program name and version from its hello. */
  get peerProgram(): { readonly name: string; readonly version: string } {
    return this.peerProgramValue;
  }


  /** From now on, new calls are refused with BotUnavailable (they are not journaled: a retry runs elsewhere or later). */
  stopAcceptingCalls(): void {
    this.draining = true;
  }

  close(error?: Error): void {
    this.connection.close(error);
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
        this.deny('timeout', `handshake not completed within ${timeoutMs} ms`, new ProtocolError(
          `the client did not complete the handshake within ${timeoutMs} ms`,
          { ...this.context, step: 'handshake' },
        ));
      }, timeoutMs);
      this.secretReady = this.loadSecret();
      this.secretReady.catch((error: unknown) => this.connection.close(error as Error));
    });
  }

  private async loadSecret(): Promise<void> {
    const secret = this.options.secret ?? (await this.options.secretProvider!());
    if (typeof secret !== 'string' || secret.length === 0) {
      throw new AuthenticationError('the bot secret is empty', { ...this.context, step: 'auth' });
    }
    this.secret = secret;
  }

  private deny(code: DeniedCode, reason: string, error: Error): void {
    this.connection.sendAndClose({ t: 'denied', code, reason }, error);
  }

  private onMessage(message: Message): void {
    switch (this.state) {
      case 'await-hello':
        if (message.t === 'hello') return this.onHello(message);
        break;
      case 'await-auth':
        if (message.t === 'auth') return void this.onAuth(message);
        break;
      case 'open':
        if (message.t === 'call') return this.onCall(message);
        if (message.t === 'cancel') return this.onCancel(message);
        if (message.t === 'health') return this.onHealth(message);
        break;
      case 'closed':
        return;
    }
    const expected =
      this.state === 'await-hello' ? 'hello' : this.state === 'open' ? 'call, cancel or health' : this.state === 'await-auth' ? 'auth' : 'nothing before the welcome';
    const reason = `expected ${expected}, got '${message.t}'`;
    const error = new ProtocolError(`client sent ${reason}`, { ...this.context, step: this.step() });
    if (this.state === 'open') this.connection.close(error);
    else this.deny('protocol', `${reason}; nothing is accepted before authentication`, error);
  }

  private onHello(hello: MessageOf<'hello'>): void {
    this.peerProgramValue = hello.program;
    this.connection.send({
      t: 'hello',
      protocol: PROTOCOL_VERSION,
      program: { name: this.options.programName ?? PROGRAM_NAME, version: this.options.programVersion },
      nonce: this.serverNonce,
    });
    if (hello.protocol !== PROTOCOL_VERSION) {
      const text =
        `herder speaks protocol ${hello.protocol} (${hello.program.name} ${hello.program.version}), bot ${PROTOCOL_VERSION} ` +
        `(${this.options.programVersion}); install the same harvester-ts version on both hosts`;
      this.deny('protocol-version', text, new ProtocolVersionError(text, { ...this.context, step: 'handshake' }));
      return;
    }
    this.clientNonce = hello.nonce;
    this.state = 'await-auth';
  }

  private onAuth(auth: MessageOf<'auth'>): void {
    if (this.secret === undefined) {
      // The secret provider has not answered yet (a failure closes the session in handshake()).
      this.state = 'await-secret';
      void this.secretReady.then(() => this.state === 'await-secret' && this.onAuth(auth), () => undefined);
      return;
    }
    const secret = this.secret;
    const expected = proofFor('client', secret, this.serverNonce, this.clientNonce);
    if (!proofMatches(expected, auth.proof)) {
      this.deny(
        'auth',
        'the proof does not match the bot secret',
        new AuthenticationError('client failed to prove it knows the bot secret', { ...this.context, step: 'auth' }),
      );
      return;
    }
    this.connection.send({
      t: 'welcome',
      proof: proofFor('server', secret, this.serverNonce, this.clientNonce),
      botId: this.options.botId,
      startedAt: this.options.startedAt,
      offer: this.options.offer,
    });
    this.state = 'open';
    this.connection.setReceiveLimit(this.maxFrameBytes);
    this.settleHandshake?.(undefined);
  }

  private onHealth(request: MessageOf<'health'>): void {
    const health: BotHealth = this.options.health?.() ?? {
      rssBytes: process.memoryUsage.rss(),
      callsInFlight: this.options.journal.runningCount,
      journalBytes: 0,
      connections: 1,
      uptimeSeconds: Math.max(0, (Date.now() - Date.parse(this.options.startedAt)) / 1000) || 0,
    };
    this.connection.send({ t: 'health-report', id: request.id, health });
  }

  private onCall(call: MessageOf<'call'>): void {
    const { id } = call;
    // A second delivery on the same connection: the reply to the first is already on its way.
    if (this.waiting.has(id)) return;
    if (this.draining) {
      // Not claimed, so not run by this delivery (a herder that sent the id before on a lost link knows better).
      const refusal = new BotUnavailableError('the bot is stopping', { callId: id }, { callEffect: 'not-run' });
      this.sendReply(id, { kind: 'error', error: toWireError(refusal) }, false);
      return;
    }
    const deadlineAt = Date.now() + call.deadline;
    let claim: CallClaim;
    try {
      claim = this.options.journal.claim(id, deadlineAt, (signal) => this.run(call.payload, id, signal));
    } catch (error) {
      // Not journaled, so not run: the caller may retry.
      this.options.log?.error({ err: error, callId: id }, 'the call journal refused a call');
      const refusal = new BotUnavailableError(`the call journal refused call ${id}, so it was not run: ${(error as Error).message}`, { callId: id }, {
        cause: error,
        callEffect: 'not-run',
      });
      this.sendReply(id, { kind: 'error', error: toWireError(refusal) }, false);
      return;
    }
    if (claim.kind === 'replay') {
      this.sendReply(id, claim.reply, true);
      return;
    }
    const waiter = claim.execution.addWaiter(deadlineAt);
    this.waiting.set(id, waiter);
    claim.execution.reply.then(
      (reply) => {
        if (this.waiting.get(id) !== waiter) return;
        this.waiting.delete(id);
        waiter.detach();
        if (claim.execution.abandoned && claim.execution.started) {
          // Aborted by shutdown: whatever the handler returned, it may have been cut short half-way.
          const unknown = new OutcomeUnknownError(`call ${id} was aborted because the bot is stopping; its outcome is unknown`);
          this.sendReply(id, { kind: 'error', error: toWireError(unknown) }, false);
          return;
        }
        this.sendReply(id, reply, !claim.startedHere);
      },
      (error: unknown) => this.connection.close(error as Error),
    );
  }

  private onCancel(cancel: MessageOf<'cancel'>): void {
    const waiter = this.waiting.get(cancel.id);
    if (waiter === undefined) return;
    this.waiting.delete(cancel.id);
    waiter.cancel(cancel.reason ?? 'cancelled');
  }

  private async run(payload: JsonValue, id: string, signal: AbortSignal): Promise<CallReply> {
    const value = await this.options.handler(payload, { id, signal });
    let payloadJson: string | undefined;
    try {
      payloadJson = JSON.stringify(value);
    } catch (error) {
      // The method ran: only its answer is lost.
      throw new RemoteMethodError(`the method's result is not JSON-serializable: ${(error as Error).message}`, { callId: id }, { cause: error, callEffect: 'may-have-run' });
    }
    const bytes = Buffer.from(payloadJson ?? 'null', 'utf8');
    const limit = this.maxFrameBytes - ENVELOPE_BYTES;
    if (bytes.length > limit) throw new FrameTooLargeError(bytes.length, limit, { callId: id, step: 'result' }, { callEffect: 'may-have-run' });
    return { kind: 'result', payload: bytes };
  }

  private sendReply(id: string, reply: CallReply, replayed: boolean): void {
    if (reply.kind === 'result') {
      try {
        this.connection.sendParts(resultMessageParts(id, replayed, reply.payload));
      } catch (error) {
        // Only FrameTooLarge can get here (a record written under a larger limit): answer with that error.
        this.connection.send({ t: 'error', id, error: toWireError(error) });
      }
      return;
    }
    this.connection.send({ t: 'error', id, error: reply.error });
  }

  private step(): string {
    return this.state === 'open' ? 'call' : this.state === 'await-hello' ? 'handshake' : 'auth';
  }

  private onClose(error: Error | undefined): void {
    const step = this.step();
    this.state = 'closed';
    this.settleHandshake?.(
      error ?? new ProtocolError('the session was closed during the handshake', { ...this.context, step }),
    );
    // The handlers run on: the caller will retry on another connection and attach to them or read the record.
    for (const waiter of this.waiting.values()) waiter.detach();
    this.waiting.clear();
    this.emit('close', error);
  }
}
