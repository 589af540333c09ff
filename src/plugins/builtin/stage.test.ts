// DummyStager and DummyPreparator on real files.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileSpec, JobSpec } from '../../spec/index.js';
import { adler32OfFile } from '../checksum.js';
import { testContext, withTempDir } from '../../../test/support/plugins/plugin-fixtures.js';
import { DummyStager } from './dummy-stager.js';
import { DummyPreparator } from './dummy-preparator.js';

const ctx = testContext();

describe('DummyStager', () => {
  test('checkStageOutStatus finishes the output files not yet done and leaves failed ones alone', async () => {
    const jobSpec = new JobSpec({ PandaID: 1 });
    jobSpec.addOutFile(new FileSpec({ lfn: 'a', status: 'transferring' }));
    jobSpec.addOutFile(new FileSpec({ lfn: 'b', status: 'failed' }));
    jobSpec.addOutFile(new FileSpec({ lfn: 'c', status: 'defined' }));
    const stager = new DummyStager();
    assert.equal((await stager.triggerStageOut(ctx, jobSpec)).kind, 'succeeded');
    assert.equal((await stager.checkStageOutStatus(ctx, jobSpec)).kind, 'succeeded');
    assert.deepEqual(jobSpec.outFiles.map((f) => f.status), ['finished', 'failed', 'finished']);
  });

  test('zipOutput tars the associated files next to the first one and records path, size and checksum', async () => {
    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'es.1'), 'one');
      await writeFile(join(dir, 'es.2'), 'two');
      const zip = new FileSpec({ lfn: 'EVNT.zip', fileType: 'zip_output' });
      zip.addAssociatedFile(new FileSpec({ lfn: 'es.1', path: join(dir, 'es.1') }));
      zip.addAssociatedFile(new FileSpec({ lfn: 'es.2', path: join(dir, 'es.2') }));
      const jobSpec = new JobSpec({ PandaID: 2 });
      jobSpec.addOutFile(zip);
      assert.equal((await new DummyStager().zipOutput(ctx, jobSpec)).kind, 'succeeded');
      const zipPath = join(dir, 'EVNT.zip');
      assert.equal(zip.path, zipPath);
      assert.equal(zip.fsize, (await stat(zipPath)).size);
      assert.equal(zip.chksum, await adler32OfFile(zipPath));
      assert.deepEqual(execFileSync('tar', ['-tf', zipPath], { encoding: 'utf8' }).trim().split('\n'), ['es.1', 'es.2']);
    });
  });
});

describe('DummyPreparator', () => {
  test("stage-in is done at once and input paths become <localBasePath>/<lfn>", async () => {
    const jobSpec = new JobSpec({ PandaID: 3 });
    jobSpec.addInFile(new FileSpec({ lfn: 'EVNT.01.root' }));
    jobSpec.addInFile(new FileSpec({ lfn: 'EVNT.02.root' }));
    const preparator = new DummyPreparator();
    assert.equal((await preparator.triggerPreparation(ctx, jobSpec)).kind, 'succeeded');
    assert.equal((await preparator.checkStageInStatus(ctx, jobSpec)).kind, 'succeeded');
    assert.equal((await preparator.resolveInputPaths(ctx, jobSpec)).kind, 'succeeded');
    assert.deepEqual(jobSpec.inFiles.map((f) => f.path), ['dummypath/EVNT.01.root', 'dummypath/EVNT.02.root']);
    await new DummyPreparator({ localBasePath: '/scratch/in' }).resolveInputPaths(ctx, jobSpec);
    assert.equal(jobSpec.inFiles[0]!.path, '/scratch/in/EVNT.01.root');
  });
});
