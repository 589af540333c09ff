// Turns better-sqlite3's errors (SqliteError with an extended result code) into the store's typed errors.
import type Database from 'better-sqlite3';
import {
  StoreBusyError,
  StoreCorruptError,
  StoreDiskFullError,
  StoreError,
  StoreOpenError,
  StoreQueryError,
  StoreReadOnlyError,
} from '../errors.js';
import { loadedSqliteDriver } from './driver.js';

/** better-sqlite3's error: an Error with SQLite's extended result code ("SQLITE_FULL"...). */
type SqliteError = InstanceType<typeof Database.SqliteError>;

export function isSqliteError(error: unknown): error is SqliteError {
  const driver = loadedSqliteDriver();
  return driver !== undefined && error instanceof driver.SqliteError;
}

/** The store error for an engine failure; StoreErrors and non-engine errors pass through unchanged. */
export function translateSqliteError(error: unknown, database: string, operation: string, busyTimeoutMs: number): unknown {
  if (error instanceof StoreError || !isSqliteError(error)) return error;
  const code = error.code;
  const detail = `${code}: ${error.message}`;
  if (code === 'SQLITE_FULL' || (code === 'SQLITE_IOERR_WRITE' && /disk|space/i.test(error.message))) {
    return new StoreDiskFullError(database, operation, { cause: error });
  }
  if (code.startsWith('SQLITE_READONLY')) return new StoreReadOnlyError(database, operation, detail, { cause: error });
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') return new StoreCorruptError(database, operation, detail, { cause: error });
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return new StoreBusyError(database, operation, busyTimeoutMs, { cause: error });
  if (code.startsWith('SQLITE_CANTOPEN')) {
    return operation === 'open'
      ? new StoreOpenError(database, detail, { cause: error })
      : new StoreReadOnlyError(database, operation, `${detail} (the -wal/-shm files cannot be created or opened)`, { cause: error });
  }
  if (code.startsWith('SQLITE_PERM') || code.startsWith('SQLITE_AUTH')) return new StoreReadOnlyError(database, operation, detail, { cause: error });
  return new StoreQueryError(database, operation, detail, { cause: error });
}
