// Admin commands on a server engine, as on SQLite: the commands that only read (workers list, jobs list,
// queues list, workers kill's lookup, status) never create or migrate the schema. An absent schema is
// refused in one line naming the engine, user, host, port and database and saying that `harvester run`
// creates it (status shows the store as "none yet", as for a SQLite home without its file); an older schema
// is refused saying which command migrates it. Writing commands still create and migrate.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkSpec } from '../../src/spec/index.js';
import { openServerStore } from '../../src/store/server/open-server-store.js';
import type { ServerEngine } from '../../src/store/server/session.js';
import { runCli, type CliResult } from '../cli/support.js';
import { adminQuery, createTestDatabase, dbServersProblem, dropTestDatabases, loadDbServers, serverEngines, serverSettings, type DbServersEnv } from '../support/store/db-servers.js';

const env = loadDbServers();
const homes = mkdtempSync(join(tmpdir(), 'hv-dbadmin-'));
after(() => rmSync(homes, { recursive: true, force: true }));

/** A home whose [db] names the engine's test server and the given database. */
function homeFor(env: DbServersEnv, engine: ServerEngine, schema: string): string {
  const home = mkdtempSync(join(homes, `${engine}-`));
  const server = env[engine];
  writeFileSync(join(home, 'db-password'), `${env.password}\n`);
  writeFileSync(join(home, 'harvester.json'), JSON.stringify({ db: { engine, host: server.host, port: server.port, user: server.user, password: { file: 'db-password' }, schema } }));
  return home;
}

/** The tables in a database of the test server. */
async function tablesIn(env: DbServersEnv, engine: ServerEngine, schema: string): Promise<string[]> {
  const sql =
    engine === 'postgresql'
      ? `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'`
      : `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = '${schema}'`;
  const [rows] = (await adminQuery(env, engine, [sql], schema)) as [{ name: string }[]];
  return rows.map((r) => r.name).sort();
}

/** Whether a table of a database of the test server has the column. */
async function hasColumn(env: DbServersEnv, engine: ServerEngine, schema: string, table: string, column: string): Promise<boolean> {
  const where = engine === 'postgresql' ? `table_schema = 'public'` : `table_schema = '${schema}'`;
  const sql = `SELECT column_name AS name FROM information_schema.columns WHERE ${where} AND table_name = '${table}' AND column_name = '${column}'`;
  const [rows] = (await adminQuery(env, engine, [sql], schema)) as [unknown[]];
  return rows.length > 0;
}

const run = (args: string[], home: string): Promise<CliResult> => runCli(args, { home, timeoutMs: 60_000 });

/** Asserts a one-line refusal on stderr naming the server database, and that the password is nowhere. */
function assertOneLineRefusal(result: CliResult, env: DbServersEnv, engine: ServerEngine, schema: string, what: RegExp): void {
  const server = env[engine];
  assert.equal(result.status, 1, `${result.args.join(' ')}: ${result.stderr}`);
  assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  assert.match(result.stderr, new RegExp(`${engine}://${server.user}@${server.host}:${server.port}/${schema}`));
  assert.match(result.stderr, what);
  assert.doesNotMatch(result.stderr + result.stdout, new RegExp(env.password));
}

const readingCommands: readonly string[][] = [
  ['workers', 'list'],
  ['jobs', 'list', '--json'],
  ['queues', 'list'],
  ['workers', 'kill', '--queue', 'local', '--id', '1'],
];

if (env === undefined) {
  test('admin commands on PostgreSQL and MariaDB', (t) => t.skip(dbServersProblem()));
} else {
  for (const engine of serverEngines) {
    after(() => dropTestDatabases(env, engine));
    describe(`admin commands on ${engine}`, () => {
      test('commands that only read refuse a database without harvester-ts tables in one line, and create nothing', async () => {
        const schema = await createTestDatabase(env, engine);
        const home = homeFor(env, engine, schema);
        const [status, ...refusals] = await Promise.all([run(['status'], home), ...readingCommands.map((args) => run(args, home))]);
        for (const result of refusals) {
          assertOneLineRefusal(result, env, engine, schema, /holds no harvester-ts tables yet, and this command creates none: `harvester run` creates them/);
        }
        assert.match(status.stdout, new RegExp(`store: ${engine}://${env[engine].user}@.*/${schema} \\(none yet\\)`), status.stdout + status.stderr);
        assert.deepEqual(await tablesIn(env, engine, schema), [], 'no table was created');
      });

      test('commands that only read refuse an older schema, saying which command migrates it; a writing command migrates it', async () => {
        const schema = await createTestDatabase(env, engine);
        const seed = await openServerStore(serverSettings(env, engine, schema));
        try {
          await seed.insertWorkers([new WorkSpec({ computingSite: 'Q_OLD', status: 'running' })]);
        } finally {
          await seed.close();
        }
        // An older schema: one a later harvester-ts adds a column to (every open with migration adds it back).
        const column = WorkSpec.columns.find((c) => c.index !== true && c.primaryKey !== true && c.name !== 'workerID')?.name;
        assert.ok(column !== undefined);
        const q = engine === 'postgresql' ? `"${column}"` : `\`${column}\``;
        await adminQuery(env, engine, [`ALTER TABLE work_table DROP COLUMN ${q}`], schema);

        const home = homeFor(env, engine, schema);
        for (const result of await Promise.all(readingCommands.map((args) => run(args, home)))) {
          assertOneLineRefusal(result, env, engine, schema, new RegExp(`without the column work_table\\.${column} .*does not migrate: \`harvester run\` migrates it`));
        }
        assert.equal(await hasColumn(env, engine, schema, 'work_table', column), false, 'the reading commands added no column');

        const added = await run(['jobs', 'add', '--queue', 'local', '--command', 'true'], home);
        assert.equal(added.status, 0, added.stderr);
        assert.equal(await hasColumn(env, engine, schema, 'work_table', column), true, 'jobs add migrated the schema');
        const listed = await run(['workers', 'list', '--json'], home);
        assert.equal(listed.status, 0, listed.stderr);
        assert.match(listed.stdout, /Q_OLD/);
      });

      test('a writing command creates the schema on a database without harvester-ts tables', async () => {
        const schema = await createTestDatabase(env, engine);
        const home = homeFor(env, engine, schema);
        const added = await run(['jobs', 'add', '--queue', 'local', '--command', 'true', '--json'], home);
        assert.equal(added.status, 0, added.stderr);
        const listed = await run(['jobs', 'list', '--json'], home);
        assert.equal(listed.status, 0, listed.stderr);
        assert.equal((JSON.parse(listed.stdout) as unknown[]).length, 1, listed.stdout);
      });
    });
  }
}
