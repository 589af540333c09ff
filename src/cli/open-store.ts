// The admin commands' way to the database: the SQLite file the master config names (db.database_filename,
// default <home>/harvester.db). Reading commands never create it — a fresh home has nothing to list — and
// writing commands create it with its directory. Store errors (corrupt file, newer schema, read-only...)
// already name the file and the cause in one line; they reach main's reporter unchanged (exit 1).
// SQLite (a native module) is loaded only when a command opens the store: the bot runs the same CLI and
// never needs it, and the offline bundle (the bot's install on a login node) does not carry it at all.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { MasterConfig } from '../config/index.js';
import { runningBundled } from '../package-location.js';
import { StoreOpenError } from '../store/errors.js';
import type { Store } from '../store/store.js';
import { UsageError } from './exit-codes.js';

/** A command that needs the store, run from the offline bundle (exit 2: it belongs on the core). */
export class StoreNotInBundleError extends UsageError {
  constructor() {
    super(
      'the offline bundle has no SQLite store (it carries the bot and the commands that need no database): ' +
        'run this command on the core, where harvester-ts is installed with its dependencies',
    );
  }
}

/** Throws StoreNotInBundleError in the offline bundle; for commands that need the store, before they start anything. */
export function requireStoreSupport(): void {
  if (runningBundled) throw new StoreNotInBundleError();
}

async function openSqlite(file: string): Promise<Store> {
  const { SqliteStore } = await import('../store/sqlite-store.js');
  return SqliteStore.open(file);
}

/** The store when the database file exists; undefined for a home that has no database yet. */
export async function openExistingStore(master: MasterConfig): Promise<Store | undefined> {
  requireStoreSupport();
  const file = master.db.databaseFile;
  if (!existsSync(file)) return undefined;
  return openSqlite(file);
}

/** The store, creating the database file (and its directory) when absent. */
export async function openStoreForWrite(master: MasterConfig): Promise<Store> {
  requireStoreSupport();
  const file = master.db.databaseFile;
  const directory = dirname(file);
  try {
    mkdirSync(directory, { recursive: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new StoreOpenError(file, `cannot create its directory ${directory} (${code})`, { cause: error });
  }
  return openSqlite(file);
}

/** Runs `use` with the store and closes it afterwards, whether `use` succeeded or not. */
export async function withStore<T>(store: Store, use: (store: Store) => Promise<T>): Promise<T> {
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}
