import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { JobSpec, WorkSpec } from './index.js';

const t0 = new Date('2024-03-01T12:00:00.000Z');
const t1 = new Date('2024-03-01T13:00:00.000Z');

describe('WorkSpec helpers', () => {
  test('status and map-type constants are harvester values', () => {
    assert.equal(WorkSpec.ST_submitted, 'submitted');
    assert.equal(WorkSpec.ST_pending, 'pending');
    assert.equal(WorkSpec.MT_MultiJobs, 'ManyToOne');
    assert.equal(WorkSpec.MT_MultiWorkers, 'OneToMany');
    assert.ok(WorkSpec.isWorkerStatus('idle'));
    assert.ok(!WorkSpec.isWorkerStatus('bogus'));
  });

  test('setStatus stamps startTime on running and endTime on a final status, each once', () => {
    const worker = new WorkSpec({ status: 'submitted' });
    worker.setStatus('running', t0);
    assert.deepEqual(worker.startTime, t0);
    assert.equal(worker.new_status, true);
    assert.deepEqual(worker.lastUpdate, new Date(t0.getTime() - 24 * 3600_000), 'propagation triggered');
    worker.setStatus('running', t1);
    assert.deepEqual(worker.startTime, t0);
    worker.setStatus('finished', t1);
    assert.deepEqual(worker.endTime, t1);
    assert.ok(worker.isFinalStatus());
  });

  test('setStatus never goes back from running to submitted', () => {
    const worker = new WorkSpec({ status: 'running' });
    worker.setStatus('submitted', t0);
    assert.equal(worker.status, 'running');
    assert.equal(worker.hasChanges(), false);
  });

  test('a worker status maps to the job status harvester derives from it', () => {
    const worker = new WorkSpec();
    assert.deepEqual(worker.convertToJobStatus('submitted'), ['starting', 'submitted']);
    assert.deepEqual(worker.convertToJobStatus('failed'), ['failed', 'to_transfer']);
    assert.deepEqual(worker.convertToJobStatus('missed'), ['missed', 'missed']);
    assert.deepEqual(worker.convertToJobStatus('idle'), ['running', 'idle']);
  });

  test('setWorkAttributes records a change only when a value is new', () => {
    const worker = new WorkSpec();
    worker.setWorkAttributes({ a: 1 });
    worker.resetChanges();
    worker.setWorkAttributes({ a: 1 });
    assert.equal(worker.hasChanges(), false);
    worker.setWorkAttributes({ b: 2 });
    assert.deepEqual(worker.workAttributes, { a: 1, b: 2 });
    assert.deepEqual(worker.changedFields(), ['workAttributes']);
  });

  test('setLogFile files each log type under harvester key names', () => {
    const worker = new WorkSpec();
    worker.setLogFile('stdout', 'https://logs/1.out');
    worker.setLogFile('stderr', 'https://logs/1.err');
    worker.setLogFile('batch_log', 'https://logs/1.log');
    assert.deepEqual(worker.workAttributes, { stdOut: 'https://logs/1.out', stdErr: 'https://logs/1.err', batchLog: 'https://logs/1.log' });
  });

  test('supplementalDiag is the errorDiag column; setDialogMessage cuts to 500 characters', () => {
    const worker = new WorkSpec();
    worker.setSupplementalError(12, 'disk full');
    assert.equal(worker.supplementalDiag, 'disk full');
    assert.deepEqual(worker.changedColumns(), ['errorCode', 'errorDiag']);
    worker.setDialogMessage('x'.repeat(600));
    assert.equal(worker.diagMessage?.length, 500);
  });

  test('convertToPropagate reports set fields, dates in PanDA format, errorDiag over diagMessage', () => {
    const worker = new WorkSpec({ workerID: 3, status: 'failed', submitTime: new Date('2024-03-01T12:00:00.123Z'), errorCode: 5, errorDiag: 'boom', diagMessage: 'x' });
    worker.setLogFile('stdout', 'https://l/o');
    assert.deepEqual(worker.convertToPropagate(), {
      workerID: 3,
      status: 'failed',
      submitTime: 'datetime/2024-03-01 12:00:00.123000',
      diagMessage: 'boom',
      errorCode: 5,
      stdOut: 'https://l/o',
    });
  });

  test('setNumJobsWithList adds the attached jobs to nJobs', () => {
    const worker = new WorkSpec({ jobSpecs: [new JobSpec({ PandaID: 1 }), new JobSpec({ PandaID: 2 })] });
    worker.setNumJobsWithList();
    assert.equal(worker.nJobs, 2);
  });
});
