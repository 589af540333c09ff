import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { EventSpec, FileSpec, JobSpec } from '../spec/index.js';
import { eventUpdateData, jobUpdateData } from './job-report.js';

function job(fields: Partial<ConstructorParameters<typeof JobSpec>[0]> = {}): JobSpec {
  return new JobSpec({ PandaID: 10, computingSite: 'SITE', attemptNr: 1, status: 'running', subStatus: 'running', ...fields });
}

describe('jobUpdateData', () => {
  test('carries the ids, state and only the job attributes PanDA accepts', () => {
    const spec = job({ jobAttributes: { pilotErrorCode: 1305, exeErrorCode: '65', notForPanda: 'x' }, nCore: 8, startTime: new Date('2025-01-02T03:04:05.678Z') });
    assert.deepEqual(jobUpdateData(spec), {
      pilotErrorCode: 1305,
      exeErrorCode: 65,
      jobId: 10,
      siteName: 'SITE',
      state: 'running',
      attemptNr: 1,
      jobSubStatus: 'running',
      startTime: '2025-01-02 03:04:05',
      coreCount: 8,
    });
  });

  test('cancelled and missed go to PanDA as failed, the reason in jobSubStatus (pilot_closed when closed)', () => {
    const cancelled = job({ status: 'cancelled', subStatus: 'done' });
    assert.equal(jobUpdateData(cancelled)['state'], 'failed');
    assert.equal(jobUpdateData(cancelled)['jobSubStatus'], 'cancelled');
    const closed = job({ status: 'missed', subStatus: 'done', pilotClosed: 1 });
    assert.equal(jobUpdateData(closed)['jobSubStatus'], 'pilot_closed');
  });

  test('metaData and the output report go only with a final status that is not still transferring', () => {
    const finished = job({ status: 'finished', subStatus: 'done', metaData: { n: 1 }, outputFilesToReport: '<xml/>' });
    assert.equal(jobUpdateData(finished)['metaData'], '{"n":1}');
    assert.equal(jobUpdateData(finished)['xml'], '<xml/>');
    const transferring = job({ status: 'finished', subStatus: 'to_transfer', metaData: { n: 1 } });
    assert.equal(jobUpdateData(transferring)['state'], 'transferring');
    assert.equal('metaData' in jobUpdateData(transferring), false);
  });
});

describe('eventUpdateData', () => {
  test('groups events by their zip file and describes a finished zip', () => {
    const zip = new FileSpec({ fileID: 100, lfn: 'zip.tar', status: 'finished', objstoreID: 7, pathConvention: 1000, fsize: 5, chksum: 'ad:abcd' });
    const esOut = new FileSpec({ fileID: 101, zipFileID: 100, fileType: 'es_output' });
    const zipped = new EventSpec({ eventRangeID: 'r1', eventStatus: 'finished', subStatus: 'finished', fileID: 101 });
    const loose = new EventSpec({ eventRangeID: 'r2', eventStatus: 'running', subStatus: 'running' });
    const spec = job({ jobParams: { sourceURL: 'https://src' }, outFiles: [zip, esOut], events: [zipped, loose] });
    const { updates, events } = eventUpdateData(spec);
    assert.deepEqual(updates, [
      { eventRanges: [{ eventRangeID: 'r1', eventStatus: 'finished' }], sourceURL: 'https://src', zipFile: { lfn: 'zip.tar', objstoreID: '7/1000', fsize: 5, type: 'adler32', checksum: 'abcd' } },
      { eventRanges: [{ eventRangeID: 'r2', eventStatus: 'running' }], sourceURL: 'https://src' },
    ]);
    assert.deepEqual(events, [zipped, loose]);
  });
});
