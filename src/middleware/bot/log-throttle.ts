// A warning that anyone on the host can provoke (a refused handshake: any local user can connect to the
// bot's port) is logged at most once per interval; the ones held back are counted and the count is logged
// when the interval ends, so a flood costs one log line per interval, not one per connection.
import type { MiddlewareLogger } from '../protocol/log.js';

export const DEFAULT_LOG_INTERVAL_MS = 10_000;

export interface LogThrottleOptions {
  readonly intervalMs?: number;
  /** Clock and timer, for tests. */
  readonly now?: () => number;
  readonly schedule?: (callback: () => void, delayMs: number) => { cancel(): void };
}

function realSchedule(callback: () => void, delayMs: number): { cancel(): void } {
  const timer = setTimeout(callback, delayMs);
  // Never what keeps the bot alive.
  timer.unref();
  return { cancel: () => clearTimeout(timer) };
}

export class LogThrottle {
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly schedule: NonNullable<LogThrottleOptions['schedule']>;
  private lastLineAt: number | undefined;
  private suppressed = 0;
  private summary: { cancel(): void } | undefined;

  constructor(
    private readonly log: MiddlewareLogger,
    /** What is counted, for the summary line, e.g. "refused handshakes". */
    private readonly what: string,
    options: LogThrottleOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? DEFAULT_LOG_INTERVAL_MS;
    this.now = options.now ?? Date.now;
    this.schedule = options.schedule ?? realSchedule;
  }

  /** Logs this warning now, or counts it for the summary when a line was logged less than an interval ago. */
  warn(fields: object, message: string): void {
    const now = this.now();
    if (this.lastLineAt === undefined || now - this.lastLineAt >= this.intervalMs) {
      this.lastLineAt = now;
      this.log.warn(fields, message);
      return;
    }
    this.suppressed += 1;
    this.summary ??= this.schedule(() => this.flush(), this.lastLineAt + this.intervalMs - now);
  }

  /** Logs the count of warnings held back, if any (at the end of the interval, and when the bot stops). */
  flush(): void {
    this.summary?.cancel();
    this.summary = undefined;
    if (this.suppressed === 0) return;
    const count = this.suppressed;
    this.suppressed = 0;
    this.lastLineAt = this.now();
    this.log.warn({ suppressed: count, intervalMs: this.intervalMs }, `${count} more ${this.what} (not logged one by one)`);
  }
}
