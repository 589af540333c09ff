// What each error that ends a call says it may have done, where the session raises it: before the call frame
// is written nothing ran; after, the bot may be running it, unless the bot itself says otherwise.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import {
  BotUnavailableError,
  CallCancelledError,
  ConnectionLostError,
  DeadlineExceededError,
  FrameTooLargeError,
  MethodNotFoundError,
  MiddlewareError,
  OutcomeUnknownError,
  RemoteCause,
  RemoteMethodError,
} from '../errors.js';
import type { CallJournal } from '../bot/journal.js';
import { Execution } from './ledger.js';
import type { CallHandler } from './server-session.js';
import { connectSessionPair, deferred, rejectionOf, tempJournal } from '../../../test/support/middleware/protocol-fixtures.js';

const rejection = (promise: Promise<unknown>): Promise<MiddlewareError> => rejectionOf(promise, MiddlewareError);

let journal: CallJournal;
let disposeJournal: () => void;
beforeEach(() => {
  ({ journal, dispose: disposeJournal } = tempJournal());
});
afterEach(() => disposeJournal());

/** A handler that tells when it started and runs until its signal aborts (then throws the abort reason). */
function untilAborted(): { handler: CallHandler; started: Promise<void>; runs: () => number } {
  const started = deferred();
  let runs = 0;
  const handler: CallHandler = (_payload, { signal }) => {
    runs++;
    started.resolve();
    return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error)));
  };
  return { handler, started: started.promise, runs: () => runs };
}


describe('client session: the call effect at each raise site', () => {
  test('cancelled before the call was sent: CallCancelled, not-run, and the bot never ran it', async () => {
    const bot = untilAborted();
    const { client } = await connectSessionPair({ handler: bot.handler, journal });
    const controller = new AbortController();
    controller.abort(new Error('agent stopping'));
    const error = await rejection(client.call(null, { id: 'early', deadlineMs: 5000, signal: controller.signal }));
    assert.ok(error instanceof CallCancelledError);
    assert.equal(error.callEffect, 'not-run');
    assert.equal(bot.runs(), 0);
    assert.equal(journal.stateOf('early'), undefined, 'the bot never heard of it');
    client.close();
  });

  test('cancelled after the call was sent: CallCancelled, may-have-run', async () => {
    const bot = untilAborted();
    const { client } = await connectSessionPair({ handler: bot.handler, journal });
    const controller = new AbortController();
    const call = client.call(null, { deadlineMs: 5000, signal: controller.signal });
    await bot.started;
    controller.abort(new Error('agent stopping'));
    const error = await rejection(call);
    assert.ok(error instanceof CallCancelledError);
    assert.equal(error.callEffect, 'may-have-run');
    client.close();
  });

  test('the deadline passing after the call was sent: DeadlineExceeded, may-have-run', async () => {
    const bot = untilAborted();
    const { client } = await connectSessionPair({ handler: bot.handler, journal });
    const error = await rejection(client.call(null, { deadlineMs: 50 }));
    assert.ok(error instanceof DeadlineExceededError);
    assert.equal(error.callEffect, 'may-have-run');
    assert.equal(bot.runs(), 1);
    client.close();
  });

  test('the connection lost mid-call: ConnectionLost, may-have-run; a call on the closed session: ConnectionLost, not-run', async () => {
    const bot = untilAborted();
    const { client, serverEnd } = await connectSessionPair({ handler: bot.handler, journal });
    const call = client.call(null, { deadlineMs: 5000 });
    await bot.started;
    serverEnd.destroy();
    const lost = await rejection(call);
    assert.ok(lost instanceof ConnectionLostError);
    assert.equal(lost.callEffect, 'may-have-run');
    const late = await rejection(client.call(null, { deadlineMs: 5000 }));
    assert.ok(late instanceof ConnectionLostError);
    assert.equal(late.callEffect, 'not-run');
  });

  test('a call too large to send: FrameTooLarge, not-run; a result too large to return: FrameTooLarge, may-have-run', async () => {
    const handler: CallHandler = async (payload) => (payload === 'big' ? 'y'.repeat(50_000) : 'small');
    const { client } = await connectSessionPair({ handler, journal, client: { maxFrameBytes: 20_000 }, server: { maxFrameBytes: 20_000 } });
    const unsent = await rejection(client.call('z'.repeat(30_000), { deadlineMs: 1000 }));
    assert.ok(unsent instanceof FrameTooLargeError);
    assert.equal(unsent.callEffect, 'not-run');
    const ran = await rejection(client.call('big', { deadlineMs: 1000 }));
    assert.ok(ran instanceof FrameTooLargeError);
    assert.equal(ran.callEffect, 'may-have-run');
    client.close();
  });
});

describe('server session and bot: what the bot says about a call', () => {
  test('a plugin that throws: RemoteMethodError, may-have-run, with the remote name and its causes', async () => {
    const handler: CallHandler = async () => {
      const cause = Object.assign(new Error('sbatch: error: invalid partition'), { name: 'SlurmCommandError' });
      throw Object.assign(new Error('submission failed', { cause }), { name: 'SubmitError' });
    };
    const { client } = await connectSessionPair({ handler, journal });
    const error = await rejection(client.call(null, { id: 'boom', deadlineMs: 1000 }));
    assert.ok(error instanceof RemoteMethodError);
    assert.deepEqual([error.remoteName, error.callEffect], ['SubmitError', 'may-have-run']);
    assert.ok(error.cause instanceof RemoteCause);
    assert.deepEqual([error.cause.name, error.cause.message], ['SlurmCommandError', 'sbatch: error: invalid partition']);

    // A retry of the same id is answered from the journal with the same meaning and causes.
    const replayed = await rejection(client.call(null, { id: 'boom', deadlineMs: 1000 }));
    assert.ok(replayed instanceof RemoteMethodError);
    assert.deepEqual([replayed.remoteName, replayed.callEffect, (replayed.cause as Error).name], ['SubmitError', 'may-have-run', 'SlurmCommandError']);
    client.close();
  });

  test('a plugin error that says it did not run keeps saying so; MethodNotFound is not-run', async () => {
    const handler: CallHandler = async (payload) => {
      if (payload === 'missing') throw new MethodNotFoundError('no method frobnicate');
      throw Object.assign(new Error('sbatch not on PATH'), { callEffect: 'not-run' });
    };
    const { client } = await connectSessionPair({ handler, journal });
    assert.equal((await rejection(client.call('missing', { deadlineMs: 1000 }))).callEffect, 'not-run');
    assert.equal((await rejection(client.call('own', { deadlineMs: 1000 }))).callEffect, 'not-run');
    client.close();
  });

  test('a bot that is stopping refuses new calls: BotUnavailable, not-run, never run', async () => {
    const bot = untilAborted();
    const { client, server } = await connectSessionPair({ handler: bot.handler, journal });
    server.stopAcceptingCalls();
    const error = await rejection(client.call(null, { deadlineMs: 1000 }));
    assert.ok(error instanceof BotUnavailableError);
    assert.equal(error.callEffect, 'not-run');
    assert.equal(bot.runs(), 0);
    client.close();
  });

  test('a journal that cannot take the call: BotUnavailable, not-run, with the journal error as its cause', async () => {
    const bot = untilAborted();
    journal.close();
    const { client } = await connectSessionPair({ handler: bot.handler, journal });
    const error = await rejection(client.call(null, { deadlineMs: 1000 }));
    assert.ok(error instanceof BotUnavailableError);
    assert.equal(error.callEffect, 'not-run');
    assert.equal((error.cause as Error).name, 'JournalError');
    assert.equal(bot.runs(), 0);
    client.close();
  });

  test('the bot stopping while the call runs: OutcomeUnknown, may-have-run; one whose turn had not come: not-run', async () => {
    const bot = untilAborted();
    const { client } = await connectSessionPair({ handler: bot.handler, journal });
    const call = client.call(null, { deadlineMs: 5000 });
    await bot.started;
    journal.abandonRunning(new BotUnavailableError('the bot is stopping', {}, { callEffect: 'may-have-run' }));
    const error = await rejection(call);
    assert.ok(error instanceof OutcomeUnknownError);
    assert.equal(error.callEffect, 'may-have-run');
    client.close();

    // An execution abandoned before its start gate opened never runs its handler.
    let gate!: (refusal: Error | undefined) => void;
    let ran = false;
    const waiting = new Execution('queued', Date.now() + 5000, async () => {
      ran = true;
      return { kind: 'result', payload: Buffer.from('null') };
    }, () => undefined, new Promise((resolve) => (gate = resolve)));
    waiting.abandon(new BotUnavailableError('the bot is stopping'));
    gate(undefined);
    const reply = await waiting.reply;
    assert.equal(ran, false);
    assert.equal(waiting.started, false);
    assert.deepEqual(reply.kind === 'error' ? [reply.error.type, reply.error.callEffect] : reply.kind, ['BotUnavailable', 'not-run']);
  });
});
