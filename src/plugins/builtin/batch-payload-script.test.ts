import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { withTempDir } from '../../../test/support/plugins/plugin-fixtures.js';
import { payloadScriptPath, payloadScriptText, writeExecutable } from './batch-payload-script.js';

describe('the payload script of a batch job', () => {
  test('an access point or queue name holding shell syntax is text, never a command: the script names the path it cannot enter', async () => {
    await withTempDir(async (dir) => {
      const accessPoint = join(dir, 'gone "a" $(touch substituted) `touch backticked`');
      const script = payloadScriptPath(dir);
      const text = payloadScriptText({ accessPoint, workerID: 3, queueName: 'Q\ntouch injected', pandaID: 7, command: 'true', shell: '/bin/sh' });
      await writeExecutable(script, text);
      const run = spawnSync(script, { cwd: dir, encoding: 'utf8' });
      assert.equal(run.status, 1);
      assert.ok(run.stderr.endsWith(`\nharvester_payload.sh: cannot enter ${accessPoint}\n`), run.stderr);
      assert.deepEqual(await readdir(dir), ['harvester_payload.sh'], 'nothing was run from the path or the queue name');
    });
  });
});
