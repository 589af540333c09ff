import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventSpec, FileSpec, JobSpec, SpecStateError } from './index.js';

const jobParams = {
  inFiles: 'a.root,b.root,NULL',
  GUID: 'g1,g2,g3',
  fsize: '100,oops,0',
  checksum: 'ad:1,ad:2,ad:3',
  scopeIn: 's,s,s',
  realDatasetsIn: 'd,d,d',
  ddmEndPointIn: 'e1,e2,e3',
};

describe('JobSpec helpers', () => {
  test('getInputFileAttributes reads jobParams, with attemptNr and paths from the FileSpecs', () => {
    const job = new JobSpec({ PandaID: 9, jobParams: { ...jobParams, inFilePaths: '' } });
    job.addInFile(new FileSpec({ lfn: 'a.root', fileType: 'input', attemptNr: 2, path: '/data/a.root' }));
    assert.deepEqual(job.getInputFileAttributes(), {
      'a.root': { fsize: 100, guid: 'g1', checksum: 'ad:1', scope: 's', dataset: 'd', endpoint: 'e1', attemptNr: 2, path: '/data/a.root' },
      'b.root': { fsize: null, guid: 'g2', checksum: 'ad:2', scope: 's', dataset: 'd', endpoint: 'e2', attemptNr: 0 },
    });
  });

  test('getInputFileAttributes skips ready files when asked', () => {
    const job = new JobSpec({ jobParams });
    job.addInFile(new FileSpec({ lfn: 'a.root', status: 'ready' }));
    assert.deepEqual(Object.keys(job.getInputFileAttributes(true)), ['b.root']);
  });

  test('getInputFileAttributes without jobParams is a typed error naming the job', () => {
    const job = new JobSpec({ PandaID: 77 });
    assert.throws(() => job.getInputFileAttributes(), (e: unknown) => e instanceof SpecStateError && /JobSpec 77: jobParams\.inFiles/.test(e.message));
  });

  test('addInFile and addOutFile record the list as changed and add each file once', () => {
    const job = new JobSpec();
    const file = new FileSpec({ lfn: 'o', fileType: 'output' });
    job.addFile(file);
    job.addFile(file);
    job.addFile(new FileSpec({ lfn: 'i', fileType: 'input' }));
    assert.equal(job.outFiles.length, 1);
    assert.equal(job.inFiles.length, 1);
    assert.deepEqual(job.changedFields(), ['outFiles', 'inFiles']);
  });

  test('a final job still transferring reports transferring', () => {
    const job = new JobSpec({ status: 'finished', subStatus: 'to_transfer' });
    assert.equal(job.getStatus(), 'transferring');
    job.subStatus = 'done';
    assert.equal(job.getStatus(), 'finished');
    job.addEvent(new EventSpec({ subStatus: 'running' }));
    assert.equal(job.getStatus(), 'transferring');
  });

  test('allFilesTriggeredToStageOut moves unfinished outputs to transferring', () => {
    const done = new FileSpec({ status: 'finished' });
    const pending = new FileSpec({ status: 'defined', attemptNr: 3 });
    const job = new JobSpec({ outFiles: [done, pending] });
    job.allFilesTriggeredToStageOut();
    assert.equal(done.status, 'finished');
    assert.equal(pending.status, 'transferring');
    assert.equal(pending.attemptNr, 0);
    assert.deepEqual(job.getOutputFileSpecs(true), [pending]);
  });

  test('setPilotError keeps the first error recorded', () => {
    const job = new JobSpec();
    job.setPilotError(1, 'first');
    job.setPilotError(2, 'second');
    assert.deepEqual(job.jobAttributes, { pilotErrorCode: 1, pilotErrorDiag: 'first' });
  });
});

describe('EventSpec helpers', () => {
  test('fromPayload takes the known fields of a pilot event update and the PandaID', () => {
    const event = EventSpec.fromPayload(123, { eventRangeID: 'r-1', eventStatus: 'finished', coreCount: 8, unknownKey: 'x' });
    assert.equal(event.PandaID, 123);
    assert.equal(event.eventRangeID, 'r-1');
    assert.equal(event.coreCount, 8);
    assert.deepEqual(event.extra, {});
  });

  test('toData reports finished only once harvester is done with the event', () => {
    const event = new EventSpec({ eventRangeID: 'r', eventStatus: 'finished', subStatus: 'transferring' });
    assert.deepEqual(event.toData(), { eventRangeID: 'r', eventStatus: 'running' });
    event.subStatus = 'done';
    assert.deepEqual(event.toData(), { eventRangeID: 'r', eventStatus: 'finished' });
  });
});
