// SharedFileMessenger against a temporary directory, with the payload's side played by writing and reading
// the files as a pilot does (harvester's file names and formats).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { access, mkdir, readFile, readdir, readlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileSpec, JobSpec, WorkSpec } from '../../spec/index.js';
import { adler32OfFile } from '../checksum.js';
import { testContext, testQueue, withTempDir } from '../../../test/support/plugins/plugin-fixtures.js';
import { SharedFileMessenger } from './shared-file-messenger.js';

const ctx = testContext();

function job(PandaID: number, inputs: { lfn: string; guid: string; path?: string }[] = []): JobSpec {
  const jobSpec = new JobSpec({
    PandaID,
    taskID: 100,
    jobParams: {
      PandaID,
      transformation: 'run.sh',
      jobPars: '--events 10',
      inFiles: inputs.map((i) => i.lfn).join(','),
      GUID: inputs.map((i) => i.guid).join(','),
      prodDBlocks: 'some.dataset',
      logFile: `log.${PandaID}.tgz`,
    },
  });
  for (const input of inputs) jobSpec.addInFile(new FileSpec({ lfn: input.lfn, path: input.path ?? null, fileType: 'input' }));
  return jobSpec;
}

function worker(accessPoint: string, jobSpecs: JobSpec[], mapType: WorkSpec['mapType'] = 'OneToOne'): WorkSpec {
  const workSpec = new WorkSpec({ workerID: 11, accessPoint, mapType });
  workSpec.jobSpecs = jobSpecs;
  return workSpec;
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

describe('SharedFileMessenger: access points', () => {
  test('setupAccessPoints makes the directory, clears a new worker leftovers and one sub-directory per job for ManyToOne', async () => {
    await withTempDir(async (dir) => {
      const messenger = new SharedFileMessenger();
      const one = worker(join(dir, 'w1'), [job(1)]);
      await mkdir(one.accessPoint!, { recursive: true });
      await writeFile(join(one.accessPoint!, 'leftover.txt'), 'old');
      one.isNew = true;
      const many = worker(join(dir, 'w2'), [job(2), job(3)], 'ManyToOne');
      assert.equal((await messenger.setupAccessPoints(ctx, [one, many])).kind, 'succeeded');
      assert.deepEqual(await readdir(one.accessPoint!), []);
      assert.deepEqual((await readdir(many.accessPoint!)).sort(), ['2', '3']);
    });
  });

  test('cleanUp removes the access point and succeeds again once it is gone', async () => {
    await withTempDir(async (dir) => {
      const messenger = new SharedFileMessenger();
      const w = worker(join(dir, 'w'), []);
      await messenger.setupAccessPoints(ctx, [w]);
      await writeFile(join(w.accessPoint!, 'status.txt'), 'running');
      assert.equal((await messenger.cleanUp(ctx, w)).kind, 'succeeded');
      assert.equal(await exists(w.accessPoint!), false);
      const again = await messenger.cleanUp(ctx, w);
      assert.equal(again.kind, 'succeeded');
      assert.match(again.diag, /already gone/);
    });
  });
});

describe('SharedFileMessenger: jobs', () => {
  test('feedJobs writes pandaJobData.out, the pool file catalog, input links and worker_pandaids.json, and answers the request', async () => {
    await withTempDir(async (dir) => {
      const messenger = new SharedFileMessenger({ stripJobParams: true });
      const input = join(dir, 'storage', 'EVNT.01.pool.root');
      await mkdir(join(dir, 'storage'));
      await writeFile(input, 'events');
      const jobSpec = job(4242, [{ lfn: 'EVNT.01.pool.root', guid: 'GUID-1', path: input }]);
      const w = worker(join(dir, 'w'), [jobSpec]);
      await messenger.setupAccessPoints(ctx, [w]);
      // The pilot asks for a job.
      await writeFile(join(w.accessPoint!, 'worker_requestjob.json'), JSON.stringify({ nJobs: 1 }));
      assert.equal(await messenger.jobRequested(ctx, w), 1);

      assert.equal((await messenger.feedJobs(ctx, w, [jobSpec])).kind, 'succeeded');
      const spec = JSON.parse(await readFile(join(w.accessPoint!, 'pandaJobData.out'), 'utf8')) as Record<string, Record<string, unknown>>;
      assert.deepEqual(Object.keys(spec), ['4242']);
      assert.equal(spec['4242']!.transformation, 'run.sh');
      assert.equal(spec['4242']!.prodDBlocks, undefined, 'stripJobParams drops dataset bookkeeping');
      const pfc = await readFile(join(w.accessPoint!, 'PoolFileCatalog_H.xml'), 'utf8');
      assert.match(pfc, /<File ID="GUID-1">[\s\S]*<pfn filetype="ROOT_All" name="EVNT.01.pool.root"\/>/);
      assert.equal(await readlink(join(w.accessPoint!, 'EVNT.01.pool.root')), input);
      assert.deepEqual(JSON.parse(await readFile(join(w.accessPoint!, 'worker_pandaids.json'), 'utf8')), [4242]);
      assert.equal(await exists(join(w.accessPoint!, 'worker_requestjob.json')), false);
      assert.equal(await messenger.jobRequested(ctx, w), 0);
      assert.deepEqual(await messenger.getPandaIds(ctx, w), [4242]);
      // Feeding again replaces the link instead of failing on it.
      assert.equal((await messenger.feedJobs(ctx, w, [jobSpec])).kind, 'succeeded');
    });
  });

  test('the job spec can be cgi-encoded, and ManyToOne puts each job in its own directory', async () => {
    await withTempDir(async (dir) => {
      const messenger = new SharedFileMessenger({ jobSpecFileFormat: 'cgi', jobSpecFile: 'job.cgi' });
      const jobs = [job(1), job(2)];
      const w = worker(join(dir, 'w'), jobs, 'ManyToOne');
      await messenger.setupAccessPoints(ctx, [w]);
      assert.equal((await messenger.feedJobs(ctx, w, jobs)).kind, 'succeeded');
      const cgi = new URLSearchParams(await readFile(join(w.accessPoint!, '2', 'job.cgi'), 'utf8'));
      assert.equal(cgi.get('PandaID'), '2');
      assert.equal(cgi.get('jobPars'), '--events 10');
      assert.deepEqual(JSON.parse(await readFile(join(w.accessPoint!, 'worker_pandaids.json'), 'utf8')), [1, 2]);
    });
  });

  test('a request the pilot wrote badly asks for one job, as harvester assumes', async () => {
    await withTempDir(async (dir) => {
      const w = worker(dir, []);
      await writeFile(join(dir, 'worker_requestjob.json'), '{not json');
      assert.equal(await new SharedFileMessenger().jobRequested(ctx, w), 1);
    });
  });

  test('killRequested follows kill_worker.json', async () => {
    await withTempDir(async (dir) => {
      const messenger = new SharedFileMessenger();
      const w = worker(dir, []);
      assert.equal(await messenger.killRequested(ctx, w), false);
      await writeFile(join(dir, 'kill_worker.json'), '{}');
      assert.equal(await messenger.killRequested(ctx, w), true);
    });
  });

  test('isAlive follows the age of worker_heartbeat.json, giving young workers without one the benefit of the doubt', async () => {
    await withTempDir(async (dir) => {
      const messenger = new SharedFileMessenger();
      const w = worker(dir, []);
      assert.equal(await messenger.isAlive(ctx, w, 60), true, 'not started yet');
      w.startTime = new Date(Date.now() - 10_000);
      assert.equal(await messenger.isAlive(ctx, w, 60), true, 'started 10 s ago, limit 60 s');
      w.startTime = new Date(Date.now() - 3600_000);
      assert.equal(await messenger.isAlive(ctx, w, 60), undefined, 'old enough to have a heartbeat, and has none');
      const heartbeat = join(dir, 'worker_heartbeat.json');
      await writeFile(heartbeat, '{}');
      assert.equal(await messenger.isAlive(ctx, w, 60), true);
      const old = new Date(Date.now() - 120_000);
      await utimes(heartbeat, old, old);
      assert.equal(await messenger.isAlive(ctx, w, 60), false);
    });
  });

  test('getWorkAttributes merges worker_attributes.json, jobReport.json (as metaData) and post-processing attributes per job', async () => {
    await withTempDir(async (dir) => {
      const w = worker(dir, [job(7)]);
      await writeFile(join(dir, 'worker_attributes.json'), JSON.stringify({ jobStatus: 'finished', exitCode: 0 }));
      await writeFile(join(dir, 'jobReport.json'), JSON.stringify({ exitMsg: 'OK' }));
      await writeFile(join(dir, 'post_process_job_attrs.json'), JSON.stringify({ skippedInputs: [] }));
      assert.deepEqual(await new SharedFileMessenger().getWorkAttributes(ctx, w), {
        '7': { jobStatus: 'finished', exitCode: 0, metaData: { exitMsg: 'OK' }, skippedInputs: [] },
      });
    });
  });
});

describe('SharedFileMessenger: outputs and events', () => {
  test("getFilesToStageOut reads the pilot's event_status.dump.json once, then eventsToUpdate and acknowledgement follow", async () => {
    await withTempDir(async (dir) => {
      const messenger = new SharedFileMessenger();
      const w = worker(dir, [job(5)]);
      await writeFile(join(dir, 'HITS.pool.root'), 'hits');
      await writeFile(join(dir, 'es.out.5-1'), 'event output');
      await writeFile(
        join(dir, 'event_status.dump.json'),
        JSON.stringify({
          5: [
            { path: join(dir, 'HITS.pool.root'), type: 'output', guid: 'G-H' },
            { path: join(dir, 'es.out.5-1'), type: 'es_output', eventRangeID: '5-1', eventStatus: 'finished' },
            { eventRangeID: '5-2', eventStatus: 'failed' },
          ],
        }),
      );
      const files = await messenger.getFilesToStageOut(ctx, w);
      assert.deepEqual(Object.keys(files), ['5']);
      const [hits, es] = files['5']!;
      assert.equal(hits!.fsize, 4);
      assert.equal(hits!.chksum, await adler32OfFile(join(dir, 'HITS.pool.root')));
      assert.equal(hits!.isZip, false);
      assert.equal(hits!.guid, 'G-H');
      assert.equal(es!.eventRangeID, '5-1');
      assert.equal(es!.type, 'es_output');
      assert.equal(await exists(join(dir, 'event_status.dump.json.read')), true, 'kept as .read until acknowledged');

      const updates = await messenger.eventsToUpdate(ctx, w);
      assert.deepEqual(
        updates['5']!.map((e) => [e.PandaID, e.eventRangeID, e.eventStatus]),
        [
          [5, '5-1', 'finished'],
          [5, '5-2', 'failed'],
        ],
      );
      // Reading again before the acknowledgement gives the same answer (a retried call after a lost reply).
      assert.equal((await messenger.getFilesToStageOut(ctx, w))['5']!.length, 2);

      await messenger.acknowledgeEventsFiles(ctx, w);
      const names = await readdir(dir);
      assert.ok(names.some((n) => /^event_status\.dump\.json\.read\.\d{4}-\d\d-\d\d_\d\d_\d\d_\d\d\.\d{6}$/.test(n)), names.join());
      assert.ok(names.some((n) => n.startsWith('worker_updateevents.json.read.')), names.join());
      assert.deepEqual(await messenger.getFilesToStageOut(ctx, w), {});
    });
  });

  test('eventsRequested reads the pilot request and feedEvents answers it with JobsEventRanges.json', async () => {
    await withTempDir(async (dir) => {
      const messenger = new SharedFileMessenger();
      const w = worker(dir, [job(9)]);
      assert.deepEqual(await messenger.eventsRequested(ctx, w), {});
      const request = { 9: { nRanges: 2, pandaID: 9, taskID: 100, jobsetID: 1 } };
      await writeFile(join(dir, 'worker_requestevents.json'), JSON.stringify(request));
      assert.deepEqual(await messenger.eventsRequested(ctx, w), { '9': request[9] });
      const ranges = { '9': [{ eventRangeID: '9-1', startEvent: 1, lastEvent: 1 }] };
      assert.equal((await messenger.feedEvents(ctx, w, ranges)).kind, 'succeeded');
      assert.deepEqual(JSON.parse(await readFile(join(dir, 'JobsEventRanges.json'), 'utf8')), ranges);
      assert.equal(await exists(join(dir, 'worker_requestevents.json')), false);
    });
  });

  test('postProcessing packs the log files into the job log tarball and offers it for stage-out', async () => {
    await withTempDir(async (dir) => {
      const messenger = new SharedFileMessenger();
      const jobSpec = job(6);
      const w = worker(dir, [jobSpec]);
      await writeFile(join(dir, 'pilotlog.txt'), 'pilot says hi');
      await writeFile(join(dir, 'payload.log'), 'payload says hi');
      await writeFile(join(dir, 'HITS.pool.root'), 'not a log');
      await mkdir(join(dir, 'athena'));
      await writeFile(join(dir, 'athena', 'athena.log'), 'deep');
      assert.equal((await messenger.postProcessing(ctx, w, [jobSpec], 'OneToOne')).kind, 'succeeded');
      const logPath = join(dir, 'log.6.tgz');
      const listed = execFileSync('tar', ['-tzf', logPath], { encoding: 'utf8' }).trim().split('\n').sort();
      assert.deepEqual(listed, ['athena.subdir.tar.gz', 'payload.log', 'pilotlog.txt']);
      const inner = execFileSync('tar', ['-tzf', join(dir, 'athena.subdir.tar.gz')], { encoding: 'utf8' }).trim();
      assert.equal(inner, 'athena.log');
      const files = await messenger.getFilesToStageOut(ctx, w);
      assert.deepEqual(
        files['6']!.map((f) => [f.path, f.type, f.isZip]),
        [[logPath, 'log', false]],
      );
    });
  });

  test('calls without an access point fail with the worker named', async () => {
    const w = new WorkSpec({ workerID: 77 });
    await assert.rejects(new SharedFileMessenger().jobRequested(ctx, w), /worker 77: no accessPoint/);
    assert.equal((await new SharedFileMessenger().setupAccessPoints(ctx, [w])).kind, 'failed');
  });

  test('an aborted call without an Outcome in its contract throws, one with an Outcome is a retry', async () => {
    const controller = new AbortController();
    controller.abort(new Error('deadline'));
    const aborted = testContext(testQueue(), controller.signal);
    const w = worker('/nonexistent', [job(1)]);
    await assert.rejects(new SharedFileMessenger().killRequested(aborted, w), /killRequested aborted/);
    assert.equal((await new SharedFileMessenger().feedJobs(aborted, w, w.jobSpecs)).kind, 'retry');
  });
});
