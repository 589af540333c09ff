// The middleware's typed errors, and the one place where they are mapped to and from the wire.
// Every error carries the context an operator needs to find the failing piece (queue, host, user, method,
// call id, step). Messages never contain secrets.
//
// Failure meaning lives on the error: every MiddlewareError has a `callEffect` (see
// src/plugins/call-effect.ts) saying whether the call it ended may have run on the bot. The site that raises
// the error knows, and says so: e.g. a CallCancelledError raised before the call frame was written is
// 'not-run', one raised after is 'may-have-run'. A site that does not say gets its class's default:
// 'not-run' for the errors that can only happen before a call reaches a plugin (BotUnavailable,
// Authentication, MethodNotFound, ProtocolVersion), 'may-have-run' for every other (never a blind retry of
// a call nobody can vouch for). The meaning travels on the wire with the error's name and causes, so the
// herder's copy of a bot error means what the bot's did; agents read it with callEffectOf (plugin-call.ts).

import { maskSecrets } from '../logging/index.js';
import { callEffectOf, isCallEffect, type CallEffect } from '../plugins/call-effect.js';

/** Where a middleware error happened. Every field is optional: each layer fills in what it knows. */
export interface MiddlewareErrorContext {
  readonly queue?: string;
  readonly host?: string;
  readonly user?: string;
  readonly method?: string;
  readonly callId?: string;
  /** What was being done: 'connect', 'handshake', 'auth', 'call', 'journal', 'secret', ... */
  readonly step?: string;
}

/** One link of a remote error's cause chain, as it travels: its name (class) and message. */
export interface WireCause {
  readonly name: string;
  readonly message: string;
}

/**
 * An error as it travels in an `error` message. `name`, `callEffect` and `causes` were added later without a
 * protocol bump: a bot that does not send them is still understood (the class defaults apply).
 */
export interface WireError {
  readonly type: string;
  readonly message: string;
  readonly remoteStack?: string;
  readonly details?: unknown;
  /** The error's own name (class), e.g. 'SlurmCommandError', where `type` may just say RemoteMethodError. */
  readonly name?: string;
  readonly callEffect?: CallEffect;
  /** The first links of its cause chain, nearest first (at most MAX_WIRE_CAUSES). */
  readonly causes?: WireCause[];
}

/** How many causes of an error travel, and how long each message may be: enough to diagnose, bounded. */
export const MAX_WIRE_CAUSES = 3;
export const MAX_WIRE_CAUSE_MESSAGE = 1000;
const MAX_WIRE_NAME = 200;

/** Options of every middleware error: the cause, and what the call may have done (else the class default). */
export interface MiddlewareErrorOptions {
  readonly cause?: unknown;
  readonly callEffect?: CallEffect;
}

function describeContext(context: MiddlewareErrorContext): string {
  const parts: string[] = [];
  for (const key of ['queue', 'host', 'user', 'method', 'callId', 'step'] as const) {
    const value = context[key];
    if (value !== undefined && value !== '') parts.push(`${key}=${value}`);
  }
  return parts.length === 0 ? '' : ` [${parts.join(' ')}]`;
}

export class MiddlewareError extends Error {
  /** The `type` this error has on the wire; also how a thrown error chooses its wire type (see toWireError). */
  static readonly wireType: string = 'MiddlewareError';
  /** What a call ended by this class of error may have done, when the raise site does not say. */
  static readonly defaultCallEffect: CallEffect = 'may-have-run';
  /** Whether the call this error ended may have run (set where the error is raised; see the top of this file). */
  readonly callEffect: CallEffect;
  context: MiddlewareErrorContext;
  /** For errors received from the bot: the stack where the bot raised it. */
  remoteStack: string | undefined;
  /** The message without the context suffix. */
  readonly bareMessage: string;

  constructor(message: string, context: MiddlewareErrorContext = {}, options: MiddlewareErrorOptions = {}) {
    super(message + describeContext(context), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.context = context;
    this.bareMessage = message;
    this.callEffect = options.callEffect ?? (new.target as typeof MiddlewareError).defaultCallEffect;
  }

  /**
   * Fills in context an outer layer knows (e.g. the herder adds queue and host to an error from the
   * protocol). Fields already set are kept; the message is rebuilt. Returns this, for `throw e.addContext(..)`.
   */
  addContext(extra: MiddlewareErrorContext): this {
    const merged: MiddlewareErrorContext = { ...extra, ...this.context };
    for (const key of Object.keys(merged) as (keyof MiddlewareErrorContext)[]) {
      if (merged[key] === undefined) delete (merged as Record<string, unknown>)[key];
    }
    this.context = merged;
    this.message = this.bareMessage + describeContext(merged);
    return this;
  }

  get wireType(): string {
    return (this.constructor as typeof MiddlewareError).wireType;
  }
}

/** No bot answers (connect refused, bot stopping, tunnel down). The caller may retry later. */
export class BotUnavailableError extends MiddlewareError {
  static override readonly wireType: string = 'BotUnavailable';
  /** Raised before a call reaches a plugin; a site where it may already have (the bot stopping) says so. */
  static override readonly defaultCallEffect: CallEffect = 'not-run';
}

/** One side could not prove it knows the bot secret. */
export class AuthenticationError extends MiddlewareError {
  static override readonly wireType: string = 'AuthenticationError';
  static override readonly defaultCallEffect: CallEffect = 'not-run';
}

/**
 * The remote plugin method threw (by default: it ran, and may have done part of its work before throwing).
 * `remoteType` is the wire type it was sent with, `remoteName` the name (class) of the error the bot caught.
 */
export class RemoteMethodError extends MiddlewareError {
  static override readonly wireType: string = 'RemoteMethodError';
  readonly remoteMessage: string;
  readonly remoteType: string;
  readonly remoteName: string;
  readonly details: unknown;

  constructor(
    remoteMessage: string,
    context: MiddlewareErrorContext = {},
    remote: { remoteStack?: string; remoteType?: string; remoteName?: string; details?: unknown } & MiddlewareErrorOptions = {},
  ) {
    super(`remote method failed: ${remoteMessage}`, context, remote);
    this.remoteMessage = remoteMessage;
    this.remoteStack = remote.remoteStack;
    this.remoteType = remote.remoteType ?? RemoteMethodError.wireType;
    this.remoteName = remote.remoteName ?? this.remoteType;
    this.details = remote.details;
  }
}

export class MethodNotFoundError extends MiddlewareError {
  static override readonly wireType: string = 'MethodNotFound';
  static override readonly defaultCallEffect: CallEffect = 'not-run';
}

export class DeadlineExceededError extends MiddlewareError {
  static override readonly wireType: string = 'DeadlineExceeded';
}

/** The call was started but its end was never recorded (the bot stopped while it ran). */
export class OutcomeUnknownError extends MiddlewareError {
  static override readonly wireType: string = 'OutcomeUnknown';
}

/**
 * The connection closed while the call was in flight; retry with the same call id. (Raised before the call
 * was written, e.g. on a session already closed, it says 'not-run'.)
 */
export class ConnectionLostError extends MiddlewareError {
  static override readonly wireType: string = 'ConnectionLost';
}

export class CallCancelledError extends MiddlewareError {
  static override readonly wireType: string = 'CallCancelled';
}

/**
 * Whatever answered on the bot's stream never spoke the bot protocol: its first bytes were not a bot's hello
 * (an HTTP server, another program on the port), or, on a TCP port held by another user, it stayed silent.
 * With a TCP port, another local user may have taken it before the bot started; the bot's unix socket (in
 * its private home) cannot be taken that way.
 */
export class NotOurBotError extends BotUnavailableError {
  static override readonly wireType: string = 'NotOurBot';
}

/** The peer accepted the connection but said nothing within the handshake timeout (a hung bot, or not a bot). */
export class HandshakeTimeoutError extends BotUnavailableError {
  static override readonly wireType: string = 'HandshakeTimeout';
}

/** The peer broke the protocol (invalid JSON, a message failing the schema, a message out of turn). */
export class ProtocolError extends MiddlewareError {
  static override readonly wireType: string = 'ProtocolError';
}

export class FrameTooLargeError extends ProtocolError {
  static override readonly wireType: string = 'FrameTooLarge';
  readonly declaredBytes: number;
  readonly maxBytes: number;

  constructor(declaredBytes: number, maxBytes: number, context: MiddlewareErrorContext = {}, options: MiddlewareErrorOptions = {}) {
    super(`frame of ${declaredBytes} bytes exceeds the limit of ${maxBytes} bytes`, context, options);
    this.declaredBytes = declaredBytes;
    this.maxBytes = maxBytes;
  }

  /** Carried on the wire so the receiving side can rebuild the sizes. */
  get details(): { declaredBytes: number; maxBytes: number } {
    return { declaredBytes: this.declaredBytes, maxBytes: this.maxBytes };
  }
}

export class ProtocolVersionError extends ProtocolError {
  static override readonly wireType: string = 'ProtocolVersion';
  /** Only raised at the handshake, before any call. */
  static override readonly defaultCallEffect: CallEffect = 'not-run';
}

/**
 * A link of a cause chain received from the bot: its `name` is the remote error's name (e.g. 'TypeError',
 * 'SlurmCommandError'), its message the remote message, its cause the next link.
 */
export class RemoteCause extends Error {
  constructor(name: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = name;
  }
}

type ErrorClass = new (message: string, context?: MiddlewareErrorContext, options?: MiddlewareErrorOptions) => MiddlewareError;

/** Wire type -> class, for the errors whose constructor takes (message, context). */
const classesByWireType: ReadonlyMap<string, ErrorClass> = new Map<string, ErrorClass>(
  [
    BotUnavailableError,
    AuthenticationError,
    MethodNotFoundError,
    DeadlineExceededError,
    OutcomeUnknownError,
    ConnectionLostError,
    CallCancelledError,
    ProtocolError,
    ProtocolVersionError,
  ].map((cls) => [cls.wireType, cls]),
);

const wireTypePattern = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

function jsonSafe(value: unknown): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(JSON.stringify(value)) as unknown;
  } catch (error) {
    return { unserializable: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * How a thrown error is sent back by the bot. The wire type is, in order: the `wireType` of a
 * MiddlewareError (e.g. MethodNotFoundError -> 'MethodNotFound'); a string `wireType` property on any other
 * error (so plugins, which must not import the middleware, can still choose one); else 'RemoteMethodError'.
 * A `details` property is carried when it is JSON-serializable. The error's name, its call effect
 * (callEffectOf: a plain Error may have run) and the first MAX_WIRE_CAUSES links of its cause chain go
 * along; every text is masked for the secrets this process knows.
 */
export function toWireError(error: unknown): WireError {
  if (!(error instanceof Error)) {
    return { type: RemoteMethodError.wireType, message: maskSecrets(`non-Error thrown: ${String(error)}`), callEffect: 'may-have-run' };
  }
  const own = (error as { wireType?: unknown }).wireType;
  const type = typeof own === 'string' && wireTypePattern.test(own) ? own : RemoteMethodError.wireType;
  // Without our context suffix (the receiving side adds its own context); a relayed RemoteMethodError
  // keeps the original remote message and name, not our prefixed ones.
  const message =
    error instanceof RemoteMethodError ? error.remoteMessage : error instanceof MiddlewareError ? error.bareMessage : error.message;
  const name = error instanceof RemoteMethodError ? error.remoteName : error.name;
  const details = jsonSafe((error as { details?: unknown }).details);
  const causes = wireCauses(error.cause);
  return {
    type,
    message: maskSecrets(message),
    ...(error.stack === undefined ? {} : { remoteStack: maskSecrets(error.stack) }),
    ...(details === undefined ? {} : { details }),
    name: bounded(String(name), MAX_WIRE_NAME),
    callEffect: callEffectOf(error),
    ...(causes.length === 0 ? {} : { causes }),
  };
}

/** The first links of a cause chain, nearest first; a non-Error cause becomes a link named by its type. */
function wireCauses(cause: unknown): WireCause[] {
  const causes: WireCause[] = [];
  const seen = new Set<unknown>();
  let next: unknown = cause;
  while (next !== undefined && causes.length < MAX_WIRE_CAUSES && !seen.has(next)) {
    seen.add(next);
    if (next instanceof Error) {
      const message = next instanceof MiddlewareError ? next.bareMessage : next.message;
      causes.push({ name: bounded(next.name, MAX_WIRE_NAME), message: bounded(maskSecrets(message), MAX_WIRE_CAUSE_MESSAGE) });
      next = next.cause;
    } else {
      causes.push({ name: next === null ? 'null' : typeof next, message: bounded(maskSecrets(String(next)), MAX_WIRE_CAUSE_MESSAGE) });
      next = undefined;
    }
  }
  return causes;
}

function bounded(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}

/** The received cause chain as linked RemoteCause errors (undefined when none came). */
function causeChain(causes: readonly WireCause[] | undefined): RemoteCause | undefined {
  let chain: RemoteCause | undefined;
  for (const link of [...(causes ?? [])].slice(0, MAX_WIRE_CAUSES).reverse()) {
    chain = new RemoteCause(link.name, link.message, chain === undefined ? undefined : { cause: chain });
  }
  return chain;
}

/**
 * The local error for an `error` message received from the bot. Unknown types become RemoteMethodError.
 * The call effect is the one the bot sent, else (an older bot) the class default; the causes become `cause`.
 */
export function fromWireError(wire: WireError, context: MiddlewareErrorContext = {}): MiddlewareError {
  const cause = causeChain(wire.causes);
  const options: MiddlewareErrorOptions = {
    ...(cause === undefined ? {} : { cause }),
    ...(isCallEffect(wire.callEffect) ? { callEffect: wire.callEffect } : {}),
  };
  if (wire.type === FrameTooLargeError.wireType) {
    const sizes = (wire.details ?? {}) as { declaredBytes?: unknown; maxBytes?: unknown };
    const error = new FrameTooLargeError(Number(sizes.declaredBytes), Number(sizes.maxBytes), context, options);
    error.remoteStack = wire.remoteStack;
    return error;
  }
  const cls = classesByWireType.get(wire.type);
  if (cls === undefined) {
    return new RemoteMethodError(wire.message, context, {
      ...options,
      ...(wire.remoteStack === undefined ? {} : { remoteStack: wire.remoteStack }),
      remoteType: wire.type,
      ...(wire.name === undefined ? {} : { remoteName: wire.name }),
      details: wire.details,
    });
  }
  const error = new cls(wire.message, context, options);
  error.remoteStack = wire.remoteStack;
  return error;
}
