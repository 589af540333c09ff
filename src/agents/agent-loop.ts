// The loop every agent runs: cycle, sleep (interruptibly), cycle... with an explicit lifecycle. A cycle that
// throws is logged and the loop carries on: one bad cycle (a store busy, a source down) never stops an agent.
import { setMaxListeners } from 'node:events';
import type { Logger } from '../logging/index.js';

export type AgentState = 'idle' | 'running' | 'stopping' | 'stopped';

/** What one cycle did, for logs and `--once` summaries. Counts by what happened, e.g. {submitted: 3}. */
export type CycleReport = Readonly<Record<string, number>>;

/** What one cycle came to: its report, or the error that ended it (already logged). */
export interface CycleOutcome {
  readonly report: CycleReport;
  readonly error?: unknown;
}

export interface Agent {
  /** harvester's name of the agent ("submitter", "monitor", ...). */
  readonly name: string;
  /**
   * One cycle over every queue. Throws only for what stops the whole cycle (e.g. the store failed);
   * a plugin's failure for one queue or worker is logged and counted, not thrown.
   */
  runCycle(signal: AbortSignal): Promise<CycleReport>;
}

/**
 * Told about every cycle as it ends (the metrics of `harvester run`): the agent's name, the cycle's duration
 * in seconds, its report, and the error that ended it when it failed. It must not throw.
 */
export type CycleObserver = (agent: string, seconds: number, report: CycleReport, error?: unknown) => void;

export interface AgentLoopOptions {
  readonly agent: Agent;
  readonly observer?: CycleObserver;
  /** Seconds between the end of a cycle and the start of the next. */
  readonly sleepTime: number;
  readonly log: Logger;
}

export class AgentLoop {
  readonly #agent: Agent;
  readonly #sleepMs: number;
  readonly #log: Logger;
  readonly #observer: CycleObserver | undefined;
  #state: AgentState = 'idle';
  /** Aborted by stop(): ends the sleep at once and tells the running cycle's plugin calls to give up. */
  readonly #stopping = new AbortController();
  #loop: Promise<void> | undefined;
  #cycles = 0;

  constructor(opts: AgentLoopOptions) {
    this.#agent = opts.agent;
    this.#sleepMs = opts.sleepTime * 1000;
    this.#log = opts.log.child({ agent: opts.agent.name });
    this.#observer = opts.observer;
    // Every plugin call in flight listens to this signal, and agents run a few calls at once.
    setMaxListeners(256, this.#stopping.signal);
  }

  get name(): string {
    return this.#agent.name;
  }

  get state(): AgentState {
    return this.#state;
  }

  get cycles(): number {
    return this.#cycles;
  }

  /** Starts cycling in the background. Calling it on a loop that is not idle is a programming error. */
  start(): void {
    if (this.#state !== 'idle') throw new Error(`agent ${this.name} cannot start: it is ${this.#state}`);
    this.#state = 'running';
    this.#log.info({ sleepTime: this.#sleepMs / 1000 }, 'agent started');
    this.#loop = this.#run();
  }

  /** Runs one cycle now (for `harvester run --once`); an error is logged and returned with an empty report. */
  async runOnce(): Promise<CycleOutcome> {
    return this.#cycle();
  }

  /**
   * Asks the loop to stop: the sleep ends at once and the cycle in progress sees an aborted signal. Resolves
   * when the current cycle has finished. Safe to call twice, and on a loop never started.
   */
  async stop(reason = 'stop requested'): Promise<void> {
    if (this.#state === 'running') {
      this.#state = 'stopping';
      this.#stopping.abort(new Error(reason));
    }
    await this.#loop;
    if (this.#state !== 'stopped') {
      this.#state = 'stopped';
      this.#log.info({ cycles: this.#cycles, reason }, 'agent stopped');
    }
  }

  async #run(): Promise<void> {
    while (!this.#stopping.signal.aborted) {
      await this.#cycle();
      await sleep(this.#sleepMs, this.#stopping.signal);
    }
  }

  async #cycle(): Promise<CycleOutcome> {
    const started = performance.now();
    this.#cycles++;
    try {
      const report = await this.#agent.runCycle(this.#stopping.signal);
      const elapsed = performance.now() - started;
      const ms = Math.round(elapsed);
      if (Object.values(report).some((n) => n > 0)) this.#log.info({ cycle: this.#cycles, ms, ...report }, 'cycle done');
      else this.#log.debug({ cycle: this.#cycles, ms }, 'cycle done, nothing to do');
      this.#observer?.(this.#agent.name, elapsed / 1000, report);
      return { report };
    } catch (error) {
      this.#log.error({ cycle: this.#cycles, err: error }, 'cycle failed; the agent carries on at its next cycle');
      this.#observer?.(this.#agent.name, (performance.now() - started) / 1000, {}, error);
      return { report: {}, error };
    }
  }
}

/** Resolves after ms, or at once when the signal aborts (never rejects). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
