import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WorkSpec } from '../../../spec/index.js';
import { SlurmReplay, answerFrom, ok } from '../../../../test/support/slurm-replay.js';
import type { WorkerCheck } from '../../contracts.js';
import type { Outcome } from '../../outcome.js';
import { testContext, testQueue, withTempDir } from '../../../../test/support/plugins/plugin-fixtures.js';
import { SlurmBulkMonitor } from './slurm-monitor.js';

// The recorded jobs: id -> [job name's workerID, state]: 6 pending, 3 running, 2 completed, 4 failed (3:0),
// 5 cancelled, 1 timeout.
const recorded: readonly [batchID: string, workerID: number][] = [['6', 6], ['3', 1], ['2', 2], ['4', 3], ['5', 4], ['1', 5]];
const ctx = testContext(testQueue({ harvesterID: 'testid' }));

function workers(dir: string, entries: readonly (readonly [string | null, number])[] = recorded): WorkSpec[] {
  return entries.map(([batchID, workerID]) => new WorkSpec({ workerID, batchID, status: 'submitted', accessPoint: join(dir, `w${workerID}`), submitTime: new Date() }));
}

function checks(outcome: Outcome<WorkerCheck[]>): WorkerCheck[] {
  assert.equal(outcome.kind, 'succeeded', outcome.diag);
  return outcome.kind === 'succeeded' ? outcome.value : [];
}

async function exitCodeFile(workSpec: WorkSpec, code: number): Promise<void> {
  await mkdir(workSpec.accessPoint!, { recursive: true });
  await writeFile(join(workSpec.accessPoint!, 'payload.exit_code'), `${code}\n`);
}

describe('SlurmBulkMonitor', () => {
  test('one squeue for the batch, one sacct for the ended jobs only; every state mapped, with state, exit code, reason and source', async () => {
    await withTempDir(async (dir) => {
      const replay = new SlurmReplay({ squeue: 'squeue-jobs-all-states', sacct: 'sacct-jobs-all-states' });
      const ws = workers(dir);
      const result = checks(await new SlurmBulkMonitor({}, replay.run).checkWorkers(ctx, ws));
      assert.equal(replay.callsOf('squeue').length, 1);
      assert.equal(replay.callsOf('sacct').length, 1);
      assert.ok(replay.callsOf('squeue')[0]!.argv.includes('--jobs=6,3,2,4,5,1'));
      assert.deepEqual(replay.callsOf('sacct')[0]!.argv.slice(-2), ['-j', '2,4,5,1'], 'the live jobs (6 pending, 3 running) are settled by squeue');
      assert.deepEqual(result.map((c) => c.status), ['submitted', 'running', 'finished', 'failed', 'cancelled', 'failed']);
      assert.match(result[0]!.diag, /SLURM job 6 PENDING, reason BeginTime \[source: squeue\]/);
      assert.match(result[3]!.diag, /SLURM job 4 FAILED, exit code 3:0 \[source: sacct\]/);
      assert.match(result[5]!.diag, /SLURM job 1 TIMEOUT, exit code 0:0 \(killed at its time limit: the payload did not finish\) \[source: sacct\]/);
      assert.deepEqual(ws.map((w) => w.nativeStatus), ['PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT']);
      assert.equal(ws[3]!.nativeExitCode, 3);
      assert.deepEqual(ws[5]!.endTime, new Date(2026, 11, 2, 15, 48, 45));
      assert.ok(ws[1]!.startTime !== null, 'a running job gets its start time from its elapsed time');
    });
  });

  test('a COMPLETED job whose payload exit code file says non-zero is failed with that code', async () => {
    await withTempDir(async (dir) => {
      const [completed] = workers(dir, [['2', 2]]);
      await exitCodeFile(completed!, 7);
      const replay = new SlurmReplay({ squeue: 'squeue-jobs-all-states', sacct: 'sacct-jobs-all-states' });
      const [check] = checks(await new SlurmBulkMonitor({}, replay.run).checkWorkers(ctx, [completed!]));
      assert.equal(check?.status, 'failed');
      assert.match(check?.diag ?? '', /COMPLETED, exit code 0:0 but the payload exited with code 7/);
      assert.equal(completed!.nativeExitCode, 7);
    });
  });

  test('slurmctld not answering: retryLater for the batch ("checked again later"), sacct not asked', async () => {
    await withTempDir(async (dir) => {
      const replay = new SlurmReplay({ squeue: 'squeue-jobs-slurmctld-down', sacct: 'sacct-jobs-all-states' });
      const outcome = await new SlurmBulkMonitor({}, replay.run).checkWorkers(ctx, workers(dir));
      assert.equal(outcome.kind, 'retry');
      assert.match(outcome.diag, /checked again later.*Unable to contact slurm controller/);
      assert.equal(replay.callsOf('sacct').length, 0);
    });
  });

  test('no accounting: squeue alone (sacct not asked again for a while); a forgotten job is decided by its exit code file, else failed', async () => {
    await withTempDir(async (dir) => {
      const replay = new SlurmReplay({ squeue: 'squeue-jobs-unknown-mixed', sacct: 'sacct-noaccounting-config' });
      const monitor = new SlurmBulkMonitor({}, replay.run);
      const ws = workers(dir, [['2', 2], ['999999', 8], ['999998', 9]]);
      await exitCodeFile(ws[1]!, 0);
      const first = checks(await monitor.checkWorkers(ctx, ws));
      assert.equal(first[0]?.status, 'finished');
      assert.match(first[0]?.diag ?? '', /COMPLETED \[source: squeue\]/);
      assert.equal(first[1]?.status, 'finished');
      assert.match(first[1]?.diag ?? '', /SLURM job 999999 is known to squeue no more \(sacct not used: the cluster keeps no job accounting\); its payload exited with code 0 .*\[source: exit-code-file\]/);
      assert.equal(first[2]?.status, 'failed');
      assert.match(first[2]?.diag ?? '', /SLURM job 999998 is known to squeue no more .*, and its payload left no exit code file \[source: none\]/);
      await monitor.checkWorkers(ctx, ws);
      assert.equal(replay.callsOf('sacct').length, 1, 'sacct is not asked again at once');
      assert.equal(replay.callsOf('squeue').length, 2);
    });
  });

  test("a forgotten job without an exit code file is decided by harvester's postmortem file FINISHED", async () => {
    await withTempDir(async (dir) => {
      const replay = new SlurmReplay({ squeue: 'squeue-jobs-only-unknown', sacct: 'sacct-jobs-only-unknown' });
      const [w] = workers(dir, [['999999', 8]]);
      await mkdir(w!.accessPoint!, { recursive: true });
      await writeFile(join(w!.accessPoint!, 'FINISHED'), JSON.stringify({ worker_status: 'finished' }));
      const [check] = checks(await new SlurmBulkMonitor({}, replay.run).checkWorkers(ctx, [w!]));
      assert.equal(check?.status, 'finished');
      assert.match(check?.diag ?? '', /SLURM job 999999 is known to neither squeue nor sacct; .*FINISHED says finished \[source: postmortem-file\]/);
    });
  });

  test('a quick job that sacct still names "allocation" is matched by its job id', async () => {
    await withTempDir(async (dir) => {
      const replay = new SlurmReplay({ squeue: 'squeue-jobs-only-unknown', sacct: 'sacct-quick-job-name-transient' });
      const [check] = checks(await new SlurmBulkMonitor({}, replay.run).checkWorkers(ctx, workers(dir, [['209', 100]])));
      assert.equal(check?.status, 'finished');
      assert.match(check?.diag ?? '', /SLURM job 209 COMPLETED, exit code 0:0 \[source: sacct\]/);
    });
  });

  test('slurmdbd down: ended jobs squeue still knows are decided by squeue; a forgotten one keeps its status', async () => {
    await withTempDir(async (dir) => {
      const replay = new SlurmReplay({ squeue: 'squeue-jobs-unknown-mixed', sacct: 'sacct-jobs-slurmdbd-down' });
      const ws = workers(dir, [['2', 2], ['999999', 8]]);
      ws[1]!.status = 'running';
      const result = checks(await new SlurmBulkMonitor({}, replay.run).checkWorkers(ctx, ws));
      assert.equal(result[0]?.status, 'finished');
      assert.equal(result[1]?.status, 'running');
      assert.match(result[1]?.diag ?? '', /sacct did not answer .*Connection refused.*checked again later/);
    });
  });

  test('squeueOnly or use_squeue_monitor: sacct is never asked', async () => {
    await withTempDir(async (dir) => {
      for (const options of [{ squeueOnly: true }, { use_squeue_monitor: true }]) {
        const replay = new SlurmReplay({ squeue: 'squeue-jobs-all-states' });
        const result = checks(await new SlurmBulkMonitor(options, replay.run).checkWorkers(ctx, workers(dir)));
        assert.equal(replay.callsOf('sacct').length, 0);
        assert.equal(result[3]?.status, 'failed');
        assert.match(result[3]?.diag ?? '', /FAILED, reason NonZeroExitCode \[source: squeue\]/);
      }
    });
  });

  test('a worker without batchID is found by its job name (squeue by user) and learns its batchID; not found it waits, then is answered ready ("never reached SLURM": submitted again)', async () => {
    await withTempDir(async (dir) => {
      const replay = new SlurmReplay({ squeue: 'squeue-user', sacct: 'sacct-names' });
      const ws = workers(dir, [[null, 6], [null, 404], [null, 405]]);
      ws[2]!.submitTime = new Date(Date.now() - 3600_000);
      const result = checks(await new SlurmBulkMonitor({ submissionGracePeriod: 300 }, replay.run).checkWorkers(ctx, ws));
      assert.equal(replay.callsOf('squeue').length, 1);
      assert.ok(replay.callsOf('squeue')[0]!.argv.some((a) => a.startsWith('--user=')));
      assert.equal(ws[0]!.batchID, '6');
      assert.equal(result[0]?.status, 'submitted');
      assert.equal(result[1]?.status, 'submitted');
      assert.match(result[1]?.diag ?? '', /no SLURM job named hv-testid-w404 in squeue or sacct yet .*waiting up to 300 s/);
      assert.equal(result[2]?.status, 'ready');
      assert.match(result[2]?.diag ?? '', /^never reached SLURM: no SLURM job named hv-testid-w405.*to be submitted again/);
      assert.equal(replay.callsOf('sacct').length, 1);
      assert.ok(replay.callsOf('sacct')[0]!.argv.some((a) => a.startsWith('--user=')), 'by user and time window, as some workers have no job id');
    });
  });

  test('a worker without batchID whose name two jobs carry follows the live one, as the submitter adopts it, not a newer ended one', async () => {
    await withTempDir(async (dir) => {
      const replay = new SlurmReplay({ squeue: (r) => ok(r, '20|hv-testid-w9|RUNNING|None\n21|hv-testid-w9|COMPLETED|None\n'), sacct: (r) => ok(r) });
      const [w] = workers(dir, [[null, 9]]);
      const [check] = checks(await new SlurmBulkMonitor({}, replay.run).checkWorkers(ctx, [w!]));
      assert.equal(w!.batchID, '20');
      assert.equal(check?.status, 'running');
    });
  });

  test('a state the table does not know keeps the worker as it is, saying so', async () => {
    await withTempDir(async (dir) => {
      const replay = new SlurmReplay({
        squeue: (r) => ({ ...answerFrom('squeue-jobs-pending-reasons', r), stdout: '6|hv-testid-w6|NEW_STATE|None|0:05\n' }),
        sacct: 'sacct-jobs-only-unknown',
      });
      const [w] = workers(dir, [['6', 6]]);
      w!.status = 'running';
      const [check] = checks(await new SlurmBulkMonitor({}, replay.run).checkWorkers(ctx, [w!]));
      assert.equal(check?.status, 'running');
      assert.match(check?.diag ?? '', /NEW_STATE: a state this monitor does not know; status kept/);
    });
  });

  test('an aborted call answers retryLater without running anything', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stopping'));
    const replay = new SlurmReplay({});
    const outcome = await new SlurmBulkMonitor({}, replay.run).checkWorkers(testContext(testQueue({ harvesterID: 'testid' }), controller.signal), workers('/nonexistent'));
    assert.equal(outcome.kind, 'retry');
    assert.equal(replay.calls.length, 0);
  });

  test('a batch whose job ids do not fit in one argument is asked by user: still one squeue and one sacct', async () => {
    const replay = new SlurmReplay({ squeue: (r) => ok(r), sacct: (r) => ok(r) });
    const ws = Array.from({ length: 20_000 }, (_v, i) => new WorkSpec({ workerID: i + 1, batchID: String(1_000_000 + i), status: 'running', submitTime: new Date() }));
    const result = checks(await new SlurmBulkMonitor({}, replay.run).checkWorkers(ctx, ws));
    assert.equal(replay.callsOf('squeue').length, 1);
    assert.equal(replay.callsOf('sacct').length, 1);
    assert.ok(replay.callsOf('squeue')[0]!.argv.some((a) => a.startsWith('--user=')));
    assert.ok(replay.callsOf('sacct')[0]!.argv.some((a) => a.startsWith('--user=')));
    assert.equal(result.length, ws.length);
  });
});
