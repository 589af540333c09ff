// `harvester status` and a queue's last submission when no running instance remembers it (the instance is down,
// was restarted, or `run --until-done` did the work): the store still knows when the newest worker was submitted.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
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
