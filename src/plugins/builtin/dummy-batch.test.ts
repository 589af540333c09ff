// The dummy batch system end to end on a temporary directory: submit, monitor, kill, sweep.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, access, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { WorkSpec } from '../../spec/index.js';
import { expandAccessPoint } from '../access-point.js';
import { testContext, withTempDir } from '../../../test/support/plugins/plugin-fixtures.js';
import { DummySubmitter } from './dummy-submitter.js';
import { DummyMonitor } from './dummy-monitor.js';
import { DummySweeper } from './dummy-sweeper.js';

function workers(dir: string, ...ids: number[]): WorkSpec[] {
  return ids.map((workerID) => {
    const w = new WorkSpec({ workerID });
    w.accessPoint = expandAccessPoint('${workerID}', w, dir);
    return w;
  });
}

async function submittedLines(workSpec: WorkSpec): Promise<string[]> {
  return (await readFile(join(workSpec.accessPoint!, 'submitted.log'), 'utf8')).split('\n').filter((l) => l !== '');
}

describe('DummySubmitter', () => {
  test('gives each worker a unique batchID, writes status.txt and one submitted.log line per submission', async () => {
    await withTempDir(async (dir) => {
      const ws = workers(dir, 1, 2, 3);
      const outcomes = await new DummySubmitter({ computingElement: 'ce01' }).submitWorkers(testContext(), ws);
      assert.deepEqual(outcomes.map((o) => o.kind), ['succeeded', 'succeeded', 'succeeded']);
      assert.equal(new Set(ws.map((w) => w.batchID)).size, 3);
      for (const w of ws) {
        assert.match(w.batchID!, /^batch_ID_[0-9a-f]{32}$/);
        assert.equal(w.computingElement, 'ce01');
        assert.equal(w.getWorkAttribute('batchLog'), `http://localhost/test/${w.batchID}.log`);
        assert.equal(w.getWorkAttribute('stdOut'), `http://localhost/test/${w.batchID}.out`);
        assert.equal(await readFile(join(w.accessPoint!, 'status.txt'), 'utf8'), 'submitted');
        assert.deepEqual(await submittedLines(w), [`${w.workerID} ${w.batchID}`]);
      }
      // A second submission of the same worker shows as a second line: what the crash test counts.
      await new DummySubmitter().submitWorkers(testContext(), [ws[0]!]);
      assert.equal((await submittedLines(ws[0]!)).length, 2);
    });
  });

  test('a worker without accessPoint fails for good; an unwritable one is retried later', async () => {
    await withTempDir(async (dir) => {
      const blocked = join(dir, 'blocked');
      await writeFile(blocked, 'a file where a directory should be');
      const ws = [new WorkSpec({ workerID: 1 }), new WorkSpec({ workerID: 2, accessPoint: join(blocked, 'sub') })];
      const outcomes = await new DummySubmitter().submitWorkers(testContext(), ws);
      assert.equal(outcomes[0]!.kind, 'failed');
      assert.equal(outcomes[1]!.kind, 'retry');
      assert.match(outcomes[1]!.diag, /blocked/);
      assert.equal(ws[1]!.batchID, null, 'no batchID when nothing was submitted');
    });
  });

  test('an abort mid-batch leaves the rest unsubmitted, with retry outcomes', async () => {
    await withTempDir(async (dir) => {
      const controller = new AbortController();
      const ws = workers(dir, 1, 2, 3);
      const ctx = testContext(undefined, controller.signal);
      // Abort once the first worker's status file exists, i.e. between items.
      const submitter = new DummySubmitter();
      const original = ws[1]!;
      Object.defineProperty(original, 'accessPoint', {
        get() {
          controller.abort(new Error('shutdown'));
          return join(dir, '2');
        },
      });
      const outcomes = await submitter.submitWorkers(ctx, ws);
      assert.deepEqual(outcomes.map((o) => o.kind), ['succeeded', 'succeeded', 'retry']);
      assert.match(outcomes[2]!.diag, /shutdown/);
      await assert.rejects(access(join(dir, '3')), 'worker 3 was not touched');
    });
  });
});

describe('DummyMonitor', () => {
  test('reads each status from status.txt; a worker without one is finished with exit code 0', async () => {
    await withTempDir(async (dir) => {
      const ws = workers(dir, 1, 2, 3, 4);
      await new DummySubmitter().submitWorkers(testContext(), ws.slice(0, 3));
      await writeFile(join(ws[1]!.accessPoint!, 'status.txt'), 'running\n');
      await writeFile(join(ws[2]!.accessPoint!, 'status.txt'), 'finished');
      const result = await new DummyMonitor().checkWorkers(testContext(), ws);
      assert.equal(result.kind, 'succeeded');
      const statuses = result.kind === 'succeeded' ? result.value.map((c) => c.status) : [];
      assert.deepEqual(statuses, ['submitted', 'running', 'finished', 'finished']);
      assert.equal(ws[2]!.nativeExitCode, 0);
      assert.equal(ws[2]!.nativeStatus, 'done');
      assert.equal(ws[0]!.nativeStatus, null);
    });
  });

  test('an unknown status is reported as failed with the text found', async () => {
    await withTempDir(async (dir) => {
      const [w] = workers(dir, 9);
      await mkdir(w!.accessPoint!, { recursive: true });
      await writeFile(join(w!.accessPoint!, 'status.txt'), 'exploded');
      const result = await new DummyMonitor().checkWorkers(testContext(), [w!]);
      assert.ok(result.kind === 'succeeded');
      assert.equal(result.value[0]!.status, 'failed');
      assert.match(result.value[0]!.diag, /exploded/);
    });
  });

  test('an aborted check is a retry for the batch', async () => {
    const controller = new AbortController();
    controller.abort();
    const result = await new DummyMonitor().checkWorkers(testContext(undefined, controller.signal), [new WorkSpec({ workerID: 1 })]);
    assert.equal(result.kind, 'retry');
  });
});

describe('DummySweeper', () => {
  test('kill makes the monitor see cancelled; sweep removes status.txt but keeps submitted.log', async () => {
    await withTempDir(async (dir) => {
      const ws = workers(dir, 1, 2);
      await new DummySubmitter().submitWorkers(testContext(), ws);
      const sweeper = new DummySweeper();
      const killed = await sweeper.killWorkers(testContext(), ws);
      assert.deepEqual(killed.map((o) => o.kind), ['succeeded', 'succeeded']);
      const checked = await new DummyMonitor().checkWorkers(testContext(), ws);
      assert.deepEqual(checked.kind === 'succeeded' && checked.value.map((c) => c.status), ['cancelled', 'cancelled']);
      for (const w of ws) {
        assert.equal((await sweeper.sweepWorker(testContext(), w)).kind, 'succeeded');
        await assert.rejects(access(join(w.accessPoint!, 'status.txt')));
        assert.equal((await submittedLines(w)).length, 1);
      }
    });
  });

  test('killing and sweeping a worker that is already gone succeed (idempotent)', async () => {
    await withTempDir(async (dir) => {
      const [w] = workers(dir, 5);
      const sweeper = new DummySweeper();
      assert.equal((await sweeper.killWorker(testContext(), w!)).kind, 'succeeded');
      assert.equal((await sweeper.sweepWorker(testContext(), w!)).kind, 'succeeded');
      await assert.rejects(access(w!.accessPoint!), 'a kill of a gone worker creates nothing');
    });
  });

  test('a status file that cannot be replaced makes the kill a retry', async () => {
    await withTempDir(async (dir) => {
      const [w] = workers(dir, 6);
      await new DummySubmitter().submitWorkers(testContext(), [w!]);
      // A non-empty directory where the status file should be: rename() fails for root as well, unlike chmod.
      const statusPath = join(w!.accessPoint!, 'status.txt');
      await rm(statusPath);
      await mkdir(statusPath);
      await writeFile(join(statusPath, 'keep'), 'x');
      assert.equal((await new DummySweeper().killWorker(testContext(), w!)).kind, 'retry');
    });
  });
});
