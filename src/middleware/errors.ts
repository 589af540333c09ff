// The middleware's typed errors, and the one place where they are mapped to and from the wire.
// Every error carries the context an operator needs to find the failing piece (queue, host, user, method,
// call id, step). Messages never contain secrets.

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

/** An error as it travels in an `error` message. */
export interface WireError {
  readonly type: string;
  readonly message: string;
  readonly remoteStack?: string;
  readonly details?: unknown;
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
  context: MiddlewareErrorContext;
  /** For errors received from the bot: the stack where the bot raised it. */
  remoteStack: string | undefined;
  /** The message without the context suffix. */
  readonly bareMessage: string;

  constructor(message: string, context: MiddlewareErrorContext = {}, options?: { cause?: unknown }) {
    super(message + describeContext(context), options);
    this.name = new.target.name;
    this.context = context;
    this.bareMessage = message;
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
}

/** One side could not prove it knows the bot secret. */
export class AuthenticationError extends MiddlewareError {
  static override readonly wireType: string = 'AuthenticationError';
}

/** The remote plugin method threw. `remoteType` is the wire type it was sent with. */
export class RemoteMethodError extends MiddlewareError {
  static override readonly wireType: string = 'RemoteMethodError';
  readonly remoteMessage: string;
  readonly remoteType: string;
  readonly details: unknown;

  constructor(
    remoteMessage: string,
    context: MiddlewareErrorContext = {},
    remote: { remoteStack?: string; remoteType?: string; details?: unknown } = {},
  ) {
    super(`remote method failed: ${remoteMessage}`, context);
    this.remoteMessage = remoteMessage;
    this.remoteStack = remote.remoteStack;
    this.remoteType = remote.remoteType ?? RemoteMethodError.wireType;
    this.details = remote.details;
  }
}

export class MethodNotFoundError extends MiddlewareError {
  static override readonly wireType: string = 'MethodNotFound';
}

export class DeadlineExceededError extends MiddlewareError {
  static override readonly wireType: string = 'DeadlineExceeded';
}

/** The call was started but its end was never recorded (the bot stopped while it ran). */
export class OutcomeUnknownError extends MiddlewareError {
  static override readonly wireType: string = 'OutcomeUnknown';
}

/** The connection closed while the call was in flight; retry with the same call id. */
export class ConnectionLostError extends MiddlewareError {
  static override readonly wireType: string = 'ConnectionLost';
}

export class CallCancelledError extends MiddlewareError {
  static override readonly wireType: string = 'CallCancelled';
}

/** The peer broke the protocol (invalid JSON, a message failing the schema, a message out of turn). */
export class ProtocolError extends MiddlewareError {
  static override readonly wireType: string = 'ProtocolError';
}

export class FrameTooLargeError extends ProtocolError {
  static override readonly wireType: string = 'FrameTooLarge';
  readonly declaredBytes: number;
  readonly maxBytes: number;

  constructor(declaredBytes: number, maxBytes: number, context: MiddlewareErrorContext = {}) {
    super(`frame of ${declaredBytes} bytes exceeds the limit of ${maxBytes} bytes`, context);
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
}

type ErrorClass = new (message: string, context?: MiddlewareErrorContext) => MiddlewareError;

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
 * A `details` property is carried when it is JSON-serializable.
 */
export function toWireError(error: unknown): WireError {
  if (!(error instanceof Error)) {
    return { type: RemoteMethodError.wireType, message: `non-Error thrown: ${String(error)}` };
  }
  const own = (error as { wireType?: unknown }).wireType;
  const type = typeof own === 'string' && wireTypePattern.test(own) ? own : RemoteMethodError.wireType;
  // Without our context suffix (the receiving side adds its own context); a relayed RemoteMethodError
  // keeps the original remote message, not our prefixed one.
  const message =
    error instanceof RemoteMethodError ? error.remoteMessage : error instanceof MiddlewareError ? error.bareMessage : error.message;
  const details = jsonSafe((error as { details?: unknown }).details);
  return {
    type,
    message,
    ...(error.stack === undefined ? {} : { remoteStack: error.stack }),
    ...(details === undefined ? {} : { details }),
  };
}

/** The local error for an `error` message received from the bot. Unknown types become RemoteMethodError. */
export function fromWireError(wire: WireError, context: MiddlewareErrorContext = {}): MiddlewareError {
  if (wire.type === FrameTooLargeError.wireType) {
    const sizes = (wire.details ?? {}) as { declaredBytes?: unknown; maxBytes?: unknown };
    const error = new FrameTooLargeError(Number(sizes.declaredBytes), Number(sizes.maxBytes), context);
    error.remoteStack = wire.remoteStack;
    return error;
  }
  const cls = classesByWireType.get(wire.type);
  if (cls === undefined) {
    return new RemoteMethodError(wire.message, context, {
      ...(wire.remoteStack === undefined ? {} : { remoteStack: wire.remoteStack }),
      remoteType: wire.type,
      details: wire.details,
    });
  }
  const error = new cls(wire.message, context);
  error.remoteStack = wire.remoteStack;
  return error;
}
