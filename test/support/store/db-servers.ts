// Access to the database servers that scripts/db-servers starts (PostgreSQL and MariaDB on loopback, with a
// test user). Tests read the connection file (DBSERVERS_ENV, default /run/harvester-dbservers/env.json);
// without it they skip saying why, except under CI=true, where a missing server fails the test.
import { spawn } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import mariadb from 'mariadb';
import pg from 'pg';
import { z } from 'zod';
import type { ServerConnectionSettings } from '../../../src/store/server/settings.js';
import type { ServerEngine } from '../../../src/store/server/session.js';

export const serverEngines: readonly ServerEngine[] = ['postgresql', 'mariadb'];

const serverSchema = z.object({ host: z.string().min(1), port: z.number().int().positive(), user: z.string().min(1), database: z.string().min(1) });
// tls: the CA that signed both servers' certificate, and another CA that signed nothing (older env files lack it).
const tlsSchema = z.object({ ca: z.string().min(1), otherCa: z.string().min(1) });
const envSchema = z.object({ password: z.string().min(1), postgresql: serverSchema, mariadb: serverSchema, tls: tlsSchema.optional() });
export type DbServersEnv = z.output<typeof envSchema>;

export const dbServersEnvFile = process.env.DBSERVERS_ENV ?? '/run/harvester-dbservers/env.json';

/** Why the servers cannot be used, or undefined when the connection file is there. */
export function dbServersProblem(): string | undefined {
  if (!existsSync(dbServersEnvFile)) return `the test database servers are not up (${dbServersEnvFile} is missing): run scripts/db-servers up as root`;
  return undefined;
}

/** The servers' description; throws under CI=true when they are not up, else undefined (the caller skips). */
export function loadDbServers(): DbServersEnv | undefined {
  const problem = dbServersProblem();
  if (problem !== undefined) {
    if (process.env.CI === 'true') throw new Error(problem);
    return undefined;
  }
  return envSchema.parse(JSON.parse(readFileSync(dbServersEnvFile, 'utf8')));
}

/**
 * One describe per server engine, titled `title(engine)`, dropping that engine's test databases after the file;
 * without the servers (`env` undefined, outside CI), one test skipped with the reason, titled `skipTitle`.
 */
export function describeOnServerEngines(
  env: DbServersEnv | undefined,
  skipTitle: string,
  title: (engine: ServerEngine) => string,
  suite: (env: DbServersEnv, engine: ServerEngine) => void,
): void {
  if (env === undefined) {
    test(skipTitle, (t) => t.skip(dbServersProblem()));
    return;
  }
  for (const engine of serverEngines) {
    after(() => dropTestDatabases(env, engine));
    describe(title(engine), () => suite(env, engine));
  }
}

/** Settings for a database of the test server. */
export function serverSettings(env: DbServersEnv, engine: ServerEngine, schema: string, overrides: Partial<ServerConnectionSettings> = {}): ServerConnectionSettings {
  const server = env[engine];
  return { engine, host: server.host, port: server.port, user: server.user, password: env.password, schema, nConnections: 4, reconnectTimeoutSec: 0, ...overrides };
}

/**
 * Stops or starts one engine's test server (scripts/db-servers keeps its data directory across): the server
 * the connection file describes, whatever DBSERVERS_DIR and the port variables say, so a test run against a
 * second pair never stops the suite's own servers.
 */
export async function stopOrStartDbServer(env: DbServersEnv, engine: ServerEngine, action: 'stop' | 'start'): Promise<void> {
  const script = fileURLToPath(new URL('../../../../scripts/db-servers', import.meta.url));
  const child = spawn('bash', [script, `${action}-${engine}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, DBSERVERS_DIR: dirname(dbServersEnvFile), DBSERVERS_PG_PORT: String(env.postgresql.port), DBSERVERS_MARIADB_PORT: String(env.mariadb.port) },
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (status !== 0) throw new Error(`scripts/db-servers ${action}-${engine} (${dirname(dbServersEnvFile)}) exited with ${status}: ${stderr.trim()}`);
}

let counter = 0;

/** A new, empty database on the engine's test server: returns its name (harvester_test_<pid>_<n>). */
export async function createTestDatabase(env: DbServersEnv, engine: ServerEngine): Promise<string> {
  const name = `${env[engine].database}_${process.pid}_${counter++}`;
  await adminQuery(env, engine, [`DROP DATABASE IF EXISTS ${name}`, `CREATE DATABASE ${name}`]);
  return name;
}

/** Drops the test databases this process created. */
export async function dropTestDatabases(env: DbServersEnv, engine: ServerEngine): Promise<void> {
  const names = Array.from({ length: counter }, (_, i) => `${env[engine].database}_${process.pid}_${i}`);
  await adminQuery(env, engine, names.map((name) => `DROP DATABASE IF EXISTS ${name}${engine === 'postgresql' ? ' WITH (FORCE)' : ''}`));
}

/** One statement on an admin session: `?` placeholders for both engines; the rows (none for a statement that returns none). */
export type AdminSql = (sql: string, parameters?: readonly unknown[]) => Promise<Record<string, unknown>[]>;

/** Runs `work` on one connection as the test user to a database (default: the engine's base test database). */
export async function withAdminSession<T>(env: DbServersEnv, engine: ServerEngine, database: string | undefined, work: (sql: AdminSql) => Promise<T>): Promise<T> {
  const server = { ...env[engine], ...(database === undefined ? {} : { database }) };
  if (engine === 'postgresql') {
    const client = new pg.Client({ host: server.host, port: server.port, user: server.user, password: env.password, database: server.database });
    await client.connect();
    try {
      return await work(async (sql, parameters = []) => {
        let n = 0;
        return (await client.query(sql.replace(/\?/g, () => `$${++n}`), [...parameters])).rows as Record<string, unknown>[];
      });
    } finally {
      await client.end();
    }
  }
  const connection = await mariadb.createConnection({ host: server.host, port: server.port, user: server.user, password: env.password, database: server.database });
  try {
    return await work(async (sql, parameters = []) => {
      const result: unknown = await connection.query(sql, [...parameters]);
      return Array.isArray(result) ? (result as Record<string, unknown>[]) : [];
    });
  } finally {
    await connection.end();
  }
}

/** Runs statements as the test user against a database (default: the engine's base test database). */
export async function adminQuery(env: DbServersEnv, engine: ServerEngine, statements: readonly string[], database?: string): Promise<unknown[]> {
  return withAdminSession(env, engine, database, async (sql) => {
    const results: unknown[] = [];
    for (const statement of statements) results.push(await sql(statement));
    return results;
  });
}
