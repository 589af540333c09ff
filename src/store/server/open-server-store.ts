// Opening a server store: the engine's driver (loaded when first needed: the offline bundle carries
// neither), then the schema brought to this version under the schema lock, refusing a newer one; or, for
// the admin commands that only read, the schema checked as it is and never created or changed.
import { StoreSchemaMissingError, StoreSchemaTooNewError, StoreSchemaTooOldError } from '../errors.js';
import { migrateServer, missingServerColumns, readServerSchemaVersion, SERVER_SCHEMA_VERSION } from './schema.js';
import { ServerStore } from './server-store.js';
import type { ServerDriver, SqlSession } from './session.js';
import type { ServerConnectionSettings } from './settings.js';

/** The engine's driver for the settings (not connected until first used). */
export async function serverDriverFor(settings: ServerConnectionSettings): Promise<ServerDriver> {
  if (settings.engine === 'postgresql') {
    const { PostgresqlDriver } = await import('../postgresql/driver.js');
    return PostgresqlDriver.create(settings);
  }
  const { MariadbDriver } = await import('../mariadb/driver.js');
  return MariadbDriver.create(settings);
}

export interface OpenServerStoreOptions {
  /**
   * "migrate" (the default; `harvester run` and the commands that write): create the schema when absent and
   * migrate an older one. "existing" (the commands that only read): use the schema as it is, refusing an
   * absent or older one, so that reading never creates or changes anything on the server.
   */
  readonly schema?: 'migrate' | 'existing';
}

async function migrate(driver: ServerDriver, session: SqlSession): Promise<void> {
  const lock = await driver.dialect.lockSchema(session);
  try {
    const found = await readServerSchemaVersion(session, driver.dialect);
    if (found > SERVER_SCHEMA_VERSION) throw new StoreSchemaTooNewError(driver.database, found, SERVER_SCHEMA_VERSION);
    await migrateServer(session, driver.dialect, found);
  } finally {
    await lock.unlock();
  }
}

async function checkExisting(driver: ServerDriver, session: SqlSession): Promise<void> {
  const found = await readServerSchemaVersion(session, driver.dialect);
  if (found > SERVER_SCHEMA_VERSION) throw new StoreSchemaTooNewError(driver.database, found, SERVER_SCHEMA_VERSION);
  if (found === 0) throw new StoreSchemaMissingError(driver.database, driver.schema);
  const missing = found < SERVER_SCHEMA_VERSION ? [] : await missingServerColumns(session, driver.dialect);
  if (found < SERVER_SCHEMA_VERSION || missing.length > 0) throw new StoreSchemaTooOldError(driver.database, found, SERVER_SCHEMA_VERSION, missing);
}

/**
 * Connects (retrying up to reconnectTimeout while the server is unreachable), migrates (or checks, see
 * OpenServerStoreOptions) and returns the store. Throws StoreConnectionError (login refused, unknown
 * database, unreachable, TLS refused) naming host, port and user, StoreSchemaTooNewError, or with schema
 * "existing" StoreSchemaMissingError or StoreSchemaTooOldError.
 */
export async function openServerStore(settings: ServerConnectionSettings, options: OpenServerStoreOptions = {}): Promise<ServerStore> {
  return openServerStoreOn(await serverDriverFor(settings), options);
}

/** openServerStore on a driver already made (a benchmark's statement-counting wrapper of one); closes it on failure. */
export async function openServerStoreOn(driver: ServerDriver, options: OpenServerStoreOptions = {}): Promise<ServerStore> {
  try {
    await driver.transaction('open', (session) => (options.schema === 'existing' ? checkExisting(driver, session) : migrate(driver, session)));
  } catch (error) {
    await driver.close().catch(() => undefined);
    throw error;
  }
  return new ServerStore(driver);
}
