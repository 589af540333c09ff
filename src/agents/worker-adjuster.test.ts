import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { adjustWorkers, workersForJobs, type WorkerAdjusterInput } from './worker-adjuster.js';

const queue = { nQueueLimitWorker: 10, maxWorkers: 20, maxNewWorkersPerCycle: 0, mapType: 'NoJob' } as const;

function adjust(overrides: Partial<WorkerAdjusterInput> = {}): ReturnType<typeof adjustWorkers> {
  return adjustWorkers({ queue, maxNewWorkers: 100, counts: {}, ...overrides });
}

describe('adjustWorkers', () => {
  test('an empty queue gets nQueueLimitWorker new workers', () => {
    assert.deepEqual(adjust(), { nNewWorkers: 10, limitedBy: 'nQueueLimitWorker', queued: 0, live: 0 });
  });

  test('submitted, ready and pending workers count as queued against nQueueLimitWorker; running ones do not', () => {
    const result = adjust({ counts: { submitted: 3, ready: 2, pending: 1, running: 5, finished: 50 } });
    assert.equal(result.queued, 6);
    assert.equal(result.nNewWorkers, 4);
    assert.equal(result.limitedBy, 'nQueueLimitWorker');
  });

  test('queued, running and idle workers count against maxWorkers; final ones do not', () => {
    const result = adjust({ counts: { submitted: 2, running: 14, idle: 2, failed: 9, cancelled: 9 } });
    assert.equal(result.live, 18);
    assert.equal(result.nNewWorkers, 2);
    assert.equal(result.limitedBy, 'maxWorkers');
  });

  test('maxNewWorkersPerCycle caps the number when set; 0 means no per-cycle cap', () => {
    assert.deepEqual(
      [adjust({ queue: { ...queue, maxNewWorkersPerCycle: 3 } }), adjust({ queue: { ...queue, maxNewWorkersPerCycle: 0 } })].map((r) => [r.nNewWorkers, r.limitedBy]),
      [
        [3, 'maxNewWorkersPerCycle'],
        [10, 'nQueueLimitWorker'],
      ],
    );
  });

  test("the submitter's maxNewWorkers setting caps the number", () => {
    const result = adjust({ maxNewWorkers: 4 });
    assert.equal(result.nNewWorkers, 4);
    assert.equal(result.limitedBy, 'maxNewWorkers');
  });

  test('a throttled queue gets no new workers whatever the room', () => {
    const result = adjust({ throttled: true });
    assert.equal(result.nNewWorkers, 0);
    assert.equal(result.limitedBy, 'throttled');
  });

  test('a queue over its limits gets 0, never a negative number', () => {
    const result = adjust({ counts: { submitted: 15, running: 30 } });
    assert.equal(result.nNewWorkers, 0);
    assert.equal(result.limitedBy, 'maxWorkers');
  });

  test('queues running jobs get no more workers than the prepared jobs fill, per map type', () => {
    const withJobs = (mapType: 'OneToOne' | 'ManyToOne' | 'OneToMany', preparedJobs: number, sizes = {}): number =>
      adjust({ queue: { ...queue, mapType }, preparedJobs, sizes }).nNewWorkers;
    assert.equal(withJobs('OneToOne', 3), 3);
    assert.equal(withJobs('ManyToOne', 7, { nJobsPerWorker: 3 }), 2);
    assert.equal(withJobs('OneToMany', 2, { nWorkersPerJob: 4 }), 8);
    assert.equal(withJobs('OneToMany', 5, { nWorkersPerJob: 4 }), 10, 'still capped by nQueueLimitWorker');
    assert.equal(adjust({ queue: { ...queue, mapType: 'OneToOne' }, preparedJobs: 0 }).limitedBy, 'preparedJobs');
  });

  test('a NoJob queue is not bounded by jobs', () => {
    assert.equal(adjust({ preparedJobs: 0 }).nNewWorkers, 10);
    assert.equal(workersForJobs('NoJob', 0), Number.POSITIVE_INFINITY);
  });
});
