// The [db] section resolved: the engine, the SQLite file, and for a server engine where and as whom to
// connect, defaulted in one place (agent-settings.ts dbDefaults). describeDbSettings shows it to people
// with the password masked.
import { dbDefaults, dbEngineOf, defaultDatabaseFileName, type DbSettings, type dbSectionSchema } from './agent-settings.js';
import { describeSecret } from './secret-values.js';
import type { Secret } from './types.js';
import type { z } from 'zod';

type DbSection = Partial<z.output<typeof dbSectionSchema>>;

export function dbSettingsFrom(section: DbSection, password: Secret | undefined, underHome: (path: string) => string): DbSettings {
  const engine = dbEngineOf(section.engine);
  const databaseFile = underHome(section.database_filename ?? defaultDatabaseFileName);
  if (engine === 'sqlite') return { engine, databaseFile };
  const tls = section.tls === undefined || section.tls === false ? undefined : section.tls === true ? { rejectUnauthorized: true } : section.tls;
  return {
    engine,
    databaseFile,
    server: {
      engine,
      host: section.host ?? dbDefaults.host,
      port: section.port ?? dbDefaults.port[engine],
      user: section.user ?? dbDefaults.user,
      ...(password === undefined ? {} : { password }),
      schema: section.schema ?? dbDefaults.schema,
      nConnections: section.nConnections ?? dbDefaults.nConnections,
      reconnectTimeout: section.reconnectTimeout ?? dbDefaults.reconnectTimeout,
      ...(tls === undefined
        ? {}
        : { tls: { rejectUnauthorized: tls.rejectUnauthorized ?? true, ...(tls.ca === undefined ? {} : { caFile: underHome(tls.ca) }) } }),
    },
  };
}

/** The settings as plain values for people (logs, status lines): the password as "***" and its source. */
export function describeDbSettings(db: DbSettings): Record<string, unknown> {
  if (db.server === undefined) return { engine: db.engine, database_filename: db.databaseFile };
  const { password, tls, ...plain } = db.server;
  return { ...plain, ...(password === undefined ? {} : { password: describeSecret(password) }), ...(tls === undefined ? {} : { tls }) };
}
