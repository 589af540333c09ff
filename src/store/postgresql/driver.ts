// PostgreSQL through node-postgres (pg): a pool of connections, transactions at READ COMMITTED, BIGINT
// read as numbers (every stored integer is a safe one), `?` placeholders numbered for the server.
//
// PostgreSQL's text cannot hold U+0000, which a spec's text field may: string values are escaped on the way
// in and out (U+FFFF followed by "0" for U+0000, U+FFFF doubled for itself), so every string round-trips.
import type PgModule from 'pg';
import type { Pool as PgPool } from 'pg';
import { StoreConnectionError, StoreError, StoreQueryError } from '../errors.js';
import { PooledServerDriver } from '../server/pooled-driver.js';
import { commitUnknown, socketErrorCodes, type EngineFailures } from '../server/reconnect.js';
import type { Parameter, Row, ServerDialect, SqlSession } from '../server/session.js';
import { serverTarget, type ServerConnectionSettings } from '../server/settings.js';
import type { SqlValue } from '../sql/values.js';
import type { ColumnKind } from '../../spec/index.js';

const INT8_OID = 20;
const escapeChar = '\uFFFF';
// U+0000 is the very character to escape.
// eslint-disable-next-line no-control-regex
const needsEscape = /[\u0000\uFFFF]/u;
const escaped = /\uFFFF([\s\S])/gu;

function encodeString(value: string): string {
  // eslint-disable-next-line no-control-regex
  return needsEscape.test(value) ? value.replace(/[\u0000\uFFFF]/gu, (c) => (c === '\u0000' ? `${escapeChar}0` : `${escapeChar}${escapeChar}`)) : value;
}

function decodeString(value: string): string {
  return value.includes(escapeChar) ? value.replace(escaped, (_, c: string) => (c === '0' ? '\u0000' : escapeChar)) : value;
}

function encodeParameter(value: Parameter): unknown {
  if (typeof value === 'string') return encodeString(value);
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'string' ? encodeString(v) : v));
  return value;
}

/** `?` → `$1, $2...` (the store's SQL has no `?` inside literals). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

const statementCache = new Map<string, string>();
function toPg(sql: string): string {
  let text = statementCache.get(sql);
  if (text === undefined) {
    text = numbered(sql);
    // Short statements only: a write-back's 10,000-row VALUES list is hundreds of kB, and rarely the same twice.
    if (statementCache.size < 2000 && sql.length <= 4096) statementCache.set(sql, text);
  }
  return text;
}

function decodeRow(row: Row): Row {
  for (const key of Object.keys(row)) {
    const value = row[key];
    if (typeof value === 'string' && value.includes(escapeChar)) row[key] = decodeString(value);
  }
  return row;
}

export const postgresqlDialect: ServerDialect = {
  engine: 'postgresql',
  inList(column: string, values: readonly SqlValue[]) {
    return { sql: `"${column}" = ANY(?)`, parameters: [values] };
  },
  insertIgnore(table: string, columns: readonly string[]) {
    return { head: `INSERT INTO "${table}" (${columns.map((c) => `"${c}"`).join(', ')})`, tail: ' ON CONFLICT DO NOTHING' };
  },
  ascNullsFirst(column: string) {
    return `"${column}" ASC NULLS FIRST`;
  },
  async followExplicitKeys(session: SqlSession, table: string, key: string, largest: number) {
    // nextval first: setval must never move the sequence back below a key it already handed out.
    await session.query(`SELECT setval(pg_get_serial_sequence(?, ?), GREATEST(nextval(pg_get_serial_sequence(?, ?)), ?))`, [table, key, table, key, largest]);
  },
  async advanceKey(session: SqlSession, table: string, key: string, next: number) {
    if (next > 1) await postgresqlDialect.followExplicitKeys(session, table, key, next - 1);
  },
  columnType(kind: ColumnKind) {
    return kind === 'integer' || kind === 'timestamp' ? 'BIGINT' : 'TEXT';
  },
  dropIndex(_table: string, index: string) {
    return `DROP INDEX IF EXISTS "${index}"`;
  },
  autoKey: 'BIGSERIAL PRIMARY KEY',
  tableOptions: '',
  currentSchema: 'current_schema()',
  async lockSchema(session: SqlSession) {
    // Held until the transaction ends: concurrent first opens migrate once.
    await session.query('SELECT pg_advisory_xact_lock(?)', [0x68617276]);
    return { unlock: async () => undefined };
  },
};

interface PgError extends Error {
  code?: string;
}

export class PostgresqlDriver extends PooledServerDriver {
  readonly dialect = postgresqlDialect;
  readonly #pool: PgPool;

  /**
   * node-postgres is loaded here, not imported by the module: a bundler would hoist a static import to the top
   * of the offline bundle's one file, which carries no store drivers.
   */
  static async create(settings: ServerConnectionSettings): Promise<PostgresqlDriver> {
    const pg = (await import('pg')).default;
    return new PostgresqlDriver(settings, pg);
  }

  private constructor(settings: ServerConnectionSettings, pg: typeof PgModule) {
    super(settings);
    this.#pool = new pg.Pool({
      host: settings.host,
      port: settings.port,
      user: settings.user,
      ...(settings.password === undefined ? {} : { password: settings.password }),
      database: settings.schema,
      max: settings.nConnections,
      connectionTimeoutMillis: (settings.connectTimeoutSec ?? 10) * 1000,
      ...(settings.tls === undefined ? {} : { ssl: { rejectUnauthorized: settings.tls.rejectUnauthorized, ...(settings.tls.ca === undefined ? {} : { ca: settings.tls.ca }) } }),
      types: { getTypeParser: ((oid: number, format?: string) => (oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text'))) as typeof pg.types.getTypeParser },
      application_name: 'harvester-ts',
    });
    // An idle connection the server closed (restart): the pool drops it; the next checkout connects anew.
    this.#pool.on('error', () => undefined);
  }

  protected async attempt<T>(operation: string, work: (session: SqlSession) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    let broken: unknown;
    // A connection that dies while checked out (server restarted) emits 'error' on the client: without a
    // listener that would end the process. The failing query rejects as well; the client is then discarded.
    const onError = (error: unknown): void => {
      broken = error;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
      const session: SqlSession = {
        query: async (sql, parameters = []) => (await client.query({ text: toPg(sql), values: parameters.map(encodeParameter) })).rows.map(decodeRow),
        execute: async (sql, parameters = []) => (await client.query({ text: toPg(sql), values: parameters.map(encodeParameter) })).rowCount ?? 0,
      };
      let result: T;
      try {
        result = await work(session);
      } catch (error) {
        await client.query('ROLLBACK').catch((rollbackError: unknown) => (broken = rollbackError));
        throw error;
      }
      try {
        await client.query('COMMIT');
      } catch (error) {
        broken = error;
        if (this.#isConnectionLoss(error)) throw commitUnknown(this.database, operation, `commit on ${serverTarget(this.settings)}`, error);
        throw error;
      }
      return result;
    } catch (error) {
      if (this.#isConnectionLoss(error)) broken = error;
      throw error;
    } finally {
      client.off('error', onError);
      client.release(broken === undefined ? undefined : true);
    }
  }

  #isConnectionLoss(error: unknown): boolean {
    if (!(error instanceof Error) || error instanceof StoreError) return false;
    const code = (error as PgError).code;
    if (code !== undefined && (socketErrorCodes.has(code) || code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03')) return true;
    return /Connection terminated|timeout exceeded when trying to connect|connection error|Client was closed|not queryable/i.test(error.message);
  }

  protected readonly failures: EngineFailures = {
    isConnectionLoss: (error) => this.#isConnectionLoss(error),
    lossReason: (error) => (error as Error).message || String((error as PgError).code),
    conflictReason: (error) => {
      const code = (error as PgError | undefined)?.code;
      return code === '40P01' || code === '40001' ? `${code}: ${(error as Error).message}` : undefined;
    },
    translate: (error, operation) => this.#translate(error, operation),
  };

  #translate(error: unknown, operation: string): unknown {
    if (!(error instanceof Error)) return error;
    const code = (error as PgError).code;
    const target = serverTarget(this.settings);
    if (code === '28P01' || code === '28000') return new StoreConnectionError(this.database, operation, `log in to ${target}`, `the server refused the login (${code}: ${error.message})`, { cause: error });
    if (code === '3D000') return new StoreConnectionError(this.database, operation, `open database ${this.settings.schema} on ${target}`, `${error.message} (create it, or set db.schema)`, { cause: error });
    if (code === '42501') return new StoreConnectionError(this.database, operation, `use database ${this.settings.schema} on ${target}`, `permission denied (${error.message})`, { cause: error });
    if (code !== undefined && /^[0-9A-Z]{5}$/.test(code)) return new StoreQueryError(this.database, operation, `${code}: ${error.message}`, { cause: error });
    return new StoreConnectionError(this.database, operation, `talk to ${target}`, error.message, { cause: error });
  }

  protected endPool(): Promise<void> {
    return this.#pool.end();
  }
}
