// `harvester plugins list` and `plugins try`: the built-ins under their harvester module paths, and one
// make -> submit -> check -> kill/sweep round whose table matches the files the dummy plugins really wrote.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { builtinPlugins } from '../../src/plugins/index.js';
import { outputLines, parseTable, readText, runCli, TempDirs, writeJson, dummyLocalQueue } from './support.js';

const dirs = new TempDirs();
after(() => dirs.cleanup());

interface ListedPlugin {
  kind: string;
  name: string;
  module: string;
  harvesterModule: string;
  description: string;
}

type WorkerRow = Record<string, string | number>;
interface RoundReport {
  ok: boolean;
  plugins: { kind: string; name: string; runs: string }[];
  workers: WorkerRow[];
  steps: { step: string; ms: string; result: string }[];
}

describe('plugins list', () => {
  const expected = builtinPlugins()
    .map((p) => `${p.kind} ${p.className} ${p.harvesterModule}`)
    .sort();

  test('the table lists every built-in with its harvester module path', async () => {
    const result = await runCli(['plugins', 'list'], { home: dirs.make('list') });
    assert.equal(result.status, 0, result.stderr);
    const rows = parseTable(result.stdout, 'kind');
    assert.deepEqual(rows.map((r) => `${r.kind} ${r.name} ${r.harvesterModule}`).sort(), expected);
    for (const row of rows) assert.match(row.harvesterModule!, /^(pandaharvester\.harvester\w+|harvester_ts)\.\w+$/);
  });

  test('--json lists every built-in with its harvester module path, including the wiki seed\'s classes', async () => {
    const result = await runCli(['plugins', 'list', '--json'], { home: dirs.make('list-json') });
    assert.equal(result.status, 0, result.stderr);
    const listed = JSON.parse(result.stdout) as ListedPlugin[];
    assert.deepEqual(listed.map((p) => `${p.kind} ${p.name} ${p.harvesterModule}`).sort(), expected);
    const modules = new Set(listed.map((p) => `${p.harvesterModule}.${p.name}`));
    for (const seed of [
      'pandaharvester.harvestersubmitter.dummy_singleton_submitter.DummySingletonSubmitter',
      'pandaharvester.harvestermessenger.shared_file_messenger.SharedFileMessenger',
      'pandaharvester.harvesterstager.dummy_stager.DummyStager',
    ]) {
      assert.ok(modules.has(seed), `${seed} is not listed`);
    }
    for (const p of listed) assert.ok(p.description.length > 0, `${p.name} has no description`);
  });
});

/** What the dummy plugins leave in an access point after a full round: the submission log, no status file. */
function assertSweptAccessPoint(home: string, row: WorkerRow): void {
  const accessPoint = String(row.accessPoint);
  assert.equal(accessPoint, join(home, 'workdir', String(row.workerID)));
  assert.ok(existsSync(accessPoint), `${accessPoint} does not exist`);
  const submittedLog = outputLines(readText(join(accessPoint, 'submitted.log')));
  assert.deepEqual(submittedLog, [`${row.workerID} ${row.batchID}`]);
  assert.ok(!existsSync(join(accessPoint, 'status.txt')), `sweep left ${accessPoint}/status.txt behind`);
}

describe('plugins try on the example\'s dummy queue', () => {
  test('runs N workers through submit, check, kill and sweep; the table matches the files written', async () => {
    const home = dirs.make('try');
    const result = await runCli(['plugins', 'try', '--queue', 'dummy', '--workers', '3'], { home });
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
    const workers = parseTable(result.stdout, 'workerID');
    assert.equal(workers.length, 3, result.stdout);
    assert.equal(new Set(workers.map((w) => w.workerID)).size, 3, 'worker IDs repeat');
    for (const row of workers) {
      assert.deepEqual([row.submit, row.status, row.kill, row.sweep], ['ok', 'submitted', 'ok', 'ok'], JSON.stringify(row));
      assert.match(row.batchID!, /\S/);
      assertSweptAccessPoint(home, row);
    }
    const steps = parseTable(result.stdout, 'step');
    assert.deepEqual(
      steps.map((s) => s.step),
      ['make', 'setupAccessPoints', 'submitWorkers', 'checkWorkers', 'killWorkers', 'sweepWorker'],
    );
    for (const step of steps) assert.doesNotMatch(step.result!, /error|(^|\D)[1-9]\d* (failed|retry)/, JSON.stringify(step));
  });

  test('--json reports the same round for scripts', async () => {
    const home = dirs.make('try-json');
    const result = await runCli(['plugins', 'try', '--queue', 'dummy', '--workers', '2', '--json'], { home });
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
    const report = JSON.parse(result.stdout) as RoundReport;
    assert.equal(report.ok, true);
    assert.deepEqual(
      report.plugins.map((p) => `${p.kind}=${p.name}:${p.runs}`),
      ['workerMaker=SimpleWorkerMaker:local', 'submitter=DummySubmitter:local', 'monitor=DummyMonitor:local', 'sweeper=DummySweeper:local', 'messenger=SharedFileMessenger:local'],
    );
    assert.equal(report.workers.length, 2);
    for (const row of report.workers) {
      assert.deepEqual([row.submit, row.status, row.kill, row.sweep], ['ok', 'submitted', 'ok', 'ok'], JSON.stringify(row));
      assertSweptAccessPoint(home, row);
    }
  });
});

describe('plugins try with a user plugin that fails', () => {
  test('a submitter throwing in submitWorkers is reported on its step, exit 1, no crash', async () => {
    const site = dirs.make('user-plugin');
    const pluginFile = join(site, 'exploding-submitter.mjs');
    writeFileSync(
      pluginFile,
      'export class ExplodingSubmitter {\n' +
        '  async submitWorkers() { throw new Error("the batch system refused the job on purpose"); }\n' +
        '}\n',
    );
    const config = writeJson(join(site, 'queues.json'), {
      userQueue: dummyLocalQueue({ submitter: { name: 'ExplodingSubmitter', module: pluginFile } }),
    });
    const result = await runCli(['plugins', 'try', '--queue', 'userQueue', '--queue-config', config, '--workers', '2'], {
      home: dirs.make('user-plugin-home'),
    });
    assert.equal(result.status, 1, `${result.stdout}\n${result.stderr}`);
    const submit = parseTable(result.stdout, 'step').find((s) => s.step === 'submitWorkers');
    assert.ok(submit !== undefined, result.stdout);
    assert.equal(submit.result, 'error: the batch system refused the job on purpose');
    assert.equal(parseTable(result.stdout, 'workerID').length, 2);
    // A reported failure, not a crash: no internal error and no stack trace for the operator.
    assert.doesNotMatch(result.stderr, /internal error|\n\s+at /);
  });
});
