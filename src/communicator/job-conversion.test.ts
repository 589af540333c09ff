import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { JobConversionError, jobSpecFromPanda, outputFileAttributes } from './job-conversion.js';
import { pandaJobDict } from '../../test/support/panda/panda-job.js';

const now = new Date('2025-03-01T12:00:00Z');
const context = { queueName: 'CERN-TEST', harvesterId: 'h1', ddmEndpointIn: 'CERN-PROD_DATADISK', now };

describe('jobSpecFromPanda', () => {
  const dict = pandaJobDict({
    PandaID: 4242,
    taskID: 77,
    jobsetID: 5,
    attemptNr: 2,
    currentPriority: 900,
    inFiles: [
      { lfn: 'EVNT.01.pool.root', guid: 'g1', fsize: 1234, checksum: 'ad:0a1b2c3d', scope: 'mc16', dataset: 'ds.in' },
      { lfn: 'EVNT.02.pool.root', guid: 'g2', fsize: 99, checksum: 'ad:ffff0000', scope: 'mc16', dataset: 'ds.in' },
    ],
    outFiles: [{ lfn: 'HITS.01.pool.root', scope: 'mc16_out', dataset: 'ds.out', ddmEndPoint: 'CERN-PROD_DATADISK' }],
    logFile: { lfn: 'log.01.tgz', guid: 'lg', scope: 'mc16_log', dataset: 'ds.log', ddmEndPoint: 'CERN-PROD_LOGS' },
  });

  test('sets harvester fields from the PanDA dict and keeps the dict as jobParams', () => {
    const job = jobSpecFromPanda(dict, context);
    assert.equal(job.PandaID, 4242);
    assert.equal(job.taskID, 77);
    assert.equal(job.jobsetID, 5);
    assert.equal(job.attemptNr, 2);
    assert.equal(job.currentPriority, 900);
    assert.equal(job.status, 'starting');
    assert.equal(job.subStatus, 'fetched');
    assert.equal(job.computingSite, 'CERN-TEST');
    assert.equal(job.creationTime?.getTime(), now.getTime());
    assert.equal(job.getOneAttribute('schedulerID'), 'harvester-h1');
    assert.deepEqual(job.jobParams, dict);
    assert.deepEqual(job.jobParamsExtForLog, { lfn: 'log.01.tgz', guid: 'lg' });
    // Propagation is due at once (an hour in the past).
    assert.ok((job.propagatorTime?.getTime() ?? Infinity) < now.getTime());
  });

  test('makes one input FileSpec per input file, to be prepared', () => {
    const job = jobSpecFromPanda(dict, context);
    assert.deepEqual(
      job.inFiles.map((f) => [f.lfn, f.fileType, f.status, f.scope, f.fsize, f.chksum, f.endpoint, f.PandaID, f.taskID]),
      [
        ['EVNT.01.pool.root', 'input', 'to_prepare', 'mc16', 1234, 'ad:0a1b2c3d', 'CERN-PROD_DATADISK', 4242, 77],
        ['EVNT.02.pool.root', 'input', 'to_prepare', 'mc16', 99, 'ad:ffff0000', 'CERN-PROD_DATADISK', 4242, 77],
      ],
    );
    assert.deepEqual(job.outFiles, []);
  });

  test('output attributes give the log its own scope (scopeLog) and the outputs theirs', () => {
    assert.deepEqual(outputFileAttributes(dict), {
      'HITS.01.pool.root': { scope: 'mc16_out', dataset: 'ds.out', endpoint: 'CERN-PROD_DATADISK' },
      'log.01.tgz': { scope: 'mc16_log', dataset: 'ds.log', endpoint: 'CERN-PROD_LOGS' },
    });
  });

  test('"NULL" ids become null and a job without input gets no input files', () => {
    const job = jobSpecFromPanda(pandaJobDict({ PandaID: 1 }), context);
    assert.equal(job.taskID, null);
    assert.equal(job.jobsetID, null);
    assert.deepEqual(job.inFiles, []);
  });

  test('a job without a usable PandaID is refused, naming the field', () => {
    assert.throws(() => jobSpecFromPanda({ taskID: 3 }, context), (e: unknown) => e instanceof JobConversionError && e.field === 'PandaID');
    assert.throws(() => jobSpecFromPanda({ PandaID: 'abc' }, context), (e: unknown) => e instanceof JobConversionError && /not an integer/.test(e.message));
    assert.throws(() => jobSpecFromPanda([1, 2], context), JobConversionError);
  });
});
