// What a server session needs to answer each call id exactly once: a ledger (the bot's CallJournal) that
// says whether an id is new, finished (answer from the record) or running in this process (wait for that
// same execution). An Execution is one running handler, shared by every delivery of its call id.
//
// A ledger may record a start in a batch with others (one write for the calls of a turn): the Execution
// then waits for its start gate, and runs its handler only once the gate says the start is recorded. Its
// reply may likewise wait for the end record (onSettled returning a promise) so no reply precedes it.
import {
  BotUnavailableError,
  CallCancelledError,
  DeadlineExceededError,
  toWireError,
  type WireError,
} from '../errors.js';

export type CallReply =
  | { readonly kind: 'result'; /** UTF-8 JSON, encoded once and reused for the frame and the journal record. */ readonly payload: Buffer }
  | { readonly kind: 'error'; readonly error: WireError };

/** Runs the handler for one call. Rejections are turned into error replies. */
export type CallRunner = (signal: AbortSignal) => Promise<CallReply>;

export type CallClaim =
  | { readonly kind: 'replay'; readonly reply: CallReply }
  | { readonly kind: 'running'; readonly execution: Execution; /** False when this delivery attached to an earlier one. */ readonly startedHere: boolean };

export interface CallLedger {
  /**
   * Decides what to do with a delivery of call `id`; starts `run` only for an id never seen before, and
   * only once its start is recorded (a failure to record it is the execution's reply; the handler never runs).
   */
  claim(id: string, deadlineAt: number, run: CallRunner): CallClaim;
  /** Executions running in this process. */
  readonly runningCount: number;
  /** Resolves when no execution runs. */
  whenIdle(): Promise<void>;
  /** Aborts every running execution and leaves its record "started" (its outcome becomes unknown). */
  abandonRunning(reason: Error): void;
}

/** One delivery's interest in an execution. */
export interface ExecutionWaiter {
  /** The caller gave up: when no other delivery waits, the handler's signal is aborted with `reason`. */
  cancel(reason: 'deadline' | 'cancelled'): void;
  /** The delivery's connection closed: stop waiting, but let the handler run on (the caller will retry). */
  detach(): void;
}

export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Resolves once the execution may start its handler: with undefined, or with the error refusing it. */
export type StartGate = Promise<Error | undefined>;

/** Told when the handler settled; the reply is released once a returned promise resolves. */
export type SettledCallback = (execution: Execution, reply: CallReply) => void | Promise<void>;

export class Execution {
  readonly reply: Promise<CallReply>;
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private deadlineAt: number;
  private waiters = 0;
  private settled = false;
  private abandonedFlag = false;
  private startedFlag = false;

  /**
   * Without a gate the handler starts now. With one it starts when the gate resolves with undefined; a gate
   * resolving with an error refuses the call: the reply is that error, the handler never runs and
   * onSettled is not called (nothing ran, so there is nothing to record).
   */
  constructor(
    readonly id: string,
    deadlineAt: number,
    run: CallRunner,
    onSettled: SettledCallback,
    gate?: StartGate,
  ) {
    this.deadlineAt = deadlineAt;
    this.armTimer();
    this.reply =
      gate === undefined
        ? this.start(run, onSettled)
        : gate.then((refusal) => (refusal === undefined ? this.start(run, onSettled) : this.refuse(refusal)));
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** True once shut down: its end must not be recorded. */
  get abandoned(): boolean {
    return this.abandonedFlag;
  }

  get waiterCount(): number {
    return this.waiters;
  }

  /** Registers a delivery; a later deadline than the current one extends it. */
  addWaiter(deadlineAt: number): ExecutionWaiter {
    this.waiters += 1;
    if (deadlineAt > this.deadlineAt && !this.settled) {
      this.deadlineAt = deadlineAt;
      this.armTimer();
    }
    let withdrawn = false;
    const withdraw = (): boolean => {
      if (withdrawn) return false;
      withdrawn = true;
      this.waiters -= 1;
      return true;
    };
    return {
      cancel: (reason) => {
        if (withdraw() && this.waiters === 0) {
          // The handler may be half-way: whatever it ends with because of this may have done something.
          this.abort(
            reason === 'deadline'
              ? new DeadlineExceededError(`call ${this.id} exceeded its caller's deadline`, { callId: this.id }, { callEffect: 'may-have-run' })
              : new CallCancelledError(`call ${this.id} was cancelled by its caller`, { callId: this.id }, { callEffect: 'may-have-run' }),
          );
        }
      },
      detach: () => {
        withdraw();
      },
    };
  }

  abandon(reason: Error): void {
    if (this.settled) return;
    this.abandonedFlag = true;
    this.abort(reason);
  }

  /** True once the handler was started (it may have done something). */
  get started(): boolean {
    return this.startedFlag;
  }

  private async start(run: CallRunner, onSettled: SettledCallback): Promise<CallReply> {
    let reply: CallReply;
    if (this.abandonedFlag) {
      // Abandoned (the bot stopping) before its turn came: the handler never starts.
      const notStarted = new BotUnavailableError(`the bot is stopping; call ${this.id} was not started`, { callId: this.id }, {
        cause: this.controller.signal.reason,
        callEffect: 'not-run',
      });
      reply = { kind: 'error', error: toWireError(notStarted) };
    } else {
      this.startedFlag = true;
      reply = await invoke(run, this.controller.signal);
    }
    this.settled = true;
    clearTimeout(this.timer);
    await onSettled(this, reply);
    return reply;
  }

  private refuse(error: Error): CallReply {
    this.settled = true;
    clearTimeout(this.timer);
    return { kind: 'error', error: toWireError(error) };
  }

  private abort(reason: Error): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  private armTimer(): void {
    clearTimeout(this.timer);
    // setTimeout cannot wait longer than 2^31-1 ms: a longer deadline re-arms when that fires.
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, this.deadlineAt - Date.now()));
    this.timer = setTimeout(() => {
      if (Date.now() < this.deadlineAt) {
        this.armTimer();
        return;
      }
      this.abort(new DeadlineExceededError(`call ${this.id} exceeded its deadline`, { callId: this.id }, { callEffect: 'may-have-run' }));
    }, delay);
    this.timer.unref();
  }
}

async function invoke(run: CallRunner, signal: AbortSignal): Promise<CallReply> {
  try {
    return await run(signal);
  } catch (error) {
    return { kind: 'error', error: toWireError(error) };
  }
}

/** The abort reason of the calls running when a bot stops: they may be cut short half-way. */
export function shutdownReason(): BotUnavailableError {
  return new BotUnavailableError('the bot is stopping', { step: 'shutdown' }, { callEffect: 'may-have-run' });
}
