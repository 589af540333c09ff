// Reading process identities from /proc: the stat parser and the pid-reuse guard.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isRunning, liveGroupMembers, parseProcStat, readProcessStat, currentBootId } from './local-process-identity.js';

describe('process identity', () => {
  test('parseProcStat finds state, group, session and start time after a command name holding spaces and parentheses', () => {
    const fields = ['S', '1', '4242', '4242', ...Array.from({ length: 15 }, (_, i) => String(i)), '987654', '0'];
    const parsed = parseProcStat(`4242 (evil) name (x)) ${fields.join(' ')}\n`);
    assert.deepEqual(parsed, { state: 'S', pgrp: 4242, session: 4242, startTicks: '987654' });
    assert.equal(parseProcStat('garbage'), undefined);
  });

  test('this process is running under its own identity, and not under a wrong start time or boot', async () => {
    const stat = await readProcessStat(process.pid);
    assert.ok(stat !== undefined, '/proc is readable');
    const bootId = await currentBootId();
    assert.equal(await isRunning({ pid: process.pid, startTicks: stat.startTicks, bootId }), true);
    assert.equal(await isRunning({ pid: process.pid, startTicks: `${stat.startTicks}1`, bootId }), false);
    assert.equal(await isRunning({ pid: process.pid, startTicks: stat.startTicks, bootId: 'another-boot' }), false);
  });

  test("liveGroupMembers lists this process under its group and nothing under an unused group", async () => {
    const stat = (await readProcessStat(process.pid))!;
    const members = await liveGroupMembers(new Set([stat.pgrp, 2 ** 22 + 1]));
    assert.ok(members.get(stat.pgrp)?.includes(process.pid));
    assert.equal(members.has(2 ** 22 + 1), false);
  });
});
