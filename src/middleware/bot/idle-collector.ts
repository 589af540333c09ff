// Gives memory back when the bot goes quiet. V8 collects its old generation only when that reaches a limit
// it sets at a multiple of the live data, so after a burst of calls (1 MB payloads, thousands of small
// calls) the bot would keep tens of MB of garbage resident until the next burst. A bot sits mostly idle on
// a shared login node, so once no call has started for a while, or the last connection closed, and the
// heap has grown since the last collection, it collects: milliseconds, and only when idle.
import type { MiddlewareLogger } from '../protocol/log.js';

export const DEFAULT_QUIET_MS = 2000;
/** Below this growth since the last collection, an idle collection is not worth its pause. */
export const DEFAULT_MIN_GROWTH_BYTES = 4 * 1024 * 1024;

export interface IdleCollectorOptions {
  /** A full garbage collection (global.gc of a process started with --expose-gc). */
  readonly collect: () => void;
  /** Whether calls are running (nothing is collected while they run). */
  readonly busy: () => boolean;
  /** Bytes used on the heap (process.memoryUsage().heapUsed; a fake in tests). */
  readonly heapUsed?: () => number;
  readonly quietMs?: number;
  readonly minGrowthBytes?: number;
  readonly log: MiddlewareLogger;
}

export class IdleCollector {
  private readonly quietMs: number;
  private readonly minGrowthBytes: number;
  private readonly heapUsed: () => number;
  private calls = 0;
  private callsAtArming = 0;
  private timer: NodeJS.Timeout | undefined;
  private heapAfterLastCollection: number;
  private closed = false;

  constructor(private readonly options: IdleCollectorOptions) {
    this.quietMs = options.quietMs ?? DEFAULT_QUIET_MS;
    this.minGrowthBytes = options.minGrowthBytes ?? DEFAULT_MIN_GROWTH_BYTES;
    this.heapUsed = options.heapUsed ?? (() => process.memoryUsage().heapUsed);
    this.heapAfterLastCollection = this.heapUsed();
  }

  /** A call started. Cheap: one counter, and a timer only when none is pending. */
  noteCall(): void {
    this.calls += 1;
    if (this.timer === undefined && !this.closed) this.arm();
  }

  /** The last connection closed: nobody can call until a new one opens. */
  noteDisconnected(): void {
    if (this.closed || this.options.busy()) return;
    this.collectIfGrown('last connection closed');
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    this.callsAtArming = this.calls;
    this.timer = setTimeout(() => this.quietPeriodEnded(), this.quietMs);
    // Never what keeps the process alive.
    this.timer.unref();
  }

  /** The timer armed by the first call of a period fired (public so tests need not wait for it). */
  quietPeriodEnded(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.closed) return;
    // Calls started during the period, or still running: not quiet yet; look again one period later.
    if (this.calls !== this.callsAtArming || this.options.busy()) {
      this.arm();
      return;
    }
    this.collectIfGrown('quiet');
  }

  private collectIfGrown(reason: string): void {
    const before = this.heapUsed();
    if (before - this.heapAfterLastCollection < this.minGrowthBytes) return;
    const started = performance.now();
    // The first full collection frees the garbage but leaves the old generation's pages sparse and
    // committed; the second moves the survivors off those pages (V8 picks them by the fragmentation the
    // first one measured), so they go back to the OS. One alone gave back almost nothing (measured).
    this.options.collect();
    this.options.collect();
    this.heapAfterLastCollection = this.heapUsed();
    this.options.log.debug(
      { reason, heapUsedBeforeMB: mb(before), heapUsedAfterMB: mb(this.heapAfterLastCollection), ms: Math.round(performance.now() - started) },
      'bot idle: collected garbage',
    );
  }
}

function mb(bytes: number): number {
  return Math.round(bytes / 1024 / 102.4) / 10;
}
