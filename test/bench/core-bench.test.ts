// The core benchmark's own machinery, small: the real agents take every worker through its whole life and
// the benchmark notices when they do not. Behaviour only: no timing is asserted.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/logging/index.js';
import { cycleCases, cycleCaseId } from '../../bench/core-cases.js';
import { checkAllSwept, CoreBenchCheckError, runLifecycle, stageNames, type LifecycleRun } from '../../bench/core-lifecycle.js';

const log = createLogger({ level: 'silent' });

describe('core benchmark lifecycle', () => {
  test('200 workers are submitted, run, finish and end swept: no row and no dummy batch job left', async () => {
    const run = await runLifecycle({ workers: 200, batches: { submitter: 50, monitor: 80, sweeper: 30 }, log });
    assert.deepEqual(
      run.stages.map((s) => s.stage),
      [...stageNames],
    );
    for (const stage of run.stages) {
      // Checks that change nothing come in whole batches of 80: the last one re-checks the oldest 40.
      if (stage.stage === 'monitor: running, no change') assert.equal(stage.workers, 240);
      else assert.equal(stage.workers, 200, `${stage.stage}: every worker got there exactly once`);
    }
    assert.equal(run.workersLeft, 0);
    assert.equal(run.batchJobsLeft, 0);
    // The batch sizes bound each cycle: 200 workers take 4 submitter cycles of 50 and 7 sweeper cycles of 30.
    assert.equal(run.stages.find((s) => s.stage === 'submit')?.cycles, 4);
    assert.equal(run.stages.find((s) => s.stage === 'sweep')?.cycles, 7);
    assert.doesNotThrow(() => checkAllSwept(run));
  });

  test('a run that leaves workers behind is refused, naming the sweep and what was left', () => {
    const leftover: LifecycleRun = { workers: 3, batches: { submitter: 3, monitor: 3, sweeper: 3 }, stages: [], totalMs: 0, batchSystemMs: 0, workersLeft: 2, batchJobsLeft: 1 };
    assert.throws(() => checkAllSwept(leftover), (error: unknown) => error instanceof CoreBenchCheckError && error.stage === 'sweep' && /2 workers left.*1 dummy batch jobs/.test(error.message));
  });

  test('the cycle cases cover all live workers in one cycle per stage and compare per-worker cost across sizes', async () => {
    const results = await cycleCases({ small: 20, large: 60, warmups: 0, runs: 1 }, log, () => undefined);
    for (const stage of stageNames) {
      const small = results.find((r) => r.id === cycleCaseId(stage, 20));
      const large = results.find((r) => r.id === cycleCaseId(stage, 60));
      assert.equal(small?.detail?.['cycles'], 1, `${stage} at 20 workers`);
      assert.equal(large?.detail?.['cycles'], 1, `${stage} at 60 workers`);
      assert.equal(typeof large?.detail?.['perWorkerRatioToSmall'], 'number', `${stage}: ratio of per-worker cost`);
    }
  });
});
