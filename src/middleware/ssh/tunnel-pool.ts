// A fixed number of slots, each holding one SSH link and the thing the owner attached to it (for the RPC
// herder: a forward channel with a handshaken RPC session). Slots heal themselves: when a link closes or
// the owner marks its thing broken, that slot reconnects in the background with exponential backoff, so
// the pool never stays dead until a restart. acquire() hands out healthy slots round robin and, when none
// is up, waits for one up to a deadline, then fails with every slot's last error.
import { EventEmitter } from 'node:events';
import { backoffDelay, defaultBackoff, type BackoffPolicy } from './backoff.js';
import { connectRoute } from './connect.js';
import { isPersistentSshError } from './errors.js';
import type { SshLink } from './link.js';
import type { SshLog } from './log.js';
import { describeRoute, type SshRoute } from './route.js';

/** What the pool needs of a link; SshLink has it, and unit tests pass fakes. */
export interface PoolLink {
  readonly isOpen: boolean;
  close(message?: string): void;
  once(event: 'close', listener: (reason: { readonly message: string; readonly error?: Error }) => void): unknown;
}

export type LinkConnector<L extends PoolLink> = (route: SshRoute, options: { log: SshLog; signal: AbortSignal }) => Promise<L>;

export type SlotState = 'connecting' | 'up' | 'backoff' | 'stopped';

export interface SlotStatus {
  readonly slot: number;
  readonly state: SlotState;
  /** When the slot entered this state. */
  readonly since: Date;
  /** Attempts in the current streak: since the slot was last up for at least stableAfterMs. */
  readonly attempts: number;
  /** How many times this slot came up since start(). */
  readonly connects: number;
  readonly lastError?: Error;
  /** lastError will not heal by retrying (credentials, host keys): an operator has to act. */
  readonly persistent: boolean;
  /** In 'backoff': when the next attempt starts. */
  readonly retryAt?: Date;
}

export interface TunnelPoolOptions<T, L extends PoolLink = SshLink> {
  readonly route: SshRoute;
  /** numTunnels. */
  readonly size: number;
  /** Turns a fresh link into the thing acquire() hands out; a rejection counts as a failed attempt. */
  readonly attach: (link: L, slot: number) => Promise<T>;
  /** Releases an attached thing when its slot goes down or the pool stops. */
  readonly detach?: (value: T) => void;
  /** Checked on acquire; false counts as markBroken. */
  readonly isHealthy?: (value: T) => boolean;
  readonly log: SshLog;
  readonly backoff?: BackoffPolicy;
  /** Deadline for one connect + attach. Default 60 s. */
  readonly attemptTimeoutMs?: number;
  /** A slot that was up this long counts as having recovered: its backoff starts over. Default 10 s. */
  readonly stableAfterMs?: number;
  /** Defaults to connectRoute; unit tests inject a fake. */
  readonly connect?: LinkConnector<L>;
  /** Source of jitter, for deterministic tests. */
  readonly random?: () => number;
}

export interface AcquireOptions {
  readonly signal?: AbortSignal;
  /** How long to wait for a healthy slot. Default 30 s. */
  readonly timeoutMs?: number;
}

/** No slot came up in time; carries each slot's state and last error so causes stay distinguishable. */
export class NoHealthyTunnelError extends Error {
  override readonly name = 'NoHealthyTunnelError';
  readonly route: string;
  readonly slots: readonly SlotStatus[];
  /** Every slot's last error is one that retrying cannot fix. */
  readonly persistent: boolean;
  constructor(route: string, slots: readonly SlotStatus[], waitedMs: number) {
    const lines = slots.map((s) => `  slot ${s.slot}: ${s.state}${s.persistent ? ' (will not heal by retrying)' : ''}${s.lastError ? `: ${s.lastError.message}` : ''}`);
    super(`no healthy SSH tunnel to ${route} after waiting ${waitedMs} ms:\n${lines.join('\n')}`);
    this.route = route;
    this.slots = slots;
    this.persistent = slots.length > 0 && slots.every((s) => s.persistent);
  }
}

export class TunnelPoolStoppedError extends Error {
  override readonly name = 'TunnelPoolStoppedError';
  constructor(readonly route: string) {
    super(`the SSH tunnel pool to ${route} is stopped`);
  }
}

/** One attempt (connect + attach) took longer than attemptTimeoutMs. */
export class TunnelAttemptTimeoutError extends Error {
  override readonly name = 'TunnelAttemptTimeoutError';
  constructor(
    readonly route: string,
    readonly slot: number,
    readonly timeoutMs: number,
  ) {
    super(`slot ${slot} to ${route}: connect and attach did not finish within ${timeoutMs} ms`);
  }
}

/** The link under an up slot closed, or its owner reported it broken. */
export class TunnelLostError extends Error {
  override readonly name = 'TunnelLostError';
  constructor(
    readonly route: string,
    readonly slot: number,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`slot ${slot} to ${route} lost: ${reason}`, options);
  }
}

interface Slot<T, L> {
  readonly index: number;
  state: SlotState;
  since: Date;
  attempts: number;
  connects: number;
  upSince?: number;
  lastError?: Error;
  retryAt?: Date;
  link?: L;
  value?: T;
  timer?: NodeJS.Timeout;
  abort?: AbortController;
  running?: Promise<void>;
}

export class TunnelPool<T, L extends PoolLink = SshLink> extends EventEmitter<{ state: [status: SlotStatus] }> {
  readonly route: SshRoute;
  readonly description: string;
  readonly #options: TunnelPoolOptions<T, L>;
  readonly #slots: Slot<T, L>[];
  readonly #connect: LinkConnector<L>;
  readonly #backoff: BackoffPolicy;
  readonly #waiters = new Set<() => void>();
  #started = false;
  #stopped = false;
  #next = 0;

  constructor(options: TunnelPoolOptions<T, L>) {
    super();
    if (!Number.isInteger(options.size) || options.size < 1) throw new RangeError(`TunnelPool size must be a positive integer, got ${options.size}`);
    this.#options = options;
    this.route = options.route;
    this.description = describeRoute(options.route);
    this.#backoff = options.backoff ?? defaultBackoff;
    // Without an injected connector L is SshLink (the default type argument), which connectRoute returns.
    this.#connect = options.connect ?? (connectRoute as unknown as LinkConnector<L>);
    this.#slots = Array.from({ length: options.size }, (_, index) => ({ index, state: 'backoff', since: new Date(), attempts: 0, connects: 0 }));
  }

  /** Opens every slot in the background. Idempotent. */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    for (const slot of this.#slots) this.#launch(slot);
  }

  status(): SlotStatus[] {
    return this.#slots.map((slot) => this.#statusOf(slot));
  }

  async acquire(options: AcquireOptions = {}): Promise<T> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const started = Date.now();
    const deadline = started + timeoutMs;
    for (;;) {
      options.signal?.throwIfAborted();
      if (this.#stopped) throw new TunnelPoolStoppedError(this.description);
      const value = this.#pickHealthy();
      if (value !== undefined) return value.value;
      // Nothing is connecting and every slot failed for a reason time will not fix: waiting is pointless.
      const hopeless = this.#started && this.#slots.every((s) => s.state === 'backoff' && persistentFailure(s.lastError));
      const remaining = deadline - Date.now();
      if (hopeless || remaining <= 0) throw new NoHealthyTunnelError(this.description, this.status(), Date.now() - started);
      await this.#waitForChange(remaining, options.signal);
    }
  }

  /** The owner says an attached thing died (e.g. its RPC session closed): reconnect that slot. */
  markBroken(value: T, error: Error): void {
    const slot = this.#slots.find((s) => s.state === 'up' && s.value === value);
    if (slot === undefined) return; // already replaced, or the pool stopped: nothing to do
    this.#takeDown(slot, new TunnelLostError(this.description, slot.index, error.message, { cause: error }));
  }

  /** Closes everything and cancels pending reconnects. Idempotent; resolves when in-flight attempts have ended. */
  async stop(): Promise<void> {
    if (!this.#stopped) {
      this.#stopped = true;
      for (const slot of this.#slots) {
        clearTimeout(slot.timer);
        slot.abort?.abort(new TunnelPoolStoppedError(this.description));
        this.#release(slot, 'tunnel pool stopped');
        this.#setState(slot, 'stopped');
      }
      this.#wakeWaiters();
    }
    await Promise.all(this.#slots.map((slot) => slot.running));
  }

  // ---- internals --------------------------------------------------------------------------------------

  #pickHealthy(): { value: T } | undefined {
    const size = this.#slots.length;
    for (let i = 0; i < size; i++) {
      const slot = this.#slots[(this.#next + i) % size] as Slot<T, L>;
      if (slot.state !== 'up' || slot.value === undefined) continue;
      const value = slot.value;
      if (this.#options.isHealthy !== undefined && !this.#options.isHealthy(value)) {
        this.#takeDown(slot, new TunnelLostError(this.description, slot.index, 'reported unhealthy'));
        continue;
      }
      this.#next = (slot.index + 1) % size;
      return { value };
    }
    return undefined;
  }

  #launch(slot: Slot<T, L>): void {
    slot.timer = undefined;
    slot.retryAt = undefined;
    const running = this.#attempt(slot).finally(() => {
      if (slot.running === running) slot.running = undefined;
    });
    slot.running = running;
  }

  async #attempt(slot: Slot<T, L>): Promise<void> {
    const abort = new AbortController();
    slot.abort = abort;
    slot.attempts += 1;
    this.#setState(slot, 'connecting');
    const timeoutMs = this.#options.attemptTimeoutMs ?? 60_000;
    const timer = setTimeout(() => abort.abort(new TunnelAttemptTimeoutError(this.description, slot.index, timeoutMs)), timeoutMs);
    let link: L | undefined;
    try {
      link = await untilAborted(this.#connect(this.route, { log: this.#options.log, signal: abort.signal }), abort.signal, (late) => late.close('attempt abandoned'));
      const attached = await untilAborted(this.#options.attach(link, slot.index), abort.signal, (late) => this.#detach(late));
      if (!link.isOpen) {
        this.#detach(attached);
        throw new TunnelLostError(this.description, slot.index, 'link closed while attaching');
      }
      this.#up(slot, link, attached);
    } catch (error) {
      link?.close('attempt failed');
      if (this.#stopped) return;
      this.#failed(slot, error instanceof Error ? error : new Error(String(error)));
    } finally {
      clearTimeout(timer);
      if (slot.abort === abort) slot.abort = undefined;
    }
  }

  #up(slot: Slot<T, L>, link: L, value: T): void {
    slot.link = link;
    slot.value = value;
    slot.lastError = undefined;
    slot.connects += 1;
    slot.upSince = Date.now();
    link.once('close', (reason) => {
      if (slot.link !== link) return;
      this.#takeDown(slot, new TunnelLostError(this.description, slot.index, reason.message, reason.error ? { cause: reason.error } : undefined));
    });
    this.#options.log.info({ route: this.description, slot: slot.index, attempts: slot.attempts }, 'ssh tunnel up');
    this.#setState(slot, 'up');
    this.#wakeWaiters();
  }

  #failed(slot: Slot<T, L>, error: Error): void {
    const repeated = slot.lastError?.message === error.message;
    slot.lastError = error;
    this.#scheduleRetry(slot);
    // The same failure every few seconds is noise after the first time.
    const fields = { route: this.description, slot: slot.index, attempts: slot.attempts, retryInMs: (slot.retryAt?.getTime() ?? Date.now()) - Date.now(), err: error.message };
    if (repeated) this.#options.log.debug(fields, 'ssh tunnel attempt failed again');
    else this.#options.log.warn(fields, 'ssh tunnel attempt failed');
    // Waiters re-judge: when every slot now failed in a way retrying cannot fix, acquire() fails at once.
    this.#wakeWaiters();
  }

  #takeDown(slot: Slot<T, L>, error: TunnelLostError): void {
    if (slot.state !== 'up' || this.#stopped) return;
    const stable = slot.upSince !== undefined && Date.now() - slot.upSince >= (this.#options.stableAfterMs ?? 10_000);
    if (stable) slot.attempts = 0;
    slot.lastError = error;
    this.#release(slot, error.message);
    this.#options.log.warn({ route: this.description, slot: slot.index, err: error.message }, 'ssh tunnel down; reconnecting');
    this.#scheduleRetry(slot);
    this.#wakeWaiters();
  }

  #release(slot: Slot<T, L>, message: string): void {
    const { link, value } = slot;
    slot.link = undefined;
    slot.value = undefined;
    slot.upSince = undefined;
    if (value !== undefined) this.#detach(value);
    link?.close(message);
  }

  #detach(value: T): void {
    try {
      this.#options.detach?.(value);
    } catch (error) {
      this.#options.log.warn({ route: this.description, err: (error as Error).message }, 'detach of a tunnel failed');
    }
  }

  #scheduleRetry(slot: Slot<T, L>): void {
    const delay = backoffDelay(this.#backoff, slot.attempts, persistentFailure(slot.lastError), this.#options.random);
    slot.retryAt = new Date(Date.now() + delay);
    slot.timer = setTimeout(() => this.#launch(slot), delay);
    this.#setState(slot, 'backoff');
  }

  #setState(slot: Slot<T, L>, state: SlotState): void {
    slot.state = state;
    slot.since = new Date();
    this.emit('state', this.#statusOf(slot));
  }

  #statusOf(slot: Slot<T, L>): SlotStatus {
    return {
      slot: slot.index,
      state: slot.state,
      since: slot.since,
      attempts: slot.attempts,
      connects: slot.connects,
      ...(slot.lastError !== undefined ? { lastError: slot.lastError } : {}),
      persistent: persistentFailure(slot.lastError),
      ...(slot.state === 'backoff' && slot.retryAt !== undefined ? { retryAt: slot.retryAt } : {}),
    };
  }

  #waitForChange(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done, { once: true });
      this.#waiters.add(done);
    });
  }

  #wakeWaiters(): void {
    for (const wake of [...this.#waiters]) wake();
  }
}

/** Whether an error (or the error it wraps, e.g. an attach failure) is one retrying cannot heal. */
function persistentFailure(error: Error | undefined): boolean {
  return isPersistentSshError(error) || isPersistentSshError(error?.cause);
}

/**
 * Resolves like `promise` unless `signal` aborts first (then rejects with its reason). A result that
 * arrives after the abort is handed to `cleanup`, so an abandoned attempt leaks no link or session.
 */
function untilAborted<V>(promise: Promise<V>, signal: AbortSignal, cleanup: (late: V) => void): Promise<V> {
  return new Promise<V>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) cleanup(value);
        else resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
