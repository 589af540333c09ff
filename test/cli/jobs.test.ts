// `harvester jobs add|list`: jobs go into the embedded job queue of the home's database and are listed with
// the stored jobs; bad input (unknown queue, a NoJob queue, a malformed jobs file, a broken database file)
// gives one clear reason per problem and exit 2 (input) or 1 (database), with nothing written.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { JobSpec } from '../../src/spec/index.js';
import { SCHEMA_VERSION } from '../../src/store/index.js';
import { adminHome, homeDatabase, JOB_QUEUE, NO_JOB_QUEUE, OTHER_JOB_QUEUE, withHomeStore } from './admin-support.js';
import { outputLines, parseTable, runCli, TempDirs, writeJson, type CliResult } from './support.js';

const dirs = new TempDirs();
after(() => dirs.cleanup());

interface ListedJob {
  PandaID: number;
  computingSite: string;
  status: string;
  subStatus: string | null;
  creationTime: string | null;
  modificationTime: string | null;
  taskID: number | null;
  currentPriority: number | null;
  nCore: number | null;
  command: string | null;
}

function printedIds(result: CliResult): number[] {
  assert.equal(result.status, 0, result.stderr);
  return outputLines(result.stdout).map((line) => {
    assert.match(line, /^\d+$/);
    return Number(line);
  });
}

async function listJson(home: string, ...args: string[]): Promise<ListedJob[]> {
  const result = await runCli(['jobs', 'list', '--json', ...args], { home });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout) as ListedJob[];
}

function assertBadInput(result: CliResult, ...reasons: RegExp[]): void {
  assert.equal(result.status, 2, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  assert.equal(result.stdout, '');
  for (const reason of reasons) assert.match(result.stderr, reason);
}

describe('jobs add and jobs list', () => {
  test('jobs list on a fresh home prints an empty table and an empty JSON array, and creates no database', async () => {
    const home = adminHome(dirs, 'jobs-fresh');
    const table = await runCli(['jobs', 'list'], { home });
    assert.equal(table.status, 0, table.stderr);
    assert.deepEqual(parseTable(table.stdout, 'PandaID'), []);
    assert.deepEqual(await listJson(home), []);
    assert.equal(existsSync(homeDatabase(home)), false);
  });

  test('jobs add --count makes that many queued jobs, each with its own PandaID, shown by jobs list as a table and as JSON', async () => {
    const home = adminHome(dirs, 'jobs-add');
    const ids = printedIds(await runCli(['jobs', 'add', '--queue', JOB_QUEUE, '--command', 'echo hello world', '--count', '3'], { home }));
    assert.equal(ids.length, 3);
    assert.equal(new Set(ids).size, 3);

    const table = await runCli(['jobs', 'list'], { home });
    assert.equal(table.status, 0, table.stderr);
    const rows = parseTable(table.stdout, 'PandaID');
    assert.deepEqual(rows.map((r) => Number(r.PandaID)), ids);
    for (const row of rows) {
      assert.equal(row.computingSite, JOB_QUEUE);
      assert.equal(row.status, 'queued');
      assert.equal(row.command, 'echo hello world');
      assert.match(row.creationTime!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    }

    const listed = await listJson(home);
    assert.deepEqual(listed.map((j) => j.PandaID), ids);
    for (const job of listed) {
      assert.equal(job.status, 'queued');
      assert.equal(job.computingSite, JOB_QUEUE);
      assert.equal(job.command, 'echo hello world');
      assert.ok(job.creationTime !== null && !Number.isNaN(Date.parse(job.creationTime)), String(job.creationTime));
    }
    // What the job fetcher will take: the command as jobParams.command.
    const queued = await withHomeStore(home, (store) => store.listQueuedJobs({ queueName: JOB_QUEUE }));
    assert.deepEqual(queued.map((q) => q.jobParams), ids.map(() => ({ command: 'echo hello world' })));
  });

  test('jobs add --json prints each PandaID with its queue', async () => {
    const home = adminHome(dirs, 'jobs-add-json');
    const result = await runCli(['jobs', 'add', '--queue', JOB_QUEUE, '--command', 'true', '--count', '2', '--json'], { home });
    assert.equal(result.status, 0, result.stderr);
    const added = JSON.parse(result.stdout) as { PandaID: number; queueName: string }[];
    assert.equal(added.length, 2);
    assert.deepEqual(added.map((a) => a.queueName), [JOB_QUEUE, JOB_QUEUE]);
    assert.deepEqual((await listJson(home)).map((j) => j.PandaID), added.map((a) => a.PandaID));
  });

  test('jobs add --file queues every entry, --queue standing in for a missing queueName, with taskID, priority and nCore kept', async () => {
    const home = adminHome(dirs, 'jobs-file');
    const file = writeJson(join(home, 'jobs.json'), [
      { command: 'echo one', taskID: 7, currentPriority: 100, nCore: 4 },
      { queueName: OTHER_JOB_QUEUE, jobParams: { transformation: 'run.sh', jobPars: '--fast' } },
      { queueName: OTHER_JOB_QUEUE, command: 'echo three', jobParams: { site: 'x' } },
    ]);
    const ids = printedIds(await runCli(['jobs', 'add', '--queue', JOB_QUEUE, '--file', file], { home }));
    assert.equal(ids.length, 3);
    const byId = new Map((await listJson(home)).map((j) => [j.PandaID, j]));
    const [first, second, third] = ids.map((id) => byId.get(id)!);
    assert.deepEqual(
      { site: first!.computingSite, command: first!.command, taskID: first!.taskID, currentPriority: first!.currentPriority, nCore: first!.nCore },
      { site: JOB_QUEUE, command: 'echo one', taskID: 7, currentPriority: 100, nCore: 4 },
    );
    assert.equal(second!.computingSite, OTHER_JOB_QUEUE);
    assert.equal(second!.command, 'run.sh --fast');
    const queued = await withHomeStore(home, (store) => store.listQueuedJobs({ queueName: OTHER_JOB_QUEUE }));
    assert.deepEqual(queued.find((q) => q.PandaID === third!.PandaID)?.jobParams, { site: 'x', command: 'echo three' });
  });

  test('jobs list shows stored jobs with their status next to queued entries, and filters by queue and status', async () => {
    const home = adminHome(dirs, 'jobs-stored');
    const [queuedId] = printedIds(await runCli(['jobs', 'add', '--queue', JOB_QUEUE, '--command', 'echo waiting'], { home }));
    const created = new Date('2024-05-01T12:00:00Z');
    const stored = new JobSpec({
      computingSite: OTHER_JOB_QUEUE,
      status: 'running',
      subStatus: 'running',
      creationTime: created,
      modificationTime: created,
      jobParams: { command: 'sleep 60' },
    });
    await withHomeStore(home, (store) => store.insertJobs([stored]));

    const all = await listJson(home);
    assert.deepEqual(all.map((j) => [j.PandaID, j.status]).sort(), [[queuedId, 'queued'], [stored.PandaID, 'running']].sort());
    const running = all.find((j) => j.PandaID === stored.PandaID)!;
    assert.equal(running.subStatus, 'running');
    assert.equal(running.creationTime, created.toISOString());
    assert.equal(running.command, 'sleep 60');

    const table = parseTable((await runCli(['jobs', 'list'], { home })).stdout, 'PandaID');
    assert.equal(table.find((r) => Number(r.PandaID) === stored.PandaID)?.creationTime, '2024-05-01 12:00:00');

    assert.deepEqual((await listJson(home, '--status', 'running')).map((j) => j.PandaID), [stored.PandaID]);
    assert.deepEqual((await listJson(home, '--status', 'queued')).map((j) => j.PandaID), [queuedId]);
    assert.deepEqual((await listJson(home, '--queue', JOB_QUEUE)).map((j) => j.PandaID), [queuedId]);
    assert.deepEqual((await listJson(home, '--queue', OTHER_JOB_QUEUE, '--status', 'queued')).map((j) => j.PandaID), []);
  });
});

describe('jobs add refuses bad input and writes nothing', () => {
  test('an unknown queue is a usage error naming it and the known queues', async () => {
    const home = adminHome(dirs, 'jobs-unknown');
    const result = await runCli(['jobs', 'add', '--queue', 'nosuch', '--command', 'true'], { home });
    assertBadInput(result, /no queue 'nosuch'/, new RegExp(`${JOB_QUEUE}, ${OTHER_JOB_QUEUE}, ${NO_JOB_QUEUE}`));
    assert.equal(outputLines(result.stderr).length, 1, result.stderr);
    assert.equal(existsSync(homeDatabase(home)), false);
  });

  test('a NoJob queue is a usage error saying it runs no jobs and which queues do', async () => {
    const home = adminHome(dirs, 'jobs-nojob');
    const result = await runCli(['jobs', 'add', '--queue', NO_JOB_QUEUE, '--command', 'true'], { home });
    assertBadInput(result, new RegExp(`'${NO_JOB_QUEUE}' has mapType NoJob: it runs no jobs \\(queues that do: ${JOB_QUEUE}, ${OTHER_JOB_QUEUE}\\)`));
  });

  test('without --command, or --file with --count, is a usage error', async () => {
    const home = adminHome(dirs, 'jobs-usage');
    assertBadInput(await runCli(['jobs', 'add', '--queue', JOB_QUEUE], { home }), /give --queue and --command, or --file/);
    const file = writeJson(join(home, 'jobs.json'), [{ queueName: JOB_QUEUE, command: 'true' }]);
    assertBadInput(await runCli(['jobs', 'add', '--file', file, '--count', '2'], { home }), /--file takes no --command or --count/);
    assertBadInput(await runCli(['jobs', 'add', '--queue', JOB_QUEUE, '--command', 'true', '--count', '0'], { home }), /--count/);
  });

  test('a malformed jobs file reports every problem as file: [index].field: message and adds none', async () => {
    const home = adminHome(dirs, 'jobs-badfile');
    const file = writeJson(join(home, 'jobs.json'), [
      { queueName: JOB_QUEUE, command: 'fine' },
      { queueName: JOB_QUEUE },
      { queueName: 'nosuch', command: 'x' },
      { queueName: JOB_QUEUE, command: 'x', nCore: 'four' },
      { queueName: NO_JOB_QUEUE, command: 'x' },
      { command: 'no queue' },
      { queueName: JOB_QUEUE, command: 'x', colour: 'red' },
      { queueName: 'nosuch', taskID: -1 },
    ]);
    const result = await runCli(['jobs', 'add', '--file', file], { home });
    assertBadInput(result);
    const lines = outputLines(result.stderr);
    const problemAt = (path: string): string => {
      const found = lines.filter((l) => l.startsWith(`harvester: ${file}: ${path}: `));
      assert.equal(found.length, 1, `expected one problem at ${path} in:\n${result.stderr}`);
      return found[0]!;
    };
    assert.match(problemAt('[1]'), /give command or jobParams/);
    assert.match(problemAt('[2].queueName'), /no queue 'nosuch'/);
    assert.match(problemAt('[3].nCore'), /expected number, got string "four"/);
    assert.match(problemAt('[4].queueName'), /mapType NoJob/);
    assert.match(problemAt('[5].queueName'), /required \(or give --queue\)/);
    assert.match(problemAt('[6]'), /colour/);
    // An entry with several problems has each reported.
    assert.match(problemAt('[7].queueName'), /no queue 'nosuch'/);
    assert.match(problemAt('[7].taskID'), /must be >= 1, got number -1/);
    const paths = lines.slice(0, -1).map((l) => l.slice(`harvester: ${file}: `.length).split(': ')[0]);
    assert.deepEqual(paths.sort(), ['[1]', '[2].queueName', '[3].nCore', '[4].queueName', '[5].queueName', '[6]', '[7]', '[7].queueName', '[7].taskID']);
    assert.match(lines.at(-1)!, /9 problem\(s\) in .*jobs\.json; no job was added/);
    assert.equal(existsSync(homeDatabase(home)), false);
  });

  test('a jobs file that is not JSON, or not an array, is one problem naming the file (and the line for bad JSON)', async () => {
    const home = adminHome(dirs, 'jobs-notjson');
    const broken = join(home, 'broken.json');
    writeFileSync(broken, '[\n  {"command": "x",}\n]\n');
    const bad = await runCli(['jobs', 'add', '--queue', JOB_QUEUE, '--file', broken], { home });
    assertBadInput(bad, new RegExp(`^harvester: ${broken}: malformed JSON at line 2, column \\d+`));
    const object = writeJson(join(home, 'object.json'), { command: 'x' });
    assertBadInput(await runCli(['jobs', 'add', '--queue', JOB_QUEUE, '--file', object], { home }), /expected a JSON array of jobs, got an object/);
    assertBadInput(await runCli(['jobs', 'add', '--file', join(home, 'missing.json')], { home }), /cannot read jobs file .*missing\.json: ENOENT/);
  });
});

describe('jobs commands on a broken database file', () => {
  test('a corrupt database file is one line naming the file, exit 1, for jobs list and jobs add', async () => {
    const home = adminHome(dirs, 'jobs-corrupt');
    const database = homeDatabase(home);
    writeFileSync(database, 'not a database at all '.repeat(300));
    for (const args of [['jobs', 'list'], ['jobs', 'add', '--queue', JOB_QUEUE, '--command', 'true']]) {
      const result = await runCli(args, { home });
      assert.equal(result.status, 1, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stdout, '');
      const lines = outputLines(result.stderr);
      assert.equal(lines.length, 1, result.stderr);
      assert.ok(lines[0]!.startsWith('harvester: ') && lines[0]!.includes(database), lines[0]);
      assert.match(lines[0]!, /corrupt or not a database/);
    }
  });

  test('a database of a newer schema is one line naming the file and both versions, exit 1', async () => {
    const home = adminHome(dirs, 'jobs-newer');
    await withHomeStore(home, async () => undefined);
    const raw = new Database(homeDatabase(home));
    raw.prepare('INSERT INTO schema_version (version, appliedAt) VALUES (?, ?)').run(SCHEMA_VERSION + 1, Date.now());
    raw.close();
    const result = await runCli(['jobs', 'list'], { home });
    assert.equal(result.status, 1, result.stderr);
    const lines = outputLines(result.stderr);
    assert.equal(lines.length, 1, result.stderr);
    assert.ok(lines[0]!.includes(homeDatabase(home)), lines[0]);
    assert.match(lines[0]!, new RegExp(`schema version ${SCHEMA_VERSION + 1}, newer than the ${SCHEMA_VERSION}`));
  });
});
