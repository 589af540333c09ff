// What the server store needs of a database engine: SQL sessions inside transactions, and the few places
// where PostgreSQL and MariaDB spell SQL differently. Every statement is written with `?` placeholders and
// double-quoted identifiers; the PostgreSQL driver numbers the placeholders and MariaDB runs with
// ANSI_QUOTES, so one text serves both engines.
import type { ColumnKind } from '../../spec/index.js';
import type { SqlValue } from '../sql/values.js';

export type Row = Record<string, unknown>;
/** A statement parameter: a column value, or a list for `inList`. */
export type Parameter = SqlValue | readonly SqlValue[];

/** One connection inside one transaction. */
export interface SqlSession {
  /** Rows of a SELECT (or of an INSERT ... RETURNING). */
  query(sql: string, parameters?: readonly Parameter[]): Promise<Row[]>;
  /** Rows changed (matched, for an UPDATE) by an INSERT, UPDATE or DELETE. */
  execute(sql: string, parameters?: readonly Parameter[]): Promise<number>;
}

export type ServerEngine = 'postgresql' | 'mariadb';

export interface ServerDialect {
  readonly engine: ServerEngine;
  /** A condition "column is one of the values" with its parameters; an empty list matches nothing. */
  inList(column: string, values: readonly SqlValue[]): { sql: string; parameters: Parameter[] };
  /** `INSERT ... ` that skips rows whose key is already present: the statement's start and end. */
  insertIgnore(table: string, columns: readonly string[]): { head: string; tail: string };
  /** ORDER BY term putting NULLs first (as SQLite and MariaDB do by default). */
  ascNullsFirst(column: string): string;
  /**
   * After rows were inserted with explicit keys into a table whose key the engine assigns: moves the key
   * generator past them, so a later assigned key never collides (PostgreSQL's sequences do not follow).
   */
  followExplicitKeys(session: SqlSession, table: string, key: string, largest: number): Promise<void>;

  /**
   * Moves the key generator of a table so that the next assigned key is at least `next` (after a copy:
   * keys SQLite handed out once are never handed out again). Run outside any other work: MariaDB's ALTER
   * TABLE commits.
   */
  advanceKey(session: SqlSession, table: string, key: string, next: number): Promise<void>;

  // ---- schema ----
  /** The column type of a spec column kind; `indexed`: the column is part of an index (MariaDB needs VARCHAR). */
  columnType(kind: ColumnKind, indexed: boolean): string;
  /** A BIGINT primary key the engine assigns, never reused. */
  readonly autoKey: string;
  /** The statement dropping an index of a table, if it is there. */
  dropIndex(table: string, index: string): string;
  /** Appended to CREATE TABLE (MariaDB: InnoDB, utf8mb4, binary comparison of text). */
  readonly tableOptions: string;
  /** The SQL expression naming the schema (database) the tables live in, for information_schema. */
  readonly currentSchema: string;
  /** Serialises schema migrations between processes until the transaction ends (or `unlock`). */
  lockSchema(session: SqlSession): Promise<{ unlock(): Promise<void> }>;
}

/** A pool of connections to one database. */
export interface ServerDriver {
  readonly dialect: ServerDialect;
  /** "postgresql://user@host:port/schema": for logs and errors, never with the password. */
  readonly database: string;
  /** The database (schema) name the tables live in (db.schema). */
  readonly schema: string;
  /**
   * Runs `work` in one transaction on one connection: committed when it resolves, rolled back when it
   * throws. Engine errors are translated into store errors naming the operation.
   */
  transaction<T>(operation: string, work: (session: SqlSession) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
