// Writing many rows of one table, each with values of its own, in a few set-based statements: with a lock
// guard, first a locking read of the rows that hold it (SELECT ... FOR UPDATE: they keep it until commit),
// then the rows joined by key with a list of the values, per column set: UPDATE ... FROM (VALUES ...) on
// PostgreSQL, UPDATE ... JOIN (SELECT ... UNION ALL VALUES ...) on MariaDB. A 10,000-row write-back is a
// handful of statements, not one per row.
//
// The guard is never part of the joining UPDATE: on PostgreSQL, statistics taken while the lock column was all
// NULL (every row released, the usual state) estimate "lock = owner" at one row, and the planner then joins
// by scanning the table once per VALUES row (a nested loop): 10,000 rows took 70 s instead of 1 s.
import type { ColumnKind } from '../../spec/index.js';
import { quote } from '../sql/tables.js';
import type { SqlValue } from '../sql/values.js';
import type { Parameter, ServerDialect, SqlSession } from './session.js';

/** Rows that set the same columns, each with its own values (in the order of `columns`). */
export interface RowGroup {
  readonly columns: readonly string[];
  readonly rows: ReadonlyArray<{ readonly id: number; readonly values: readonly SqlValue[] }>;
}

export interface UpdateTarget {
  readonly dialect: ServerDialect;
  readonly table: string;
  readonly primaryKey: string;
  kindOf(column: string): ColumnKind | undefined;
}

type Row = RowGroup['rows'][number];

/**
 * Writes the groups. Without `guard`: returns the ids of rows that do not exist. With `guard` [column, value]:
 * returns the ids among `checked` (every row of the update, with or without assignments) whose row is missing
 * or does not hold the guard, and then writes nothing (the caller refuses the update).
 */
export async function updateRowGroups(
  session: SqlSession,
  target: UpdateTarget,
  groups: readonly RowGroup[],
  checked: readonly number[],
  guard: readonly [string, SqlValue] | undefined,
): Promise<number[]> {
  if (guard !== undefined) {
    // In key order, so two transactions locking overlapping rows wait for each other rather than deadlock.
    const held = await presentRows(session, target, checked, guard, ` ORDER BY ${quote(target.primaryKey)} FOR UPDATE`);
    const lost = checked.filter((id) => !held.has(id));
    if (lost.length > 0) return lost;
  }
  const notWritten: number[] = [];
  for (const group of groups) {
    // One row once, with its last values (as statements one after the other would leave it).
    const rows = [...new Map(group.rows.map((row) => [row.id, row.values]))].map(([id, values]) => ({ id, values }));
    const statements = target.dialect.engine === 'postgresql' ? postgresqlStatements(target, group.columns, rows) : mariadbStatements(target, group.columns, rows);
    for (const { sql, parameters, chunk } of statements) {
      // Rows matched (the MariaDB connection reports found rows, not only the changed ones).
      const matched = await session.execute(sql, parameters);
      if (matched < chunk.length) {
        const present = await presentRows(session, target, chunk.map((row) => row.id), undefined, '');
        notWritten.push(...chunk.filter((row) => !present.has(row.id)).map((row) => row.id));
      }
    }
  }
  return notWritten;
}

interface Statement {
  readonly sql: string;
  readonly parameters: Parameter[];
  readonly chunk: readonly Row[];
}

function pgTypeOf(kind: ColumnKind | undefined): string {
  return kind === 'integer' || kind === 'timestamp' ? 'bigint' : 'text';
}

/** At most ~30,000 parameters per statement (PostgreSQL takes 65,535). */
const PG_PARAMETERS_PER_STATEMENT = 30_000;

function* postgresqlStatements(target: UpdateTarget, columns: readonly string[], rows: readonly Row[]): Generator<Statement> {
  const perStatement = Math.max(1, Math.floor(PG_PARAMETERS_PER_STATEMENT / (columns.length + 1)));
  const tuple = `(?::bigint, ${columns.map((c) => `?::${pgTypeOf(target.kindOf(c))}`).join(', ')})`;
  const names = ['__id', ...columns.map((_, i) => `c${i}`)].map((n) => `"${n}"`).join(', ');
  const set = columns.map((c, i) => `${quote(c)} = v."c${i}"`).join(', ');
  for (let start = 0; start < rows.length; start += perStatement) {
    const chunk = rows.slice(start, start + perStatement);
    yield {
      sql: `UPDATE ${quote(target.table)} AS t SET ${set} FROM (VALUES ${repeated(tuple, chunk.length)}) AS v(${names}) WHERE t.${quote(target.primaryKey)} = v."__id"`,
      parameters: flatRows(chunk),
      chunk,
    };
  }
}

/** Rows per MariaDB statement, and the statement's estimated size (max_allowed_packet is 16 MB by default). */
const MARIADB_ROWS_PER_STATEMENT = 5_000;
const MARIADB_BYTES_PER_STATEMENT = 4 * 1024 * 1024;
const KEYS_PER_READ = 10_000;

function* mariadbStatements(target: UpdateTarget, columns: readonly string[], rows: readonly Row[]): Generator<Statement> {
  // The first row names the derived table's columns; the rest follow as a table value constructor.
  const aliases = ['__id', ...columns.map((_, i) => `c${i}`)];
  const first = `SELECT ${aliases.map((a) => `? AS "${a}"`).join(', ')}`;
  const tuple = `(${aliases.map(() => '?').join(', ')})`;
  const set = columns.map((c, i) => `t.${quote(c)} = v."c${i}"`).join(', ');
  for (const chunk of mariadbChunks(rows)) {
    const derived = chunk.length === 1 ? first : `${first} UNION ALL VALUES ${repeated(tuple, chunk.length - 1)}`;
    yield {
      sql: `UPDATE ${quote(target.table)} AS t JOIN (${derived}) AS v ON t.${quote(target.primaryKey)} = v."__id" SET ${set}`,
      parameters: flatRows(chunk),
      chunk,
    };
  }
}

/** `text, text, ...` (`count` times): one allocation, not an array of 10,000 strings joined. */
function repeated(text: string, count: number): string {
  return `${text}${`, ${text}`.repeat(count - 1)}`;
}

/** Each row's key, then its values: the parameters of the tuples. */
function flatRows(rows: readonly Row[]): Parameter[] {
  const parameters: Parameter[] = [];
  for (const row of rows) {
    parameters.push(row.id);
    for (const value of row.values) parameters.push(value);
  }
  return parameters;
}

function* mariadbChunks<R extends { readonly values: readonly SqlValue[] }>(rows: readonly R[]): Generator<R[]> {
  let chunk: R[] = [];
  let bytes = 0;
  for (const row of rows) {
    // Worst case of the text protocol: 3 bytes of UTF-8 per UTF-16 unit, quotes and separators.
    const size = row.values.reduce<number>((n, v) => n + (typeof v === 'string' ? 3 * v.length + 4 : 24), 24);
    if (chunk.length > 0 && (chunk.length >= MARIADB_ROWS_PER_STATEMENT || bytes + size > MARIADB_BYTES_PER_STATEMENT)) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(row);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}

/** Which of `ids` exist (and hold `guard`, when given); `suffix` e.g. ORDER BY ... FOR UPDATE. */
async function presentRows(session: SqlSession, target: UpdateTarget, ids: readonly number[], guard: readonly [string, SqlValue] | undefined, suffix: string): Promise<Set<number>> {
  const held = new Set<number>();
  for (let start = 0; start < ids.length; start += KEYS_PER_READ) {
    const list = target.dialect.inList(target.primaryKey, ids.slice(start, start + KEYS_PER_READ));
    const where = guard === undefined ? list.sql : `${list.sql} AND ${quote(guard[0])} = ?`;
    const rows = await session.query(`SELECT ${quote(target.primaryKey)} AS "id" FROM ${quote(target.table)} WHERE ${where}${suffix}`, [
      ...list.parameters,
      ...(guard === undefined ? [] : [guard[1]]),
    ]);
    for (const row of rows) held.add(Number(row.id));
  }
  return held;
}
