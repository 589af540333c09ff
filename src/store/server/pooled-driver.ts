// What the two server drivers share: how they name the database, one transaction's retries and the
// classification of its failures (serverTransaction), and closing. Each engine brings its pool, the attempt
// on one of its connections and how to read its connector's errors.
import { StoreClosedError } from '../errors.js';
import { serverTransaction, type EngineFailures } from './reconnect.js';
import type { ServerDialect, ServerDriver, SqlSession } from './session.js';
import { describeServer, type ServerConnectionSettings } from './settings.js';

export abstract class PooledServerDriver implements ServerDriver {
  abstract readonly dialect: ServerDialect;
  readonly database: string;
  readonly schema: string;
  protected readonly settings: ServerConnectionSettings;
  protected abstract readonly failures: EngineFailures;
  #closed = false;

  protected constructor(settings: ServerConnectionSettings) {
    this.settings = settings;
    this.database = describeServer(settings);
    this.schema = settings.schema;
  }

  /** One try of the transaction on one pooled connection: committed, or rolled back and thrown. */
  protected abstract attempt<T>(operation: string, work: (session: SqlSession) => Promise<T>): Promise<T>;

  /** Ends the pool (every connection closed). */
  protected abstract endPool(): Promise<void>;

  transaction<T>(operation: string, work: (session: SqlSession) => Promise<T>): Promise<T> {
    return serverTransaction({
      operation,
      database: this.database,
      settings: this.settings,
      closed: () => this.#closed,
      // A closed driver makes no connection at all (MariaDB would probe the server first).
      attempt: () => (this.#closed ? Promise.reject(new StoreClosedError(this.database, operation)) : this.attempt(operation, work)),
      failures: this.failures,
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.endPool();
  }
}
