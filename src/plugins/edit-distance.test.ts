import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closest, editDistance } from './edit-distance.js';

test('edit distance counts insertions, deletions and substitutions', () => {
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('', 'abc'), 3);
  assert.equal(editDistance('DummySubmitter', 'DummySubmitter'), 0);
});

test('closest names come best first and far ones are left out', () => {
  assert.deepEqual(closest('DummySubmiter', ['DummyMonitor', 'DummySubmitter', 'SharedFileMessenger']), ['DummySubmitter']);
  assert.deepEqual(closest('dummy_sweper', ['dummy_sweeper', 'dummy_stager', 'simple_throttler']), ['dummy_sweeper', 'dummy_stager']);
});
