// MariaDB through MariaDB's own connector (mariadb): a pool of connections, sessions in ANSI_QUOTES (the
// store's SQL quotes identifiers with double quotes), strict mode (a value that does not fit is refused,
// never cut), READ COMMITTED, autocommit off, BIGINT read as numbers. Tables compare text byte-wise (utf8mb4_nopad_bin), as
// SQLite and PostgreSQL do: 'Running' is not 'running', and 'a ' is not 'a'.
import type { ConnectionConfig, Pool, PoolConnection } from 'mariadb';

type MariadbModule = typeof import('mariadb');
import type { ColumnKind } from '../../spec/index.js';
import { StoreConnectionError, StoreError, StoreQueryError } from '../errors.js';
import { PooledServerDriver } from '../server/pooled-driver.js';
import { commitUnknown, socketErrorCodes, type EngineFailures } from '../server/reconnect.js';
import type { Parameter, ServerDialect, SqlSession } from '../server/session.js';
import { serverTarget, type ServerConnectionSettings } from '../server/settings.js';
import type { SqlValue } from '../sql/values.js';

export const mariadbDialect: ServerDialect = {
  engine: 'mariadb',
  inList(column: string, values: readonly SqlValue[]) {
    // The connector expands an array parameter into a list of values.
    return values.length === 0 ? { sql: '1 = 0', parameters: [] } : { sql: `"${column}" IN (?)`, parameters: [values] };
  },
  insertIgnore(table: string, columns: readonly string[]) {
    return { head: `INSERT IGNORE INTO "${table}" (${columns.map((c) => `"${c}"`).join(', ')})`, tail: '' };
  },
  ascNullsFirst(column: string) {
    return `"${column}" ASC`;
  },
  async followExplicitKeys() {
    // AUTO_INCREMENT moves past an explicit key by itself.
  },
  async advanceKey(session: SqlSession, table: string, _key: string, next: number) {
    // InnoDB never sets AUTO_INCREMENT below the largest key + 1, so this only ever moves it forward.
    if (!Number.isSafeInteger(next)) throw new Error(`bad AUTO_INCREMENT ${next}`);
    await session.execute(`ALTER TABLE "${table}" AUTO_INCREMENT = ${next}`);
  },
  columnType(kind: ColumnKind, indexed: boolean) {
    if (kind === 'integer' || kind === 'timestamp') return 'BIGINT';
    // An index needs a bounded type; 255 characters of utf8mb4 fit InnoDB's key size.
    return kind === 'text' && indexed ? 'VARCHAR(255)' : 'LONGTEXT';
  },
  dropIndex(table: string, index: string) {
    return `DROP INDEX IF EXISTS "${index}" ON "${table}"`;
  },
  autoKey: 'BIGINT AUTO_INCREMENT PRIMARY KEY',
  tableOptions: ' ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin',
  currentSchema: 'DATABASE()',
  async lockSchema(session: SqlSession) {
    // DDL commits implicitly in MariaDB: a named lock (not a transaction) serialises concurrent migrations.
    const [row] = await session.query(`SELECT GET_LOCK('harvester_ts_schema', 120) AS "got"`);
    if (Number(row?.got) !== 1) throw new Error('another process held the schema lock harvester_ts_schema for more than 120 s');
    return { unlock: async () => void (await session.query(`SELECT RELEASE_LOCK('harvester_ts_schema')`)) };
  },
};

interface SqlError extends Error {
  code?: string;
  errno?: number;
  sqlState?: string;
  fatal?: boolean;
  text?: string;
}

/** Connector codes that mean the connection is gone or cannot be made (the server may come back). */
const lostConnectionCodes: ReadonlySet<string> = new Set([
  'ER_SOCKET_UNEXPECTED_CLOSE',
  'ER_GET_CONNECTION_TIMEOUT',
  'ER_CONNECTION_TIMEOUT',
  'ER_CONNECTION_ALREADY_CLOSED',
  'ER_CONN_PVT_ACQUIRE_TIMEOUT',
  'ER_POOL_ALREADY_CLOSED',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
  'ER_SOCKET_TIMEOUT',
  'ER_SOCKET_CLOSED',
]);

/** How long a caller waits on the pool before the server is probed directly (see #acquire). */
const probeAfterMs = 1000;

export class MariadbDriver extends PooledServerDriver {
  readonly dialect = mariadbDialect;
  readonly #pool: Pool;
  readonly #connectionOptions: ConnectionConfig;
  readonly #mariadb: MariadbModule;
  #probe: Promise<unknown> | undefined;

  /** The connector is loaded here, not imported by the module (see PostgresqlDriver.create). */
  static async create(settings: ServerConnectionSettings): Promise<MariadbDriver> {
    const connector = (await import('mariadb')) as MariadbModule & { default?: MariadbModule };
    return new MariadbDriver(settings, connector.default ?? connector);
  }

  private constructor(settings: ServerConnectionSettings, mariadb: MariadbModule) {
    super(settings);
    this.#mariadb = mariadb;
    this.#connectionOptions = {
      host: settings.host,
      port: settings.port,
      user: settings.user,
      ...(settings.password === undefined ? {} : { password: settings.password }),
      database: settings.schema,
      connectTimeout: (settings.connectTimeoutSec ?? 10) * 1000,
      ...(settings.tls === undefined ? {} : { ssl: { rejectUnauthorized: settings.tls.rejectUnauthorized, ...(settings.tls.ca === undefined ? {} : { ca: settings.tls.ca }) } }),
      bigIntAsNumber: true,
      insertIdAsNumber: true,
      decimalAsNumber: true,
      foundRows: true,
      pipelining: true,
      // Errors must not carry the statement's values (rows may hold job parameters).
      logParam: false,
      // autocommit off: no statement ever commits by itself. A deadlock makes MariaDB roll the whole transaction
      // back at once, and statements already pipelined behind the failing one would otherwise each commit on
      // their own (half a write-back applied, its locks released, outside the transaction the caller retries).
      sessionVariables: { sql_mode: 'ANSI_QUOTES,STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO', tx_isolation: 'READ-COMMITTED', autocommit: 0 },
    };
    this.#pool = mariadb.createPool({
      ...this.#connectionOptions,
      connectionLimit: settings.nConnections,
      minimumIdle: 0,
      acquireTimeout: (settings.connectTimeoutSec ?? 10) * 1000 + 1000,
    });
  }

  /**
   * Why a direct connection (not the pool's) cannot be made: its error, or undefined when it can. Callers
   * that ask while a probe is under way share it (several agents waiting on the pool make one login, not one each).
   */
  #directConnectionError(): Promise<unknown> {
    this.#probe ??= (async () => {
      try {
        const connection = await this.#mariadb.createConnection(this.#connectionOptions);
        // Logged in: the server is there, whatever the goodbye does.
        await connection.end().catch(() => connection.destroy());
        return undefined;
      } catch (error) {
        return error;
      } finally {
        this.#probe = undefined;
      }
    })();
    return this.#probe;
  }

  /**
   * A connection from the pool. A pool whose server went away keeps retrying in silence until acquireTimeout
   * (11 s) for every caller queued on it: one that has waited probeAfterMs probes the server directly, and
   * when that fails too the caller fails now with the probe's reason (an outage, retried and logged), instead
   * of 11 s later. A pool that is only busy passes the probe, and the caller keeps waiting for it.
   */
  async #acquire(): Promise<PoolConnection> {
    const pending = this.#pool.getConnection();
    let timer: NodeJS.Timeout | undefined;
    const slow = new Promise<'slow'>((resolve) => (timer = setTimeout(() => resolve('slow'), probeAfterMs)));
    try {
      const first = await Promise.race([pending, slow]);
      if (first !== 'slow') return first;
      const why = await this.#directConnectionError();
      // A server that refuses one more connection (too many, per-user limit) is there: the pool is only busy.
      if (why !== undefined && !refusesMoreConnections(why)) {
        // The queued request is left to the pool: a connection it hands over later goes straight back.
        pending.then((connection) => connection.release().catch(() => undefined), () => undefined);
        throw why;
      }
      return await pending;
    } catch (error) {
      throw (error as SqlError).code === 'ER_GET_CONNECTION_TIMEOUT' ? ((await this.#directConnectionError()) ?? error) : error;
    } finally {
      clearTimeout(timer);
    }
  }

  protected async attempt<T>(operation: string, work: (session: SqlSession) => Promise<T>): Promise<T> {
    // A pool that cannot connect retries until acquireTimeout and then says only "failed to retrieve a
    // connection". While it holds none (first use, or the server went away), one direct connection tells at
    // once why none can be made: login refused, unknown database, TLS refused, connection refused.
    if (this.#pool.totalConnections() === 0) {
      const why = await this.#directConnectionError();
      if (why !== undefined) throw why;
    }
    const connection = await this.#acquire();
    let broken = false;
    try {
      await connection.beginTransaction();
      const session: SqlSession = {
        query: async (sql, parameters = []) => toRows(await connection.query(sql, parameters as Parameter[])),
        execute: async (sql, parameters = []) => Number((await connection.query(sql, parameters as Parameter[]) as { affectedRows?: number }).affectedRows ?? 0),
      };
      let result: T;
      try {
        result = await work(session);
      } catch (error) {
        await connection.rollback().catch(() => (broken = true));
        throw error;
      }
      try {
        await connection.commit();
      } catch (error) {
        if (this.#isConnectionLoss(error)) {
          broken = true;
          throw commitUnknown(this.database, operation, `commit on ${serverTarget(this.settings)}`, error);
        }
        throw error;
      }
      return result;
    } catch (error) {
      if (this.#isConnectionLoss(error)) broken = true;
      throw error;
    } finally {
      if (broken) await connection.destroy();
      else await connection.release();
    }
  }

  #isConnectionLoss(error: unknown): boolean {
    if (!(error instanceof Error) || error instanceof StoreError) return false;
    const e = error as SqlError;
    if (e.code !== undefined && (socketErrorCodes.has(e.code) || lostConnectionCodes.has(e.code))) return true;
    // 1053 server shutdown, 1927 connection killed, 2006/2013 gone away / lost during query.
    return e.errno === 1053 || e.errno === 1927 || e.errno === 2006 || e.errno === 2013 || (e.fatal === true && e.errno !== 1045 && e.errno !== 1044 && e.errno !== 1049);
  }

  protected readonly failures: EngineFailures = {
    isConnectionLoss: (error) => this.#isConnectionLoss(error),
    lossReason: (error) => reasonOf(error as SqlError),
    // 1213 deadlock, 1205 lock wait timeout: the engine rolled the transaction back.
    conflictReason: (error) => {
      const e = error as SqlError | undefined;
      return e?.errno === 1213 || e?.errno === 1205 ? reasonOf(e) : undefined;
    },
    translate: (error, operation) => this.#translate(error, operation),
  };

  #translate(error: unknown, operation: string): unknown {
    if (!(error instanceof Error)) return error;
    const e = error as SqlError;
    const target = serverTarget(this.settings);
    if (e.errno === 1045) return new StoreConnectionError(this.database, operation, `log in to ${target}`, `the server refused the login (${reasonOf(e)})`, { cause: error });
    if (e.errno === 1049) return new StoreConnectionError(this.database, operation, `open database ${this.settings.schema} on ${target}`, `${reasonOf(e)} (create it, or set db.schema)`, { cause: error });
    if (e.errno === 1044) return new StoreConnectionError(this.database, operation, `use database ${this.settings.schema} on ${target}`, `permission denied (${reasonOf(e)})`, { cause: error });
    if (e.errno !== undefined) return new StoreQueryError(this.database, operation, reasonOf(e), { cause: error });
    return new StoreConnectionError(this.database, operation, `talk to ${target}`, error.message, { cause: error });
  }

  protected endPool(): Promise<void> {
    return this.#pool.end();
  }
}

/** 1040 too many connections, 1203 / 1226 the user's connection limit: the server answered. */
function refusesMoreConnections(error: unknown): boolean {
  const errno = (error as SqlError | undefined)?.errno;
  return errno === 1040 || errno === 1203 || errno === 1226;
}

/** The server's own words (sqlMessage), without the statement the connector appends to its message. */
function reasonOf(e: SqlError): string {
  const text = e.text ?? e.message.split('\n')[0] ?? e.message;
  return `${e.code ?? 'error'}${e.errno === undefined ? '' : ` (${e.errno})`}: ${text}`;
}

function toRows(result: unknown): Record<string, unknown>[] {
  return Array.isArray(result) ? (result as Record<string, unknown>[]) : [];
}
