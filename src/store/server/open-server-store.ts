// Opening a server store: the engine's driver (loaded when first needed: the offline bundle carries
// neither), then the schema brought to this version under the schema lock, refusing a newer one.
import { StoreSchemaTooNewError } from '../errors.js';
import { migrateServer, readServerSchemaVersion, SERVER_SCHEMA_VERSION } from './schema.js';
import { ServerStore } from './server-store.js';
import type { ServerDriver } from './session.js';
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

/**
 * Connects (retrying up to reconnectTimeout while the server is unreachable), migrates and returns the
 * store. Throws StoreConnectionError (login refused, unknown database, unreachable) naming host, port and
 * user, or StoreSchemaTooNewError.
 */
export async function openServerStore(settings: ServerConnectionSettings): Promise<ServerStore> {
  return openServerStoreOn(await serverDriverFor(settings));
}

/** openServerStore on a driver already made (a benchmark's statement-counting wrapper of one); closes it on failure. */
export async function openServerStoreOn(driver: ServerDriver): Promise<ServerStore> {
  try {
    await driver.transaction('open', async (session) => {
      const lock = await driver.dialect.lockSchema(session);
      try {
        const found = await readServerSchemaVersion(session, driver.dialect);
        if (found > SERVER_SCHEMA_VERSION) throw new StoreSchemaTooNewError(driver.database, found, SERVER_SCHEMA_VERSION);
        await migrateServer(session, driver.dialect, found);
      } finally {
        await lock.unlock();
      }
    });
  } catch (error) {
    await driver.close().catch(() => undefined);
    throw error;
  }
  return new ServerStore(driver);
}
