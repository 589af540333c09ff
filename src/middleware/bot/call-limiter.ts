// At most N plugin calls of one connection run at once; the others wait their turn in arrival order (none
// is dropped). A herder that sends far more than that makes the bot stop reading its connection until the
// queue shrinks, so the calls waiting in memory stay bounded too (TCP or the socket buffers the rest).
import { BotUnavailableError, CallCancelledError, DeadlineExceededError, MiddlewareError } from '../errors.js';
import type { CallContext, CallHandler } from '../protocol/server-session.js';

export const DEFAULT_MAX_CALLS_PER_CONNECTION = 64;

export interface CallLimiterOptions {
  readonly maxRunning?: number;
  /** Calls waiting beyond which the connection is paused; default maxRunning. */
  readonly maxWaiting?: number;
  /** Stop reading the connection / read it again. */
  readonly pause?: () => void;
  readonly resume?: () => void;
}

interface Waiting {
  readonly start: () => void;
  readonly context: CallContext;
  readonly onAbort: () => void;
}

export class CallLimiter {
  readonly maxRunning: number;
  private readonly maxWaiting: number;
  private runningCount = 0;
  private readonly queue: Waiting[] = [];
  private paused = false;

  constructor(private readonly options: CallLimiterOptions = {}) {
    this.maxRunning = options.maxRunning ?? DEFAULT_MAX_CALLS_PER_CONNECTION;
    this.maxWaiting = options.maxWaiting ?? this.maxRunning;
  }

  get running(): number {
    return this.runningCount;
  }

  get waiting(): number {
    return this.queue.length;
  }

  /** `handler`, run at most maxRunning at a time through this limiter. */
  wrap(handler: CallHandler): CallHandler {
    return async (payload, context) => {
      await this.slot(context);
      try {
        return await handler(payload, context);
      } finally {
        this.release();
      }
    };
  }

  private slot(context: CallContext): Promise<void> {
    if (this.runningCount < this.maxRunning && this.queue.length === 0) {
      this.runningCount += 1;
      return Promise.resolve();
    }
    if (context.signal.aborted) return Promise.reject(notRun(context));
    return new Promise<void>((resolve, reject) => {
      const entry: Waiting = {
        context,
        start: () => {
          context.signal.removeEventListener('abort', entry.onAbort);
          this.runningCount += 1;
          resolve();
        },
        onAbort: () => {
          const at = this.queue.indexOf(entry);
          if (at >= 0) this.queue.splice(at, 1);
          this.maybeResume();
          reject(notRun(context));
        },
      };
      context.signal.addEventListener('abort', entry.onAbort, { once: true });
      this.queue.push(entry);
      if (!this.paused && this.queue.length >= this.maxWaiting) {
        this.paused = true;
        this.options.pause?.();
      }
    });
  }

  private release(): void {
    this.runningCount -= 1;
    const next = this.queue.shift();
    next?.start();
    this.maybeResume();
  }

  private maybeResume(): void {
    if (this.paused && this.queue.length < this.maxWaiting) {
      this.paused = false;
      this.options.resume?.();
    }
  }
}

/**
 * A call given up (deadline, cancel, bot stopping) while it waited for its turn: its handler never ran, and
 * the error says so, whatever the abort reason assumed.
 */
function notRun(context: CallContext): MiddlewareError {
  const reason: unknown = context.signal.reason;
  const options = { cause: reason, callEffect: 'not-run' as const };
  const ctx = { callId: context.id, step: 'call' };
  if (reason instanceof DeadlineExceededError) {
    return new DeadlineExceededError(`call ${context.id} reached its deadline while it waited for a free slot; it was not run`, ctx, options);
  }
  if (reason instanceof CallCancelledError) {
    return new CallCancelledError(`call ${context.id} was cancelled while it waited for a free slot; it was not run`, ctx, options);
  }
  return new BotUnavailableError(`call ${context.id} was given up while it waited for a free slot (${String((reason as Error | undefined)?.message ?? reason)}); it was not run`, ctx, options);
}
