import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { RecordingLogger } from '../../../test/support/middleware/protocol-fixtures.js';
import { IdleCollector } from './idle-collector.js';

const MB = 1024 * 1024;
/** The quiet periods are ended by the tests themselves: the real timer never fires during a test. */
const NEVER_MS = 3_600_000;

const made: IdleCollector[] = [];
afterEach(() => {
  for (const collector of made.splice(0)) collector.close();
});

/** A collector over a fake heap: `heap.used` grows as the test says, and a collection brings it back to 10 MB. */
function fakeCollector(busy: () => boolean = () => false): { collector: IdleCollector; heap: { used: number }; collections: () => number; log: RecordingLogger } {
  const heap = { used: 10 * MB };
  let collections = 0;
  const log = new RecordingLogger();
  const collector = new IdleCollector({
    collect: () => {
      collections += 1;
      heap.used = 10 * MB;
    },
    busy,
    heapUsed: () => heap.used,
    quietMs: NEVER_MS,
    minGrowthBytes: 4 * MB,
    log,
  });
  made.push(collector);
  return { collector, heap, collections: () => collections, log };
}

describe('IdleCollector', () => {
  test('collects when a quiet period ends with no new call and the heap has grown', () => {
    const { collector, heap, collections, log } = fakeCollector();
    collector.noteCall();
    heap.used += 30 * MB;
    collector.quietPeriodEnded();
    assert.ok(collections() > 0);
    assert.ok(log.at('debug').some((entry) => /collected garbage/.test(entry.message)));
    const after = collections();
    collector.quietPeriodEnded();
    assert.equal(collections(), after, 'nothing more until the heap grows again');
  });

  test('waits one more period when calls arrived during the last one', () => {
    const { collector, heap, collections } = fakeCollector();
    collector.noteCall();
    collector.noteCall();
    heap.used += 30 * MB;
    collector.noteCall();
    collector.quietPeriodEnded();
    assert.equal(collections(), 0, 'calls arrived since the period began');
    collector.quietPeriodEnded();
    assert.ok(collections() > 0, 'the next period was quiet');
  });

  test('does not collect while a call is running', () => {
    let running = true;
    const { collector, heap, collections } = fakeCollector(() => running);
    collector.noteCall();
    heap.used += 30 * MB;
    collector.quietPeriodEnded();
    assert.equal(collections(), 0);
    running = false;
    collector.quietPeriodEnded();
    assert.ok(collections() > 0);
  });

  test('skips the collection when the heap grew by less than the minimum', () => {
    const { collector, heap, collections } = fakeCollector();
    collector.noteCall();
    heap.used += 1 * MB;
    collector.quietPeriodEnded();
    assert.equal(collections(), 0);
  });

  test('collects at once when the last connection closes, unless calls run', () => {
    let running = true;
    const { collector, heap, collections } = fakeCollector(() => running);
    heap.used += 30 * MB;
    collector.noteDisconnected();
    assert.equal(collections(), 0);
    running = false;
    collector.noteDisconnected();
    assert.ok(collections() > 0);
  });

  test('a closed collector never collects', () => {
    const { collector, heap, collections } = fakeCollector();
    collector.noteCall();
    heap.used += 30 * MB;
    collector.close();
    collector.noteDisconnected();
    collector.quietPeriodEnded();
    assert.equal(collections(), 0);
  });
});
