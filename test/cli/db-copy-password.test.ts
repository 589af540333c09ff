// `harvester db copy --to URL` without a password from anywhere: the operator is told where a password comes from
// before the server's own (unclear) refusal. No database server is needed: the URL points at a closed port.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runCli, TempDirs } from './support.js';

const dirs = new TempDirs();
after(() => dirs.cleanup());

/** A home whose SQLite database holds one job (the source of the copy). */
async function homeWithDatabase(name: string): Promise<string> {
  const home = dirs.make(name);
  const added = await runCli(['jobs', 'add', '--queue', 'local', '--command', 'true'], { home });
  assert.equal(added.status, 0, added.stderr);
  return home;
}

describe('db copy --to a URL without a password', () => {
  test('says that neither the URL, $HARVESTER_DB_PASSWORD nor [db] gave one, naming user, host and port', async () => {
    const home = await homeWithDatabase('no-password');
    const copy = await runCli(['db', 'copy', '--from', join(home, 'harvester.db'), '--to', 'postgresql://hvuser@127.0.0.1:1/harvester'], { home });
    assert.equal(copy.status, 1, copy.stderr);
    assert.match(copy.stderr, /db copy: no password for hvuser@127\.0\.0\.1:1: .*\$HARVESTER_DB_PASSWORD is unset/);
    assert.match(copy.stderr, /connect to 127\.0\.0\.1:1 as user hvuser/);
  });

  test('says nothing about a password when $HARVESTER_DB_PASSWORD gives one', async () => {
    const home = await homeWithDatabase('env-password');
    const copy = await runCli(['db', 'copy', '--from', home, '--to', 'mariadb://hvuser@127.0.0.1:1/harvester'], { home, env: { HARVESTER_DB_PASSWORD: 'not-shown-4711' } });
    assert.equal(copy.status, 1, copy.stderr);
    assert.doesNotMatch(copy.stderr, /no password/);
    assert.doesNotMatch(copy.stdout + copy.stderr, /not-shown-4711/);
  });
});
