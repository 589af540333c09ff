import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { JobSpec, WorkSpec } from '../../../spec/index.js';
import { SlurmReplay, answerFrom, exampleSlurmTemplate, ok } from '../../../../test/support/slurm-replay.js';
import type { CommandRequest, CommandResult } from '../../batch/command-runner.js';
import { PluginOptionError } from '../../errors.js';
import { testContext, testQueue, withTempDir } from '../../../../test/support/plugins/plugin-fixtures.js';
import { batchScriptName, SlurmSubmitter } from './slurm-submitter.js';

const queue = testQueue({ queueName: 'Q', harvesterID: 'testid' });
const ctx = testContext(queue);

function worker(dir: string, workerID: number, command = 'echo hi'): WorkSpec {
  const w = new WorkSpec({ workerID, accessPoint: join(dir, `w${workerID}`), nCore: 1, maxWalltime: 600, creationTime: new Date() });
  w.jobSpecs = [new JobSpec({ PandaID: 1000 + workerID, jobParams: { command } })];
  return w;
}

/** sbatch that accepts every script, giving job ids from 100 on. */
function acceptingSbatch(): (request: CommandRequest) => CommandResult {
  let next = 100;
  return (request) => ok(request, `${next++}\n`);
}

/** A small SLURM: squeue by name knows what sbatch made; sbatch answers only when released. */
function gatedSlurm(): { replay: SlurmReplay; sbatchSeen: Promise<void>; release: () => void } {
  const made = new Map<string, string>();
  let release!: () => void;
  const sbatchGate = new Promise<void>((resolve) => (release = resolve));
  let sbatchStarted!: () => void;
  const sbatchSeen = new Promise<void>((resolve) => (sbatchStarted = resolve));
  const replay = new SlurmReplay({
    squeue: (r) => {
      const names = (r.argv.find((a) => a.startsWith('--name='))?.slice('--name='.length) ?? '').split(',');
      return ok(r, names.filter((n) => made.has(n)).map((n) => `${made.get(n)}|${n}|PENDING|None\n`).join(''));
    },
    sacct: (r) => ok(r),
    sbatch: async (r) => {
      sbatchStarted();
      await sbatchGate;
      const name = r.argv.find((a) => a.startsWith('--job-name='))!.slice('--job-name='.length);
      made.set(name, String(100 + made.size));
      return ok(r, `${made.get(name)}\n`);
    },
  });
  return { replay, sbatchSeen, release };
}

const nothingKnown = { squeue: (r: CommandRequest) => ok(r), sacct: (r: CommandRequest) => ok(r) };

describe('SlurmSubmitter', () => {
  test('writes the batch script (template filled in) and the payload script in the access point, and submits with the worker identity', async () => {
    await withTempDir(async (dir) => {
      const replay = new SlurmReplay({ ...nothingKnown, sbatch: 'sbatch-ok' });
      const w = worker(dir, 2);
      const [outcome] = await new SlurmSubmitter({ templateFile: exampleSlurmTemplate, localQueueName: 'debug' }, replay.run).submitWorkers(ctx, [w]);
      assert.equal(outcome?.kind, 'succeeded', outcome?.diag);
      assert.equal(w.batchID, '2');
      const script = join(w.accessPoint!, batchScriptName);
      assert.deepEqual(replay.callsOf('sbatch')[0]?.argv, ['sbatch', '--parsable', '-D', w.accessPoint, '--job-name=hv-testid-w2', '--comment=harvester:testid:Q:2', script]);
      const text = await readFile(script, 'utf8');
      assert.match(text, /#SBATCH --partition=debug\n#SBATCH --nodes=1\n/);
      assert.match(text, /#SBATCH --time=10\n/);
      assert.match(text, new RegExp(`#SBATCH --output=${w.accessPoint}/2.out\n`));
      assert.match(text, new RegExp(`exec "${w.accessPoint}/harvester_payload.sh"`));
      assert.ok(((await stat(script)).mode & 0o111) !== 0, 'executable');
      assert.ok(((await stat(join(w.accessPoint!, 'harvester_payload.sh'))).mode & 0o111) !== 0, 'executable');
    });
  });

  test("the payload script runs the job's command in the access point and records its exit code for the monitor", async () => {
    await withTempDir(async (dir) => {
      const w = worker(dir, 5, 'echo "$HARVESTER_WORKER_ID $HARVESTER_PANDA_ID" > out.txt; exit 3');
      await new SlurmSubmitter({ templateFile: exampleSlurmTemplate }, new SlurmReplay({ ...nothingKnown, sbatch: acceptingSbatch() }).run).submitWorkers(ctx, [w]);
      const run = spawnSync(join(w.accessPoint!, 'harvester_payload.sh'), { cwd: '/' });
      assert.equal(run.status, 3);
      assert.equal(await readFile(join(w.accessPoint!, 'payload.exit_code'), 'utf8'), '3\n');
      assert.equal(await readFile(join(w.accessPoint!, 'out.txt'), 'utf8'), '5 1005\n');
    });
  });

  test('a worker that already has a job (found by name in squeue or sacct) adopts it: no second sbatch', async () => {
    await withTempDir(async (dir) => {
      const replay = new SlurmReplay({ squeue: 'squeue-names', sacct: 'sacct-names', sbatch: acceptingSbatch() });
      const ws = [worker(dir, 2), worker(dir, 3), worker(dir, 404)];
      const outcomes = await new SlurmSubmitter({ templateFile: exampleSlurmTemplate }, replay.run).submitWorkers(ctx, ws);
      assert.deepEqual(outcomes.map((o) => o.kind), ['succeeded', 'succeeded', 'succeeded']);
      assert.deepEqual(ws.map((w) => w.batchID), ['2', '4', '100']);
      assert.match(outcomes[0]!.diag, /adopted SLURM job 2 \(COMPLETED\) found by its name hv-testid-w2/);
      assert.equal(replay.callsOf('squeue').length, 1);
      assert.ok(replay.callsOf('squeue')[0]!.argv.includes('--name=hv-testid-w2,hv-testid-w3,hv-testid-w404'));
      assert.equal(replay.callsOf('sacct').length, 1);
      assert.equal(replay.callsOf('sbatch').length, 1, 'only the worker without a job is submitted');
      assert.ok(replay.callsOf('sbatch')[0]!.argv.includes('--job-name=hv-testid-w404'));
    });
  });

  test('a second call for a worker whose submission is still running in this process waits for it and adopts its job: one sbatch', async () => {
    await withTempDir(async (dir) => {
      const { replay, sbatchSeen, release } = gatedSlurm();
      const submitter = new SlurmSubmitter({ templateFile: exampleSlurmTemplate }, replay.run);
      const first = submitter.submitWorkers(ctx, [worker(dir, 7)]);
      await sbatchSeen;
      const repeat = worker(dir, 7);
      const second = submitter.submitWorkers(ctx, [repeat]);
      release();
      const [a, b] = await Promise.all([first, second]);
      assert.deepEqual([a[0]!.kind, b[0]!.kind], ['succeeded', 'succeeded']);
      assert.equal(replay.callsOf('sbatch').length, 1, 'one job for the worker');
      assert.equal(repeat.batchID, '100');
      assert.match(b[0]!.diag, /adopted SLURM job 100/);
    });
  });

  test('a call aborted while it waits for an earlier one answers retryLater; a call after it still waits for the earlier one: one sbatch', async () => {
    await withTempDir(async (dir) => {
      const { replay, sbatchSeen, release } = gatedSlurm();
      const submitter = new SlurmSubmitter({ templateFile: exampleSlurmTemplate }, replay.run);
      const first = submitter.submitWorkers(ctx, [worker(dir, 7)]);
      await sbatchSeen;
      const stop = new AbortController();
      const aborted = submitter.submitWorkers(testContext(queue, stop.signal), [worker(dir, 7)]);
      stop.abort(new Error('deadline'));
      assert.equal((await aborted)[0]?.kind, 'retry', 'answered without waiting for the first call');
      const third = worker(dir, 7);
      const later = submitter.submitWorkers(ctx, [third]);
      release();
      const [a, c] = await Promise.all([first, later]);
      assert.deepEqual([a[0]!.kind, c[0]!.kind], ['succeeded', 'succeeded']);
      assert.equal(replay.callsOf('sbatch').length, 1, 'one job for the worker');
      assert.equal(third.batchID, '100');
    });
  });

  test('sbatch runs in parallel, at most maxParallelSubmissions at once', async () => {
    await withTempDir(async (dir) => {
      const limit = 3;
      const ws = Array.from({ length: 10 }, (_v, i) => worker(dir, i + 1));
      let inFlight = 0;
      let most = 0;
      let started = 0;
      const waiting: (() => void)[] = [];
      const accept = acceptingSbatch();
      // Each sbatch waits until `limit` are in flight (or every one has started), so the bound is reached when allowed.
      const sbatch = async (request: CommandRequest): Promise<CommandResult> => {
        started++;
        most = Math.max(most, ++inFlight);
        if (inFlight === limit || started === ws.length) for (const release of waiting.splice(0)) release();
        else await new Promise<void>((resolve) => waiting.push(resolve));
        inFlight--;
        return accept(request);
      };
      const replay = new SlurmReplay({ ...nothingKnown, sbatch });
      const outcomes = await new SlurmSubmitter({ templateFile: exampleSlurmTemplate, maxParallelSubmissions: limit }, replay.run).submitWorkers(ctx, ws);
      assert.deepEqual(outcomes.map((o) => o.kind), ws.map(() => 'succeeded'));
      assert.equal(most, limit);
      assert.equal(new Set(ws.map((w) => w.batchID)).size, ws.length);
    });
  });

  test('slurmctld not answering the lookup: every worker retryLater, nothing submitted', async () => {
    await withTempDir(async (dir) => {
      const replay = new SlurmReplay({ squeue: 'squeue-jobs-slurmctld-down', sbatch: acceptingSbatch() });
      const outcomes = await new SlurmSubmitter({ templateFile: exampleSlurmTemplate }, replay.run).submitWorkers(ctx, [worker(dir, 1), worker(dir, 2)]);
      assert.deepEqual(outcomes.map((o) => o.kind), ['retry', 'retry']);
      assert.match(outcomes[0]!.diag, /nothing submitted: looking for an existing job failed: .*Unable to contact slurm controller/);
      assert.equal(replay.callsOf('sbatch').length, 0);
    });
  });

  test('sbatch not answered -> retryLater (found by name next time); sbatch refusing -> failed with its message', async () => {
    await withTempDir(async (dir) => {
      const down = new SlurmReplay({ ...nothingKnown, sbatch: 'sbatch-slurmctld-down' });
      const [retry] = await new SlurmSubmitter({ templateFile: exampleSlurmTemplate }, down.run).submitWorkers(ctx, [worker(dir, 1)]);
      assert.equal(retry?.kind, 'retry');
      assert.match(retry?.diag ?? '', /Unable to contact slurm controller.*found by its name next time/);
      const refused = new SlurmReplay({ ...nothingKnown, sbatch: 'sbatch-refused-unknown-partition' });
      const [fail] = await new SlurmSubmitter({ templateFile: exampleSlurmTemplate, partition: 'nosuch' }, refused.run).submitWorkers(ctx, [worker(dir, 2)]);
      assert.equal(fail?.kind, 'failed');
      assert.match(fail?.diag ?? '', /sbatch refused worker 2: sbatch: error: invalid partition specified: nosuch/);
    });
  });

  test('sacct not answering the lookup: a worker an earlier attempt ran sbatch for waits, a first attempt is submitted', async () => {
    await withTempDir(async (dir) => {
      const replay = new SlurmReplay({ squeue: (r) => ok(r), sacct: 'sacct-jobs-slurmdbd-down', sbatch: acceptingSbatch() });
      const repeat = worker(dir, 1);
      const first = worker(dir, 2);
      // What an earlier attempt leaves before its sbatch (whose job may have ended longer ago than squeue remembers).
      await mkdir(repeat.accessPoint!, { recursive: true });
      await writeFile(join(repeat.accessPoint!, batchScriptName), '#!/bin/sh\n');
      const outcomes = await new SlurmSubmitter({ templateFile: exampleSlurmTemplate }, replay.run).submitWorkers(ctx, [repeat, first]);
      assert.deepEqual(outcomes.map((o) => o.kind), ['retry', 'succeeded']);
      assert.match(outcomes[0]!.diag, /worker 1: not submitted again while sacct does not answer \(.*Problem talking to the database.*\): an earlier attempt ran sbatch/);
      assert.equal(repeat.batchID, null);
      assert.deepEqual(replay.callsOf('sbatch').map((c) => c.argv.find((a) => a.startsWith('--job-name='))), ['--job-name=hv-testid-w2']);
    });
  });

  test('without accounting the lookup uses squeue alone, and sacct is not asked again at once', async () => {
    await withTempDir(async (dir) => {
      const replay = new SlurmReplay({ squeue: (r) => ok(r), sacct: 'sacct-noaccounting-config', sbatch: acceptingSbatch() });
      const submitter = new SlurmSubmitter({ templateFile: exampleSlurmTemplate }, replay.run);
      assert.equal((await submitter.submitWorkers(ctx, [worker(dir, 1)]))[0]?.kind, 'succeeded');
      assert.equal((await submitter.submitWorkers(ctx, [worker(dir, 2)]))[0]?.kind, 'succeeded');
      assert.equal(replay.callsOf('sacct').length, 1);
      assert.equal(replay.callsOf('squeue').length, 2);
    });
  });

  test('a worker with no command to run fails, when the template runs {payloadScript}', async () => {
    await withTempDir(async (dir) => {
      const w = new WorkSpec({ workerID: 9, accessPoint: join(dir, 'w9') });
      const [outcome] = await new SlurmSubmitter({ templateFile: exampleSlurmTemplate }, new SlurmReplay({ ...nothingKnown }).run).submitWorkers(ctx, [w]);
      assert.equal(outcome?.kind, 'failed');
      assert.match(outcome?.diag ?? '', /no command to run/);
    });
  });

  test('logBaseURL and logDir give the stdout/stderr URLs, as harvester sets them', async () => {
    await withTempDir(async (dir) => {
      const w = worker(dir, 4);
      await new SlurmSubmitter({ templateFile: exampleSlurmTemplate, logDir: dir, logBaseURL: 'https://logs.example/h' }, new SlurmReplay({ ...nothingKnown, sbatch: acceptingSbatch() }).run).submitWorkers(ctx, [w]);
      assert.equal(w.workAttributes?.['stdOut'], 'https://logs.example/h/w4/4.out');
      assert.equal(w.workAttributes?.['stdErr'], 'https://logs.example/h/w4/4.err');
    });
  });

  test('an abort stops starting sbatch calls: the workers not started answer retryLater', async () => {
    await withTempDir(async (dir) => {
      const controller = new AbortController();
      const sbatch = (request: CommandRequest): CommandResult => {
        controller.abort(new Error('stopping'));
        return answerFrom('sbatch-ok', request);
      };
      const replay = new SlurmReplay({ ...nothingKnown, sbatch });
      const outcomes = await new SlurmSubmitter({ templateFile: exampleSlurmTemplate, maxParallelSubmissions: 1 }, replay.run).submitWorkers(
        testContext(queue, controller.signal),
        [worker(dir, 1), worker(dir, 2), worker(dir, 3)],
      );
      assert.deepEqual(outcomes.map((o) => o.kind), ['succeeded', 'retry', 'retry']);
      assert.equal(replay.callsOf('sbatch').length, 1);
    });
  });

  test('an unknown placeholder is refused at construction naming the template file and line', async () => {
    await withTempDir(async (dir) => {
      const template = join(dir, 'submit.sh');
      await writeFile(template, '#!/bin/bash\n#SBATCH -N {nNode}\n#SBATCH -t {walltimeMinutes}\n{payloadScript}\n');
      assert.throws(
        () => new SlurmSubmitter({ templateFile: template }),
        (error: unknown) => error instanceof PluginOptionError && error.message.includes(`${template}:3: unknown placeholder {walltimeMinutes}`),
      );
      assert.throws(() => new SlurmSubmitter({}), /templateFile' is required/);
    });
  });

  test('checkOptions (for queues check): problems with file:line; an unreadable template of a remote section is a warning', async () => {
    await withTempDir(async (dir) => {
      const template = join(dir, 'submit.sh');
      await writeFile(template, 'a {xyzzyPlugh}\nb {logDir}\n');
      const local = SlurmSubmitter.checkOptions({ templateFile: template }, { remote: false });
      assert.deepEqual(local.problems, [
        `${template}:1: unknown placeholder {xyzzyPlugh}; write {{ and }} for literal braces`,
        `${template}:2: placeholder {logDir} has no value: the section sets no logDir option`,
      ]);
      const missing = join(dir, 'elsewhere.sh');
      assert.match(SlurmSubmitter.checkOptions({ templateFile: missing }, { remote: false }).problems[0] ?? '', /cannot read template file .*elsewhere\.sh: no such file/);
      const remote = SlurmSubmitter.checkOptions({ templateFile: missing }, { remote: true });
      assert.deepEqual(remote.problems, []);
      assert.match(remote.warnings[0] ?? '', /runs on the remote host, where the bot checks the template when it builds the plugin/);
      assert.deepEqual(SlurmSubmitter.checkOptions({ templateFile: exampleSlurmTemplate }, { remote: false }), { problems: [], warnings: [] });
    });
  });

  test('an edited template is read again at the next submission', async () => {
    await withTempDir(async (dir) => {
      const template = join(dir, 'submit.sh');
      await writeFile(template, '#!/bin/sh\n# v1 {workerID}\n');
      const submitter = new SlurmSubmitter({ templateFile: template }, new SlurmReplay({ ...nothingKnown, sbatch: acceptingSbatch() }).run);
      const first = worker(dir, 1);
      await submitter.submitWorkers(ctx, [first]);
      await writeFile(template, '#!/bin/sh\n# version two {workerID}\n');
      const second = worker(dir, 2);
      await submitter.submitWorkers(ctx, [second]);
      assert.match(await readFile(join(first.accessPoint!, batchScriptName), 'utf8'), /# v1 1/);
      assert.match(await readFile(join(second.accessPoint!, batchScriptName), 'utf8'), /# version two 2/);
    });
  });
});
