// `harvester status`'s queue rows: a queue's last submission when no running instance remembers it (the instance
// is down, was restarted, or `run --until-done` did the work): the store still knows when the newest worker was
// submitted; and the workers waiting unchecked too long (stuck), counted by the store.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkSpec } from '../../src/spec/index.js';
import { adminHome, JOB_QUEUE, withHomeStore } from './admin-support.js';
import { runCli, TempDirs } from './support.js';

const dirs = new TempDirs();
after(() => dirs.cleanup());

describe('harvester status: last submission without a running instance', () => {
  test("after `run --until-done`, the queue's last submission is its newest worker's submitTime, not '-'", async () => {
    const home = dirs.make('status-last-submission');
    assert.equal((await runCli(['jobs', 'add', '--queue', 'local', '--command', 'true', '--count', '2'], { home })).status, 0);
    const run = await runCli(['run', '--until-done', '--pause', '1', '--timeout', '60'], { home, timeoutMs: 90_000 });
    assert.equal(run.status, 0, run.stdout + run.stderr);

    const text = await runCli(['status'], { home });
    const row = text.stdout.split('\n').find((line) => line.startsWith('local '));
    assert.ok(row !== undefined, text.stdout);
    assert.match(row, /\d+s ago \(newest worker's submitTime\)$/, text.stdout);

    const json = JSON.parse((await runCli(['status', '--json'], { home })).stdout) as { queues: { name: string; lastSubmitTime?: string }[] };
    const local = json.queues.find((q) => q.name === 'local');
    const submitTimes = JSON.parse((await runCli(['workers', 'list', '--json'], { home })).stdout) as { submitTime: string }[];
    assert.equal(submitTimes.length, 2);
    const newest = submitTimes.map((w) => Date.parse(w.submitTime)).reduce((a, b) => Math.max(a, b));
    assert.equal(Date.parse(local?.lastSubmitTime ?? ''), newest);
  });
});

describe('harvester status: stuck workers', () => {
  test('a queue whose waiting workers were not checked for longer than --stuck-after is named with their count; finished and recently checked ones are not', async () => {
    const home = adminHome(dirs, 'status-stuck');
    const long = new Date(Date.now() - 7200_000);
    await withHomeStore(home, (store) =>
      store.insertWorkers([
        new WorkSpec({ computingSite: JOB_QUEUE, status: 'running', checkTime: long, modificationTime: long }),
        new WorkSpec({ computingSite: JOB_QUEUE, status: 'submitted', checkTime: null, modificationTime: long, submitTime: long }),
        new WorkSpec({ computingSite: JOB_QUEUE, status: 'running', checkTime: new Date(), modificationTime: long }),
        new WorkSpec({ computingSite: JOB_QUEUE, status: 'finished', checkTime: long, modificationTime: long }),
      ]),
    );
    const json = JSON.parse((await runCli(['status', '--json', '--stuck-after', '3600'], { home })).stdout) as { queues: { name: string; stuckWorkers: number }[]; attention: string[] };
    assert.equal(json.queues.find((q) => q.name === JOB_QUEUE)?.stuckWorkers, 2, JSON.stringify(json.queues));
    assert.ok(json.attention.some((line) => line.startsWith(`queue ${JOB_QUEUE}: 2 workers not checked for over 3600 s`)), JSON.stringify(json.attention));
  });
});
