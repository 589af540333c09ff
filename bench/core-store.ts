// Which store engine the core benchmark measures: SQLite on a file in the environment's home (default), or
// PostgreSQL/MariaDB on the test servers of scripts/db-servers (their connection file, DBSERVERS_ENV,
// default /run/harvester-dbservers/env.json), each environment on a database of its own, dropped after.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import mariadb from 'mariadb';
import pg from 'pg';
import { z } from 'zod';
import { SqliteStore, type Store } from '../src/store/index.js';
import { openServerStoreOn, serverDriverFor } from '../src/store/server/open-server-store.js';
import type { ServerConnectionSettings } from '../src/store/server/settings.js';
import type { ServerEngine } from '../src/store/server/session.js';
import type { StatementTrace } from './statement-trace.js';

export const benchEngines = ['sqlite', 'postgresql', 'mariadb'] as const;
export type BenchEngine = (typeof benchEngines)[number];

let engine: BenchEngine = 'sqlite';

export function setBenchEngine(chosen: BenchEngine): void {
  engine = chosen;
}

export function benchEngine(): BenchEngine {
  return engine;
}

let trace: StatementTrace | undefined;

/** Server stores opened from now on report their statements to `chosen` (bench/core-trace.ts). */
export function traceBenchStatements(chosen: StatementTrace | undefined): void {
  trace = chosen;
}

const serverSchema = z.object({ host: z.string(), port: z.number(), user: z.string(), database: z.string() });
const envSchema = z.object({ password: z.string(), postgresql: serverSchema, mariadb: serverSchema });
const envFile = process.env.DBSERVERS_ENV ?? '/run/harvester-dbservers/env.json';

/** The connection settings of a new, empty database on the engine's test server. */
export async function newServerDatabase(server: ServerEngine, nConnections = 4): Promise<{ settings: ServerConnectionSettings; drop: () => Promise<void> }> {
  if (!existsSync(envFile)) throw new Error(`bench: ${server} needs the test database servers: run scripts/db-servers up as root (${envFile} is missing)`);
  const env = envSchema.parse(JSON.parse(readFileSync(envFile, 'utf8')));
  const s = env[server];
  const name = `${s.database}_bench_${process.pid}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  await admin(server, env.password, s, [`CREATE DATABASE ${name}`]);
  return {
    settings: { engine: server, host: s.host, port: s.port, user: s.user, password: env.password, schema: name, nConnections, reconnectTimeoutSec: 0 },
    drop: () => dropDatabase(server, env.password, s, name),
  };
}

/**
 * Drops a benchmark database. PostgreSQL refuses while an autovacuum worker is in it (FORCE may not end a
 * superuser's process; 42501): a freshly churned table is often being vacuumed right then. Tries again for 60 s.
 */
async function dropDatabase(server: ServerEngine, password: string, s: z.output<typeof serverSchema>, name: string): Promise<void> {
  const sql = `DROP DATABASE IF EXISTS ${name}${server === 'postgresql' ? ' WITH (FORCE)' : ''}`;
  for (let attempt = 1; ; attempt++) {
    try {
      await admin(server, password, s, [sql]);
      return;
    } catch (error) {
      if (attempt >= 60 || (error as { code?: string }).code !== '42501') throw error;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

async function admin(server: ServerEngine, password: string, s: z.output<typeof serverSchema>, statements: readonly string[]): Promise<void> {
  if (server === 'postgresql') {
    const client = new pg.Client({ host: s.host, port: s.port, user: s.user, password, database: s.database });
    await client.connect();
    try {
      for (const sql of statements) await client.query(sql);
    } finally {
      await client.end();
    }
    return;
  }
  const connection = await mariadb.createConnection({ host: s.host, port: s.port, user: s.user, password, database: s.database });
  try {
    for (const sql of statements) await connection.query(sql);
  } finally {
    await connection.end();
  }
}

/** A store of the chosen engine for a benchmark home, and how to remove it. */
export async function openBenchStore(home: string): Promise<{ store: Store; remove: () => Promise<void> }> {
  if (engine === 'sqlite') {
    const store = await SqliteStore.open(join(home, 'harvester.db'));
    return { store, remove: async () => undefined };
  }
  const { settings, drop } = await newServerDatabase(engine);
  const driver = await serverDriverFor(settings);
  const store = await openServerStoreOn(trace === undefined ? driver : trace.wrap(driver));
  return { store, remove: drop };
}
