// A harvester home on a shared login node: the one harvester creates is owner-only (0700) and so are its SQLite
// files (0600), whatever the umask lets through; a home the operator made is left as it is, and `harvester
// status` and `harvester run` say when it is open to group or others.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, TempDirs } from './support.js';

const dirs = new TempDirs();
after(() => dirs.cleanup());

function modeOf(path: string): string {
  return (statSync(path).mode & 0o777).toString(8);
}

describe('the harvester home on a shared host', () => {
  test('a home `harvester jobs add` creates is 0700 and its database 0600 under umask 022', async () => {
    const previous = process.umask(0o022);
    try {
      const home = join(dirs.make('created'), 'nested', 'home');
      const added = await runCli(['jobs', 'add', '--queue', 'local', '--command', 'true'], { home });
      assert.equal(added.status, 0, added.stderr);
      assert.equal(modeOf(home), '700');
      assert.equal(modeOf(join(home, 'harvester.db')), '600');
    } finally {
      process.umask(previous);
    }
  });

  test('an existing home open to others keeps its mode; status names it in a warning line and stays healthy on that account', async () => {
    const home = dirs.make('shared');
    chmodSync(home, 0o755);
    const status = await runCli(['status'], { home });
    assert.equal(modeOf(home), '755', 'the operator chose it: not changed');
    const warnings = status.stdout.split('\n').filter((line) => line.startsWith('warning: '));
    assert.deepEqual(warnings, [`warning: the home ${home} is open to group or others (mode 755): its database holds job parameters and tokens; run 'chmod 700 ${home}'`]);
    const json = await runCli(['status', '--json'], { home });
    const report = JSON.parse(json.stdout) as { warnings: string[]; attention: string[] };
    assert.equal(report.warnings.length, 1);
    assert.ok(report.attention.every((line) => !line.includes('open to group')), 'a warning, not a degradation');
  });

  test('an owner-only home gets no warning', async () => {
    const home = dirs.make('private');
    chmodSync(home, 0o700);
    const status = await runCli(['status'], { home });
    assert.ok(!status.stdout.includes('warning:'), status.stdout);
  });

  test('`harvester run` warns on stderr at start when the home is open to others', async () => {
    const home = dirs.make('run-shared');
    chmodSync(home, 0o750);
    const run = await runCli(['run', '--once'], { home, timeoutMs: 60_000 });
    assert.equal(run.status, 0, run.stderr);
    assert.ok(run.stderr.split('\n').includes(`harvester: warning: the home ${home} is open to group or others (mode 750): its database holds job parameters and tokens; run 'chmod 700 ${home}'`), run.stderr);
  });
});
