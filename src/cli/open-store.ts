// The one way to the database, for `harvester run` and every admin command: openStore chooses the engine
// the master configuration names ([db] engine). SQLite: the file db.database_filename (default
// <home>/harvester.db); reading commands never create it (a fresh home has nothing to list) and writing
// commands create it with its directory. MariaDB/PostgreSQL: the server, whose schema `harvester run` and the
// writing commands create or migrate; reading commands never create or change it (an absent or older schema
// is refused in one line saying which command creates or migrates it). Store errors already name the database and the cause in one line; they reach main's
// reporter unchanged (exit 1). Admin commands fail at once when the server is unreachable; the agents wait
// for it up to reconnectTimeout, saying so in the log.
// The engines' drivers are loaded only when a command opens the store: the bot runs the same CLI and never
// needs them, and the offline bundle (the bot's install on a login node) does not carry them at all.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { MasterConfig } from '../config/index.js';
import type { ServerDbSettings } from '../config/agent-settings.js';
import type { Logger } from '../logging/index.js';
import type { ReconnectEvent } from '../store/server/reconnect.js';
import { describeServer, serverAddress, type ServerConnectionSettings } from '../store/server/settings.js';
import { runningBundled } from '../package-location.js';
import { StoreOpenError } from '../store/errors.js';
import type { Store } from '../store/store.js';
import { UsageError } from './exit-codes.js';
import { privateDirectoryMode } from './home-dir.js';

/** A command that needs the store, run from the offline bundle (exit 2: it belongs on the core). */
export class StoreNotInBundleError extends UsageError {
  constructor() {
    super(
      'the offline bundle has no store (it carries the bot and the commands that need no database): ' +
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

/** Who opens the store: an admin command (fails at once on an unreachable server) or the agents (wait). */
export interface OpenStoreOptions {
  /**
   * read: a SQLite file that does not exist is not created (undefined is returned); a server's schema is
   * neither created nor migrated (StoreSchemaMissingError, StoreSchemaTooOldError).
   */
  readonly mode: 'read' | 'write' | 'agents';
  /** Where the agents say that the server is unreachable and that it is back. */
  readonly log?: Logger;
}

/** The connection settings of a server engine, with the TLS CA file read; StoreOpenError when it cannot be. */
export function serverConnectionSettings(server: ServerDbSettings, options: { reconnectTimeoutSec: number; onEvent?: (event: ReconnectEvent) => void }): ServerConnectionSettings {
  let tls: ServerConnectionSettings['tls'];
  if (server.tls !== undefined) {
    let ca: string | undefined;
    if (server.tls.caFile !== undefined) {
      try {
        ca = readFileSync(server.tls.caFile, 'utf8');
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? String(error);
        throw new StoreOpenError(describeServer(server), `cannot read db.tls.ca ${server.tls.caFile} (${code})`, { cause: error });
      }
    }
    tls = { rejectUnauthorized: server.tls.rejectUnauthorized, ...(ca === undefined ? {} : { ca }) };
  }
  return {
    engine: server.engine,
    host: server.host,
    port: server.port,
    user: server.user,
    ...(server.password === undefined ? {} : { password: server.password.value }),
    schema: server.schema,
    nConnections: server.nConnections,
    reconnectTimeoutSec: options.reconnectTimeoutSec,
    ...(options.onEvent === undefined ? {} : { onEvent: options.onEvent }),
    ...(tls === undefined ? {} : { tls }),
  };
}

/**
 * Logs the agents' waits for the server and its return (warn, then info), never more than one line a retry.
 * Each line names the server (host:port, and the database URL without the password) and the operation.
 */
function reconnectLogger(log: Logger | undefined, server: ServerDbSettings): ((event: ReconnectEvent) => void) | undefined {
  if (log === undefined) return undefined;
  const database = describeServer(server);
  const where = serverAddress(server);
  return (event) => {
    if (event.kind === 'retrying') {
      log.warn(
        { database, operation: event.operation, attempt: event.attempt, retryInMs: event.waitMs, giveUpInS: Math.round(event.remainingMs / 1000) },
        `database server ${where} unreachable (${event.reason}); ${event.operation} waits for it and retries (attempt ${event.attempt}), nothing is lost`,
      );
    } else {
      log.info(
        { database, operation: event.operation, attempts: event.attempts, downMs: event.downMs },
        `database server ${where} reachable again; ${event.operation} done after ${event.attempts} attempts (${event.downMs} ms)`,
      );
    }
  };
}

/**
 * The store the master configuration names. SQLite in mode "read": undefined when the file does not exist.
 * A server engine: connected and migrated, in mode "read" connected to the schema as it is; in mode "agents"
 * an unreachable server is waited for up to reconnectTimeout (also for every later call), in the other modes
 * it fails at once.
 */
export async function openStore(master: MasterConfig, options: OpenStoreOptions & { mode: 'write' | 'agents' }): Promise<Store>;
export async function openStore(master: MasterConfig, options: OpenStoreOptions): Promise<Store | undefined>;
export async function openStore(master: MasterConfig, options: OpenStoreOptions): Promise<Store | undefined> {
  requireStoreSupport();
  const server = master.db.server;
  if (server !== undefined) {
    const { openServerStore } = await import('../store/server/open-server-store.js');
    const agents = options.mode === 'agents';
    const onEvent = reconnectLogger(options.log, server);
    return openServerStore(serverConnectionSettings(server, { reconnectTimeoutSec: agents ? server.reconnectTimeout : 0, ...(onEvent === undefined ? {} : { onEvent }) }), {
      schema: options.mode === 'read' ? 'existing' : 'migrate',
    });
  }
  const file = master.db.databaseFile;
  if (options.mode === 'read') return existsSync(file) ? openSqlite(file) : undefined;
  const directory = dirname(file);
  try {
    // Usually the home: created owner-only, like the database files in it.
    mkdirSync(directory, { recursive: true, mode: privateDirectoryMode });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new StoreOpenError(file, `cannot create its directory ${directory} (${code})`, { cause: error });
  }
  return openSqlite(file);
}

/** The store when there is one; undefined for a SQLite home that has no database yet. A server's schema is used as it is, never created or migrated. */
export async function openExistingStore(master: MasterConfig): Promise<Store | undefined> {
  return openStore(master, { mode: 'read' });
}

/** The store, creating the SQLite file (and its directory) when absent. */
export async function openStoreForWrite(master: MasterConfig): Promise<Store> {
  return openStore(master, { mode: 'write' });
}

/** Runs `use` with the store and closes it afterwards, whether `use` succeeded or not. */
export async function withStore<T>(store: Store, use: (store: Store) => Promise<T>): Promise<T> {
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}
