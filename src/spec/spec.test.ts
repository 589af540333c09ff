import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventSpec, FileSpec, JobSpec, SpecDecodeError, SpecFieldError, WorkSpec } from './index.js';

describe('Spec change tracking', () => {
  test('a fresh spec has harvester defaults and no changes', () => {
    const job = new JobSpec({ PandaID: 42 });
    assert.equal(job.PandaID, 42);
    assert.equal(job.taskID, null);
    assert.equal(job.nWorkers, 0, 'harvester zeroAttrs start at 0');
    assert.deepEqual(job.inFiles, []);
    assert.equal(new WorkSpec().isNew, false);
    assert.equal(job.hasChanges(), false);
    assert.deepEqual(job.changedFields(), []);
  });

  test('setting a field to a new value records its name once', () => {
    const worker = new WorkSpec({ workerID: 1 });
    worker.batchID = '123';
    worker.batchID = '124';
    worker.status = 'submitted';
    assert.deepEqual(worker.changedFields(), ['batchID', 'status']);
    assert.equal(worker.hasChanges(), true);
  });

  test('setting the same primitive or the same instant is not a change; any object is', () => {
    const worker = new WorkSpec({ workerID: 1, submitTime: new Date(1000), workAttributes: { a: 1 } });
    worker.workerID = 1;
    worker.submitTime = new Date(1000);
    assert.equal(worker.hasChanges(), false);
    const sameObject = worker.workAttributes;
    worker.workAttributes = sameObject;
    assert.deepEqual(worker.changedFields(), ['workAttributes']);
  });

  test('resetChanges forgets changes but keeps values', () => {
    const file = new FileSpec();
    file.lfn = 'a.root';
    file.resetChanges();
    assert.equal(file.hasChanges(), false);
    assert.equal(file.lfn, 'a.root');
  });

  test('getChanges holds only the changed fields, encoded', () => {
    const worker = new WorkSpec({ workerID: 7, queueName: 'Q' });
    worker.submitTime = new Date('2024-05-06T07:08:09.123Z');
    worker.nCore = 8;
    assert.deepEqual(worker.getChanges(), { submitTime: { $date: '2024-05-06T07:08:09.123Z' }, nCore: 8 });
  });

  test('applyChanges sets the decoded values and marks them changed', () => {
    const worker = new WorkSpec({ workerID: 7 });
    worker.applyChanges({ batchID: 'b9', startTime: { $date: '2024-01-01T00:00:00.001Z' } });
    assert.equal(worker.batchID, 'b9');
    assert.deepEqual(worker.startTime, new Date('2024-01-01T00:00:00.001Z'));
    assert.deepEqual(worker.changedFields(), ['batchID', 'startTime']);
  });

  test('applyChanges with one bad field sets nothing and names the field', () => {
    const worker = new WorkSpec({ workerID: 7 });
    assert.throws(
      () => worker.applyChanges({ batchID: 'b9', workerID: 'eight' }),
      (e: unknown) => e instanceof SpecDecodeError && e.path === '$.workerID' && /WorkSpec\.workerID/.test(e.message),
    );
    assert.equal(worker.batchID, null);
    assert.equal(worker.hasChanges(), false);
  });

  test('unknown keys in applied changes land in extra, and travel on', () => {
    const worker = new WorkSpec();
    worker.applyChanges({ futureColumn: 3 });
    assert.deepEqual(worker.extra, { futureColumn: 3 });
    assert.deepEqual(worker.getChanges(), { futureColumn: 3 });
  });

  test('a value of the wrong kind is refused with the spec kind and field named', () => {
    const worker = new WorkSpec();
    assert.throws(
      () => worker.setField('submitTime', '2024-01-01'),
      (e: unknown) => e instanceof SpecFieldError && e.specKind === 'WorkSpec' && e.field === 'submitTime',
    );
    assert.throws(() => new JobSpec({ inFiles: [new EventSpec() as unknown as FileSpec] }), SpecFieldError);
    assert.throws(() => new WorkSpec({ noSuchField: 1 } as never), /WorkSpec\.noSuchField: no such field/);
  });

  test('changedColumns leaves out non-column fields and extra keys', () => {
    const job = new JobSpec({ PandaID: 1 });
    job.addInFile(new FileSpec({ lfn: 'in.root', fileType: 'input' }));
    job.subStatus = 'prepared';
    job.setExtra('note', 'x');
    assert.deepEqual(job.changedFields(), ['inFiles', 'subStatus', 'note']);
    assert.deepEqual(job.changedColumns(), ['subStatus']);
  });

  test('setExtra with undefined removes the key and ships the removal', () => {
    const remote = new WorkSpec();
    remote.extra = { keep: 1, drop: 2 };
    const local = remote.clone();
    remote.setExtra('drop', undefined);
    local.applyChanges(remote.getChanges());
    assert.deepEqual(local.extra, { keep: 1 });
  });

  test('forceUpdate marks an in-place edit of a dict', () => {
    const job = new JobSpec({ jobParams: { a: '1' } });
    (job.jobParams as Record<string, unknown>)['b'] = '2';
    assert.equal(job.hasChanges(), false);
    job.forceUpdate('jobParams');
    assert.deepEqual(job.getChanges(), { jobParams: { a: '1', b: '2' } });
    assert.throws(() => job.forceUpdate('nope'), SpecFieldError);
  });

  test('clone is deep and keeps pending changes', () => {
    const job = new JobSpec({ PandaID: 5, jobParams: { x: [1, 2] } });
    job.addOutFile(new FileSpec({ lfn: 'out.root', fileType: 'output' }));
    const copy = job.clone();
    assert.ok(copy instanceof JobSpec);
    assert.ok(copy.equals(job));
    assert.deepEqual(copy.changedFields(), job.changedFields());
    copy.outFiles[0]!.lfn = 'other.root';
    (copy.jobParams!['x'] as number[]).push(3);
    assert.equal(job.outFiles[0]!.lfn, 'out.root');
    assert.deepEqual(job.jobParams, { x: [1, 2] });
    assert.equal(job.outFiles[0]!.hasChanges(), false);
  });

  test('field names are harvester columns in harvester order; non-column fields are listed apart', () => {
    assert.equal(WorkSpec.fieldNames[0], 'workerID');
    assert.equal(WorkSpec.fieldNames.at(-1), 'errorDiag');
    assert.ok(!WorkSpec.fieldNames.includes('jobSpecs'));
    assert.deepEqual(WorkSpec.nonColumnFieldNames.slice(0, 2), ['jobSpecs', 'pandaid_list']);
    assert.deepEqual(JobSpec.nonColumnFieldNames, ['inFiles', 'outFiles', 'events']);
    assert.equal(FileSpec.columns.find((c) => c.name === 'fileID')?.autoIncrement, true);
    assert.deepEqual(EventSpec.fieldNames, ['eventRangeID', 'PandaID', 'eventStatus', 'coreCount', 'cpuConsumptionTime', 'subStatus', 'fileID', 'loss']);
  });

  test('equals ignores the key order of extra but not values', () => {
    const a = new FileSpec({ lfn: 'f' });
    const b = new FileSpec({ lfn: 'f' });
    a.extra = { p: 1, q: 2 };
    b.extra = { q: 2, p: 1 };
    assert.ok(a.equals(b));
    b.fsize = 10;
    assert.ok(!a.equals(b));
  });
});
