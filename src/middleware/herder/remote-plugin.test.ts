import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WorkSpec } from '../../spec/index.js';
import { ProtocolError } from '../errors.js';
import { applyMutations } from './remote-plugin.js';

const context = { queue: 'Q', method: 'monitor.checkWorkers' };
const workers = (): WorkSpec[] => [new WorkSpec({ workerID: 1, status: 'submitted' }), new WorkSpec({ workerID: 2, status: 'submitted' })];

describe("applying the bot's changes to the caller's specs", () => {
  test('each spec gets its own changes, null leaves a spec alone', () => {
    const specs = workers();
    applyMutations(specs, [{ status: 'running' }, null], context);
    assert.deepEqual(specs.map((w) => w.status), ['running', 'submitted']);
    assert.deepEqual(specs[0]!.changedFields(), ['status'], 'an applied change counts as a change for the store');
  });

  test('changes that are neither null nor an object fail the call as a ProtocolError and change nothing', () => {
    const specs = workers();
    assert.throws(() => applyMutations(specs, [{ status: 'running' }, 'garbage'], context), (e: unknown) => e instanceof ProtocolError && /spec 1 are neither null nor an object/.test(e.message));
    assert.deepEqual(specs.map((w) => w.status), ['submitted', 'submitted']);
  });

  test('a value that does not fit its field is a ProtocolError naming the spec, and that spec is left as it was', () => {
    const specs = workers();
    assert.throws(() => applyMutations(specs, [null, { status: 'running', nCore: 'many' }], context), (e: unknown) => e instanceof ProtocolError && /changes of spec 1 do not fit it/.test(e.message) && /nCore/.test(e.message));
    assert.equal(specs[1]!.status, 'submitted');
  });

  test('a reply for another number of specs than the call carried is a ProtocolError', () => {
    assert.throws(() => applyMutations(workers(), [null], context), (e: unknown) => e instanceof ProtocolError && /changes for 1 specs, the call carried 2/.test(e.message));
  });
});
