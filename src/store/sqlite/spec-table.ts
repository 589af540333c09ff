// One spec kind's table on SQLite: inserts, changed-column updates and reads by id, with prepared statements
// cached per column set (an agent's updates repeat the same few shapes). Columns, values and the insert's
// text are every engine's (sql/spec-columns.ts).
import type Database from 'better-sqlite3';
import type { ColumnDef, Spec } from '../../spec/index.js';
import type { InList } from '../sql/conditions.js';
import type { OperationContext } from '../sql/operation.js';
import { quote } from '../sql/tables.js';
import { SpecColumns } from '../sql/spec-columns.js';
import { specFromRow, type SqlValue } from '../sql/values.js';

/** `IN (SELECT value FROM json_each(?))`: a list of any length as one parameter. */
export const inList = (column: string): string => `${quote(column)} IN (SELECT value FROM json_each(?))`;

/** inList as a condition with its parameter, the list as JSON (the shared filters' InList on SQLite). */
export const jsonInList: InList<string> = (column, values) => ({ sql: inList(column), parameters: [JSON.stringify(values)] });

export class StatementCache {
  readonly #db: Database.Database;
  readonly #statements = new Map<string, Database.Statement>();

  constructor(db: Database.Database) {
    this.#db = db;
  }

  get(sql: string): Database.Statement {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /** A reader returning rows as arrays (several times faster for wide rows), with its column names. */
  getRaw(sql: string): { statement: Database.Statement; columns: readonly string[] } {
    let entry = this.#rawStatements.get(sql);
    if (entry === undefined) {
      const statement = this.#db.prepare(sql).raw(true);
      entry = { statement, columns: statement.columns().map((c) => c.name) };
      this.#rawStatements.set(sql, entry);
    }
    return entry;
  }

  readonly #rawStatements = new Map<string, { statement: Database.Statement; columns: readonly string[] }>();
}

export class SpecTable<S extends Spec> extends SpecColumns<S> {
  constructor(
    readonly statements: StatementCache,
    table: string,
    primaryKey: string,
    create: () => S,
    columns: readonly ColumnDef[],
    internalColumns: readonly ColumnDef[] = [],
  ) {
    super(table, primaryKey, create, columns, internalColumns);
  }

  /** Inserts every column of the spec (with `overrides`; see SpecColumns.insertOf) and returns the row's key. */
  insert(ctx: OperationContext, spec: S, overrides: Readonly<Record<string, unknown>> = {}): number {
    const { sql, values, key } = this.insertOf(ctx, spec, overrides);
    const result = this.statements.get(sql).run(...values);
    return typeof key === 'number' ? key : Number(result.lastInsertRowid);
  }

  /**
   * Sets the given columns of one row; returns how many rows changed (0: no such row, or `guard` did not
   * hold). With `guard` [column, value], the row is written only while that column holds that value (a lock).
   */
  update(id: number, assignments: ReadonlyArray<readonly [string, SqlValue]>, guard?: readonly [string, SqlValue]): number {
    if (assignments.length === 0) return 0;
    // Keyed by the column names alone: an update of 10,000 rows would otherwise build and quote the same SQL
    // 10,000 times before finding its cached statement.
    const key = `${assignments.map(([name]) => name).join('\u0000')}\u0001${guard?.[0] ?? ''}`;
    let statement = this.#updates.get(key);
    if (statement === undefined) {
      const condition = `${quote(this.primaryKey)} = ?${guard === undefined ? '' : ` AND ${quote(guard[0])} = ?`}`;
      const sql = `UPDATE ${quote(this.table)} SET ${assignments.map(([name]) => `${quote(name)} = ?`).join(', ')} WHERE ${condition}`;
      statement = this.statements.get(sql);
      this.#updates.set(key, statement);
    }
    const values = assignments.map(([, value]) => value);
    return (guard === undefined ? statement.run(...values, id) : statement.run(...values, id, guard[1])).changes;
  }

  readonly #updates = new Map<string, Database.Statement>();

  /** The keys of the given ids that exist, with the value of one more column (a lock holder). */
  existing(ids: readonly number[], column: string = this.primaryKey): Map<number, unknown> {
    const sql = `SELECT ${quote(this.primaryKey)} AS id, ${quote(column)} AS value FROM ${quote(this.table)} WHERE ${inList(this.primaryKey)}`;
    const rows = this.statements.get(sql).all(JSON.stringify(ids)) as { id: number; value: unknown }[];
    return new Map(rows.map((r) => [r.id, r.value]));
  }

  /** Specs by id, in the order asked; missing ids are left out. */
  byIds(ids: readonly number[]): S[] {
    if (ids.length === 0) return [];
    return this.inOrderOf(ids, this.#read(`SELECT * FROM ${quote(this.table)} WHERE ${inList(this.primaryKey)}`, [JSON.stringify(ids)]));
  }

  /** Specs matching a WHERE clause (with `?` parameters), in the given order. */
  where(condition: string, parameters: readonly SqlValue[], suffix = ''): S[] {
    return this.#read(`SELECT * FROM ${quote(this.table)}${condition === '' ? '' : ` WHERE ${condition}`} ${suffix}`, parameters);
  }

  #read(sql: string, parameters: readonly unknown[]): S[] {
    const { statement, columns } = this.statements.getRaw(sql);
    const positions = this.columns.map((column) => columns.indexOf(column.name));
    return (statement.all(...parameters) as unknown[][]).map((row) => specFromRow(this.create(), this.columns, positions, row));
  }
}
