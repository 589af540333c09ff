import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  AuthenticationError,
  BotUnavailableError,
  CallCancelledError,
  ConnectionLostError,
  DeadlineExceededError,
  FrameTooLargeError,
  MethodNotFoundError,
  MiddlewareError,
  OutcomeUnknownError,
  ProtocolError,
  ProtocolVersionError,
  RemoteCause,
  RemoteMethodError,
  fromWireError,
  toWireError,
  type WireError,
} from './errors.js';
import { registerSecret } from '../logging/index.js';
import { parseMessage } from './protocol/messages.js';

describe('wire error mapping', () => {
  test('every middleware error class survives the trip to the wire and back', () => {
    const errors: MiddlewareError[] = [
      new BotUnavailableError('down'),
      new MethodNotFoundError('no such method'),
      new DeadlineExceededError('too slow'),
      new OutcomeUnknownError('unknown'),
      new ConnectionLostError('gone'),
      new CallCancelledError('cancelled'),
      new ProtocolError('bad'),
      new ProtocolVersionError('old'),
      new FrameTooLargeError(100, 10),
    ];
    for (const error of errors) {
      const back = fromWireError(toWireError(error), { callId: 'c9' });
      assert.equal(back.constructor, error.constructor, error.name);
      assert.equal(back.bareMessage, error.bareMessage);
      assert.equal(back.context.callId, 'c9');
      assert.match(back.remoteStack ?? '', new RegExp(error.name));
    }
    const tooLarge = fromWireError(toWireError(new FrameTooLargeError(100, 10)));
    assert.ok(tooLarge instanceof FrameTooLargeError);
    assert.equal(tooLarge.declaredBytes, 100);
  });

  test('an unknown wire type becomes a RemoteMethodError that keeps the type', () => {
    const error = fromWireError({ type: 'SlurmDown', message: 'sbatch: error', remoteStack: 'at x' });
    assert.ok(error instanceof RemoteMethodError);
    assert.equal(error.remoteType, 'SlurmDown');
    assert.equal(error.remoteMessage, 'sbatch: error');
    assert.equal(error.remoteStack, 'at x');
  });

  test('a non-Error throw and an invalid wireType fall back to RemoteMethodError', () => {
    assert.equal(toWireError('just a string').type, 'RemoteMethodError');
    assert.equal(toWireError(Object.assign(new Error('x'), { wireType: 'has spaces!' })).type, 'RemoteMethodError');
  });

  test('details that are not JSON are replaced by a note, not a crash', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const wire = toWireError(Object.assign(new Error('x'), { details: circular }));
    assert.ok(typeof wire.details === 'object' && wire.details !== null && 'unserializable' in wire.details);
  });
});

describe('error context', () => {
  test('the message names the context, and addContext fills in what was missing', () => {
    const error = new DeadlineExceededError('no answer', { callId: 'c1', step: 'call' });
    assert.equal(error.message, 'no answer [callId=c1 step=call]');
    error.addContext({ queue: 'CORI', host: 'cori04', callId: 'other' });
    assert.equal(error.message, 'no answer [queue=CORI host=cori04 callId=c1 step=call]');
    assert.equal(error.name, 'DeadlineExceededError');
  });
});

describe('failure meaning on the error', () => {
  test('each class says by default what a call it ends may have done; the raise site may say otherwise', () => {
    const defaults: [MiddlewareError, string][] = [
      [new BotUnavailableError('down'), 'not-run'],
      [new AuthenticationError('who are you'), 'not-run'],
      [new MethodNotFoundError('no such method'), 'not-run'],
      [new ProtocolVersionError('old'), 'not-run'],
      [new OutcomeUnknownError('unknown'), 'may-have-run'],
      [new RemoteMethodError('plugin threw'), 'may-have-run'],
      [new DeadlineExceededError('too slow'), 'may-have-run'],
      [new ConnectionLostError('gone'), 'may-have-run'],
      [new CallCancelledError('cancelled'), 'may-have-run'],
      [new ProtocolError('bad'), 'may-have-run'],
      [new FrameTooLargeError(100, 10), 'may-have-run'],
      [new MiddlewareError('anything else'), 'may-have-run'],
    ];
    for (const [error, effect] of defaults) assert.equal(error.callEffect, effect, error.name);
    assert.equal(new CallCancelledError('before send', {}, { callEffect: 'not-run' }).callEffect, 'not-run');
    assert.equal(new BotUnavailableError('stopping mid-call', {}, { callEffect: 'may-have-run' }).callEffect, 'may-have-run');
  });

  test("the call effect, the error's name and its causes make the trip to the wire and back", () => {
    const root = new Error('ENOSPC: no space left on device');
    const middle = Object.assign(new Error('cannot write the job script', { cause: root }), { name: 'ScriptWriteError' });
    const thrown = Object.assign(new Error('sbatch failed', { cause: middle }), { name: 'SlurmCommandError', callEffect: 'not-run' });
    const wire = toWireError(thrown);
    assert.deepEqual([wire.type, wire.name, wire.callEffect], ['RemoteMethodError', 'SlurmCommandError', 'not-run']);
    const back = fromWireError(parseWire(wire), { callId: 'c1' });
    assert.ok(back instanceof RemoteMethodError);
    assert.equal(back.remoteName, 'SlurmCommandError');
    assert.equal(back.callEffect, 'not-run');
    const cause = back.cause;
    assert.ok(cause instanceof RemoteCause);
    assert.deepEqual([cause.name, cause.message], ['ScriptWriteError', 'cannot write the job script']);
    assert.ok(cause.cause instanceof RemoteCause);
    assert.deepEqual([cause.cause.name, cause.cause.message, cause.cause.cause], ['Error', 'ENOSPC: no space left on device', undefined]);

    const unknown = fromWireError(parseWire(toWireError(new OutcomeUnknownError('bot stopped', {}, { cause: new DeadlineExceededError('slow') }))));
    assert.ok(unknown instanceof OutcomeUnknownError);
    assert.equal(unknown.callEffect, 'may-have-run');
    assert.deepEqual([(unknown.cause as Error).name, (unknown.cause as Error).message], ['DeadlineExceededError', 'slow']);
  });

  test('a known class received with the opposite call effect keeps what the bot said', () => {
    const back = fromWireError(parseWire(toWireError(new BotUnavailableError('stopping while it ran', {}, { callEffect: 'may-have-run' }))));
    assert.ok(back instanceof BotUnavailableError);
    assert.equal(back.callEffect, 'may-have-run');
  });

  test('the cause chain is bounded (three links, long messages cut) and carries no secret', () => {
    const secret = 'correct-horse-battery-staple-42';
    registerSecret(secret);
    let chain: Error = new Error('root');
    for (let i = 4; i >= 1; i--) chain = new Error(`link ${i} ${'x'.repeat(i === 1 ? 5000 : 0)}`, { cause: chain });
    const thrown = new Error(`login with ${secret} refused`, { cause: new Error(`password ${secret} expired`, { cause: chain }) });
    const wire = toWireError(thrown);
    assert.equal(wire.causes?.length, 3);
    assert.ok(!JSON.stringify(wire).includes(secret), 'the secret is masked everywhere, the stack included');
    assert.ok(wire.causes!.every((c) => c.message.length <= 1000));
    assert.match(wire.causes![0]!.message, /password \*\*\* expired/);
  });

  test('an error from a bot that sends no name, call effect or causes still decodes, with the class defaults', () => {
    const old = parseMessage(Buffer.from(JSON.stringify({ t: 'error', id: 'c1', error: { type: 'BotUnavailable', message: 'the bot is stopping' } })));
    assert.equal(old.t, 'error');
    const unavailable = fromWireError((old as { error: WireError }).error);
    assert.ok(unavailable instanceof BotUnavailableError);
    assert.equal(unavailable.callEffect, 'not-run');
    assert.equal(unavailable.cause, undefined);
    const thrown = fromWireError({ type: 'SlurmDown', message: 'sbatch: error' });
    assert.ok(thrown instanceof RemoteMethodError);
    assert.deepEqual([thrown.remoteName, thrown.callEffect], ['SlurmDown', 'may-have-run']);
  });

  test('fields this version does not understand are dropped, never a reason to refuse the message', () => {
    const message = parseMessage(
      Buffer.from(
        JSON.stringify({ t: 'error', id: 'c1', error: { type: 'ConnectionLost', message: 'x', callEffect: 'ran-twice', causes: 'not a list', name: 7 } }),
      ),
    );
    const back = fromWireError((message as { error: WireError }).error);
    assert.ok(back instanceof ConnectionLostError);
    assert.equal(back.callEffect, 'may-have-run');
  });
});

/** Through the wire schema, as the receiving side parses it. */
function parseWire(error: WireError): WireError {
  const message = parseMessage(Buffer.from(JSON.stringify({ t: 'error', id: 'c1', error })));
  assert.equal(message.t, 'error');
  return (message as { error: WireError }).error;
}
