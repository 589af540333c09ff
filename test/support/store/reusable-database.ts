// Test support: one migrated database of a test server, handed out empty again and again, for suites whose
// every test wants a new, empty store (the conformance suite). Creating and migrating a database per test
// was most of their time (on MariaDB about 2 s a test, each CREATE TABLE being DDL); emptying one takes a
// tenth of it. `empty()` deletes every row, restarts the key generators and puts back the rows the migration
// wrote (the PandaID sequence), so a store opened on it cannot tell it from a new database: the same keys
// come out first. What it finds to empty is read from the database after the migration, not listed here.
import type { ServerEngine } from '../../../src/store/server/session.js';
import { createTestDatabase, withAdminSession, type AdminSql, type DbServersEnv } from './db-servers.js';

export interface ReusableTestDatabase {
  readonly name: string;
  /** Back to the state the migration left: no rows of tests, key generators at their start. */
  empty(): Promise<void>;
}

interface Baseline {
  /** Tables to empty, children (with foreign keys) first. */
  readonly tables: readonly string[];
  /** Tables whose key the engine assigns (BIGSERIAL / AUTO_INCREMENT), with that column. */
  readonly autoKeys: readonly { table: string; column: string }[];
  /** The rows the migration wrote, per table. */
  readonly rows: ReadonlyMap<string, readonly Record<string, unknown>[]>;
}

const SCHEMA_VERSION_TABLE = 'schema_version';

/** A new database of the engine's test server, migrated by `migrate` (open and close a store on it). */
export async function reusableTestDatabase(env: DbServersEnv, engine: ServerEngine, migrate: (name: string) => Promise<void>): Promise<ReusableTestDatabase> {
  const name = await createTestDatabase(env, engine);
  await migrate(name);
  const baseline = await withAdminSession(env, engine, name, (sql) => readBaseline(sql, engine, name));
  return { name, empty: () => withAdminSession(env, engine, name, (sql) => emptyTo(sql, engine, baseline)) };
}

function quoted(engine: ServerEngine, identifier: string): string {
  return engine === 'postgresql' ? `"${identifier}"` : `\`${identifier}\``;
}

async function readBaseline(sql: AdminSql, engine: ServerEngine, name: string): Promise<Baseline> {
  const schemaIs = engine === 'postgresql' ? `table_schema = 'public'` : `table_schema = '${name}'`;
  const tableRows = await sql(`SELECT table_name AS ${quoted(engine, 't')} FROM information_schema.tables WHERE ${schemaIs} AND table_type = 'BASE TABLE'`);
  const all = tableRows.map((r) => String(r.t)).filter((t) => t !== SCHEMA_VERSION_TABLE);
  const referencing = await sql(`SELECT DISTINCT table_name AS ${quoted(engine, 't')} FROM information_schema.table_constraints WHERE ${schemaIs} AND constraint_type = 'FOREIGN KEY'`);
  const children = new Set(referencing.map((r) => String(r.t)));
  const tables = [...all.filter((t) => children.has(t)), ...all.filter((t) => !children.has(t))];
  const autoKeyCondition = engine === 'postgresql' ? `column_default LIKE 'nextval(%'` : `extra LIKE '%auto_increment%'`;
  const autoKeys = (await sql(`SELECT table_name AS ${quoted(engine, 't')}, column_name AS ${quoted(engine, 'c')} FROM information_schema.columns WHERE ${schemaIs} AND ${autoKeyCondition}`)).map((r) => ({
    table: String(r.t),
    column: String(r.c),
  }));
  const rows = new Map<string, Record<string, unknown>[]>();
  for (const table of tables) {
    const found = await sql(`SELECT * FROM ${quoted(engine, table)}`);
    if (found.length > 0) rows.set(table, found);
  }
  return { tables, autoKeys, rows };
}

async function emptyTo(sql: AdminSql, engine: ServerEngine, baseline: Baseline): Promise<void> {
  // MariaDB checks foreign keys row by row even in a DELETE of everything; children go first anyway.
  if (engine === 'mariadb') await sql('SET foreign_key_checks = 0');
  for (const table of baseline.tables) await sql(`DELETE FROM ${quoted(engine, table)}`);
  for (const { table, column } of baseline.autoKeys) {
    if (engine === 'postgresql') await sql('SELECT setval(pg_get_serial_sequence(?, ?), 1, false)', [quoted(engine, table), column]);
    else await sql(`ALTER TABLE ${quoted(engine, table)} AUTO_INCREMENT = 1`);
  }
  for (const [table, rows] of baseline.rows) {
    for (const row of rows) {
      const columns = Object.keys(row);
      await sql(`INSERT INTO ${quoted(engine, table)} (${columns.map((c) => quoted(engine, c)).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`, columns.map((c) => row[c]));
    }
  }
  if (engine === 'mariadb') await sql('SET foreign_key_checks = 1');
}
