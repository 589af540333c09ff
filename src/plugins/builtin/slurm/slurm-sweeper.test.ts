import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { WorkSpec } from '../../../spec/index.js';
import { SlurmReplay } from '../../../../test/support/slurm-replay.js';
import { testContext, testQueue, withTempDir } from '../../../../test/support/plugins/plugin-fixtures.js';
import { SlurmSweeper } from './slurm-sweeper.js';

const ctx = testContext(testQueue({ harvesterID: 'testid' }));

describe('SlurmSweeper', () => {
  test('kills a batch with ONE scancel; jobs already ended or unknown count as killed', async () => {
    const replay = new SlurmReplay({ scancel: 'scancel-verbose-running-finished-unknown' });
    const ws = ['211', '2', '999999'].map((batchID, i) => new WorkSpec({ workerID: i + 1, batchID }));
    const outcomes = await new SlurmSweeper({}, replay.run).killWorkers(ctx, ws);
    assert.equal(replay.callsOf('scancel').length, 1);
    assert.deepEqual(replay.callsOf('scancel')[0]?.argv, ['scancel', '-v', '211', '2', '999999']);
    assert.deepEqual(outcomes.map((o) => o.kind), ['succeeded', 'succeeded', 'succeeded']);
    assert.match(outcomes[1]!.diag, /had already ended: Job\/step already completing or completed/);
    assert.match(outcomes[2]!.diag, /Invalid job id specified/);
  });

  test('slurmctld not answering: retryLater', async () => {
    const replay = new SlurmReplay({ scancel: 'scancel-slurmctld-down' });
    const [outcome] = await new SlurmSweeper({}, replay.run).killWorkers(ctx, [new WorkSpec({ workerID: 1, batchID: '3' })]);
    assert.equal(outcome?.kind, 'retry');
    assert.match(outcome?.diag ?? '', /Unable to contact slurm controller/);
  });

  test('workers without batchID are looked up by job name in one squeue; live jobs are cancelled with the others, ended ones need nothing', async () => {
    const replay = new SlurmReplay({ squeue: 'squeue-user', scancel: 'scancel-running' });
    const ws = [new WorkSpec({ workerID: 6 }), new WorkSpec({ workerID: 2 }), new WorkSpec({ workerID: 404 }), new WorkSpec({ workerID: 7, batchID: '5' })];
    const outcomes = await new SlurmSweeper({}, replay.run).killWorkers(ctx, ws);
    assert.equal(replay.callsOf('squeue').length, 1);
    assert.ok(replay.callsOf('squeue')[0]!.argv.includes('--name=hv-testid-w6,hv-testid-w2,hv-testid-w404'));
    assert.deepEqual(replay.callsOf('scancel')[0]?.argv, ['scancel', '-v', '5', '6'], 'job 5, and the pending job 6 found by name');
    assert.deepEqual(outcomes.map((o) => o.kind), ['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    assert.match(outcomes[1]!.diag, /no live SLURM job named hv-testid-w2: nothing to kill/);
  });

  test('a worker without batchID whose queue carries no harvesterID (an older core) is not taken for killed: its job cannot be looked for', async () => {
    const replay = new SlurmReplay({});
    const [outcome] = await new SlurmSweeper({}, replay.run).killWorkers(testContext(testQueue({ harvesterID: undefined })), [new WorkSpec({ workerID: 6 })]);
    assert.equal(outcome?.kind, 'retry');
    assert.match(outcome?.diag ?? '', /worker 6 has no batchID, and the queue configuration carries no harvesterID/);
    assert.equal(replay.calls.length, 0);
  });

  test('sweeping removes the access point, and refuses paths that must not be removed', async () => {
    await withTempDir(async (dir) => {
      const accessPoint = join(dir, 'w1');
      await mkdir(accessPoint);
      await writeFile(join(accessPoint, '1.out'), 'x');
      const sweeper = new SlurmSweeper({}, new SlurmReplay({}).run);
      assert.equal((await sweeper.sweepWorker(ctx, new WorkSpec({ workerID: 1, accessPoint }))).kind, 'succeeded');
      await assert.rejects(stat(accessPoint), /ENOENT/);
      assert.equal((await sweeper.sweepWorker(ctx, new WorkSpec({ workerID: 1, accessPoint }))).kind, 'succeeded', 'already gone');
      const home = await sweeper.sweepWorker(ctx, new WorkSpec({ workerID: 2, accessPoint: homedir() }));
      assert.equal(home.kind, 'failed');
      assert.match(home.diag, /it is the home directory/);
    });
  });
});
