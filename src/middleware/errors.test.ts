import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
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
  RemoteMethodError,
  fromWireError,
  toWireError,
} from './errors.js';

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
