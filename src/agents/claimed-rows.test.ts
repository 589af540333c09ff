// Writing back claimed rows when another process has taken some of them over, on a real SqliteStore.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeBackJobs } from './claimed-rows.js';
import { jobSideEnv, jobToTransfer } from '../../test/support/agents/job-side-fixtures.js';

describe('writeBackJobs', () => {
  test('rows another process took over are left to it with a warning; the others are written and released', async () => {
    const t = await jobSideEnv();
    try {
      await t.store.insertJobs([jobToTransfer(1), jobToTransfer(2)]);
      const claim = { for: 'stager', lockIntervalSec: 600, limit: 10, subStatus: ['to_transfer'] } as const;
      const ours = await t.store.claimJobs({ ...claim, owner: 'stager-slow', now: t.clock.now() });
      assert.equal(ours.length, 2);
      // We stall past the lock interval; another process takes job 1 over.
      t.clock.advance(601);
      const theirs = await t.store.claimJobs({ ...claim, owner: 'stager-other', limit: 1, now: t.clock.now() });
      assert.deepEqual(theirs.map((j) => j.PandaID), [1]);
      for (const job of ours) job.subStatus = 'done';
      const result = await writeBackJobs(t.store, ours, { lock: { purpose: 'stager', owner: 'stager-slow' }, releaseLock: true, now: t.clock.now() }, t.log.logger);
      assert.deepEqual(result.written.map((j) => j.PandaID), [2]);
      assert.deepEqual([result.lockLost, result.refused], [[1], []]);
      const [taken, written] = await t.store.getJobs([1, 2]);
      assert.deepEqual([taken!.subStatus, taken!.stagerLock], ['to_transfer', 'stager-other']);
      assert.deepEqual([written!.subStatus, written!.stagerLock], ['done', null]);
      assert.ok(t.log.problems('took these jobs over').some((l) => (l.PandaIDs as number[]).includes(1)));
    } finally {
      await t.cleanup();
    }
  });
});
