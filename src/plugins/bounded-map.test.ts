import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { mapBounded } from './bounded-map.js';

describe('mapBounded', () => {
  test('keeps the items order whatever order the steps finish in, with never more than the limit in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const items = Array.from({ length: 40 }, (_, i) => i);
    const results = await mapBounded(items, 5, async (n) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await sleep((n * 7) % 5);
      inFlight--;
      return n * 2;
    });
    assert.deepEqual(results, items.map((n) => n * 2));
    assert.equal(most, 5);
  });

  test('starts no further item once asked to stop; items not started are undefined', async () => {
    let stop = false;
    const started: number[] = [];
    const results = await mapBounded([0, 1, 2, 3, 4, 5], 2, async (n) => {
      started.push(n);
      if (n === 1) stop = true;
      return n;
    }, () => stop);
    assert.ok(started.length < 6, `started ${started.join(',')}`);
    for (const [i, r] of results.entries()) assert.equal(r, started.includes(i) ? i : undefined);
  });

  test('a step that throws rejects the map once the steps in flight have settled, and no new step starts', async () => {
    const started: number[] = [];
    const settled: number[] = [];
    await assert.rejects(
      mapBounded([0, 1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
        started.push(n);
        if (n === 1) throw new Error('step 1 failed');
        await sleep(5);
        settled.push(n);
        return n;
      }),
      /step 1 failed/,
    );
    assert.deepEqual([...settled].sort(), started.filter((n) => n !== 1).sort());
    assert.ok(started.length < 8);
  });
});
