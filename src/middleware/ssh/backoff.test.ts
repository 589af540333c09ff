import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { backoffDelay } from './backoff.js';

const policy = { initialMs: 500, maxMs: 30_000 };

test('doubles per failure from initialMs and stops at maxMs (no jitter at random = 1)', () => {
  const full = [1, 2, 3, 4, 5, 6, 7, 20].map((n) => backoffDelay(policy, n, false, () => 1));
  assert.deepEqual(full, [500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
  assert.equal(backoffDelay(policy, 0, false, () => 1), 500);
});

test('errors that retrying cannot heal wait the maximum from the first failure', () => {
  assert.equal(backoffDelay(policy, 1, true, () => 1), 30_000);
});

test('jitter keeps every delay between half and all of its base, never above maxMs', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1_000 }), fc.boolean(), fc.double({ min: 0, max: 1, noNaN: true }), (failures, persistent, r) => {
      const delay = backoffDelay(policy, failures, persistent, () => r);
      const base = backoffDelay(policy, failures, persistent, () => 1);
      return delay >= Math.floor(base / 2) && delay <= base && base <= policy.maxMs;
    }),
  );
});
