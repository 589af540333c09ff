// callPlugin: how each way a call can end becomes a PluginCallError, and what it says the call may have done.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../logging/index.js';
import { BotUnavailableError, DeadlineExceededError, OutcomeUnknownError } from '../middleware/errors.js';
import { PluginAbortedError, PluginConstructionError, succeeded, type CallEffect, type PluginContext } from '../plugins/index.js';
import { testQueue } from '../../test/support/plugins/plugin-fixtures.js';
import { rejectionOf } from '../../test/support/middleware/protocol-fixtures.js';
import { anOutcome, callPlugin, mayHaveTakenEffect, PluginCallError, type LockHolder, type PluginCallFailure } from './plugin-call.js';

const rejection = (promise: Promise<unknown>): Promise<PluginCallError> => rejectionOf(promise, PluginCallError);

/** Counts the calls made under it; runs them as they are. */
class CountingLocks implements LockHolder {
  calls = 0;
  async during<T>(work: () => Promise<T>): Promise<T> {
    this.calls++;
    return work();
  }
}

function call<T>(fn: (ctx: PluginContext) => Promise<T>, opts: { signal?: AbortSignal; timeout?: number; locks?: LockHolder } = {}): Promise<T> {
  return callPlugin({
    queue: testQueue(),
    method: 'submitWorkers',
    subject: 'workers 1,2',
    log: createLogger({ level: 'silent' }),
    timeout: opts.timeout ?? 5,
    signal: opts.signal ?? new AbortController().signal,
    check: anOutcome,
    locks: opts.locks ?? new CountingLocks(),
    call: fn,
  });
}


function thrower(error: unknown): () => Promise<never> {
  return async () => {
    throw error;
  };
}

describe('callPlugin: what a failed call may have done', () => {
  const cases: { what: string; fn: (ctx: PluginContext) => Promise<unknown>; failure: PluginCallFailure; effect: CallEffect }[] = [
    { what: 'a plain Error (maybe half-way)', fn: thrower(new Error('sbatch died')), failure: 'threw', effect: 'may-have-run' },
    { what: 'a non-Error', fn: thrower('just a string'), failure: 'threw', effect: 'may-have-run' },
    { what: 'OutcomeUnknownError', fn: thrower(new OutcomeUnknownError('bot stopped')), failure: 'threw', effect: 'may-have-run' },
    { what: 'BotUnavailableError (never sent)', fn: thrower(new BotUnavailableError('no tunnel')), failure: 'threw', effect: 'not-run' },
    { what: "the herder's DeadlineExceededError after send", fn: thrower(new DeadlineExceededError('slow', {}, { callEffect: 'may-have-run' })), failure: 'timeout', effect: 'may-have-run' },
    { what: 'a DeadlineExceededError before any delivery', fn: thrower(new DeadlineExceededError('no tunnel in time', {}, { callEffect: 'not-run' })), failure: 'timeout', effect: 'not-run' },
    { what: 'a plugin error declaring not-run', fn: thrower(Object.assign(new Error('no sbatch'), { callEffect: 'not-run' })), failure: 'threw', effect: 'not-run' },
    { what: 'a plugin error with a callEffect it cannot have', fn: thrower(Object.assign(new Error('?'), { callEffect: 'perhaps' })), failure: 'threw', effect: 'may-have-run' },
    { what: 'a plugin that could not be built', fn: thrower(new PluginConstructionError({ queueName: 'Q', kind: 'submitter', module: 'm', className: 'C' })), failure: 'threw', effect: 'not-run' },
    { what: 'PluginAbortedError (stopped half-way)', fn: thrower(new PluginAbortedError('Q', 'submitWorkers')), failure: 'threw', effect: 'may-have-run' },
    { what: 'a malformed answer (it ran)', fn: async () => 'not an outcome', failure: 'malformed', effect: 'may-have-run' },
  ];
  for (const { what, fn, failure, effect } of cases) {
    test(`${what}: failure '${failure}', ${effect}`, async () => {
      const error = await rejection(call(fn));
      assert.equal(error.failure, failure);
      assert.equal(error.callEffect, effect);
      assert.equal(error.mayHaveTakenEffect, effect === 'may-have-run');
      assert.equal(mayHaveTakenEffect(error), effect === 'may-have-run');
      assert.match(error.message, /queue TEST_QUEUE: submitWorkers for workers 1,2: /);
    });
  }

  test("the agent's own pluginTimeout: 'timeout', may have run (the plugin is left behind, maybe still working)", async () => {
    let pluginSignal: AbortSignal | undefined;
    const error = await rejection(
      call(
        (ctx) => {
          pluginSignal = ctx.signal;
          return new Promise<never>(() => undefined);
        },
        { timeout: 0.05 },
      ),
    );
    assert.deepEqual([error.failure, error.callEffect], ['timeout', 'may-have-run']);
    assert.ok(pluginSignal?.aborted, "the plugin's signal is aborted");
  });

  test('a stop before the call starts: the plugin is not called, not-run', async () => {
    const stop = new AbortController();
    stop.abort(new Error('stop requested'));
    let called = false;
    const locks = new CountingLocks();
    const error = await rejection(
      call(
        async () => {
          called = true;
          return succeeded();
        },
        { signal: stop.signal, locks },
      ),
    );
    assert.deepEqual([error.failure, error.callEffect, called, locks.calls], ['stopped', 'not-run', false, 0]);
  });

  test('a stop while the call is in flight: the plugin is aborted; its error, which does not say otherwise, means it may have run', async () => {
    const stop = new AbortController();
    const error = await rejection(
      call((ctx) => {
        stop.abort(new Error('stop requested'));
        return Promise.reject(new Error(`interrupted: ${String((ctx.signal.reason as Error).message)}`));
      }, { signal: stop.signal }),
    );
    assert.deepEqual([error.failure, error.callEffect], ['stopped', 'may-have-run']);
    assert.match(error.message, /interrupted: stop requested/);
  });

  test('a stop while the call is in flight, and the plugin answers cleanly: its answer is used', async () => {
    const stop = new AbortController();
    const answer = await call(async () => {
      stop.abort(new Error('stop requested'));
      return succeeded(undefined, 'stopped before doing anything');
    }, { signal: stop.signal });
    assert.equal(answer.kind, 'succeeded');
  });

  test('the call runs under the lock holder', async () => {
    const locks = new CountingLocks();
    await call(async () => succeeded(), { locks });
    await rejection(call(thrower(new Error('x')), { locks }));
    assert.equal(locks.calls, 2);
  });

  test('anything but a PluginCallError counts as may have run', () => {
    assert.equal(mayHaveTakenEffect(new Error('x')), true);
  });
});
