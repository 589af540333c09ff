// better-sqlite3, loaded when a store is first opened rather than when the module is imported. The offline
// bundle (the bot's install on an HPC login node) carries no native module: its one-file CLI must load
// without better-sqlite3, and a bundler hoists a static import of it to the top of the file.
import type BetterSqlite3 from 'better-sqlite3';
import { StoreOpenError } from '../errors.js';

export type SqliteDriver = typeof BetterSqlite3;

let loaded: SqliteDriver | undefined;

/** better-sqlite3's constructor; a StoreOpenError naming the database when the module cannot be loaded. */
export async function loadSqliteDriver(database: string): Promise<SqliteDriver> {
  if (loaded === undefined) {
    try {
      loaded = (await import('better-sqlite3')).default;
    } catch (error) {
      const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
      throw new StoreOpenError(database, `the SQLite driver better-sqlite3 cannot be loaded (${reason}); install harvester-ts with its dependencies (npm ci)`, {
        cause: error,
      });
    }
  }
  return loaded;
}

/** better-sqlite3 once a store was opened; undefined before (then no error can come from it). */
export function loadedSqliteDriver(): SqliteDriver | undefined {
  return loaded;
}
