// One spec kind's table: inserts, changed-column updates and reads by id, with prepared statements cached
// per column set (an agent's updates repeat the same few shapes).
import type Database from 'better-sqlite3';
import type { ColumnDef, Spec } from '../../spec/index.js';
import { StoreValueError } from '../errors.js';
import type { OperationContext } from '../sql/operation.js';
import { quote } from '../sql/tables.js';
import { fromSqlValue, specFromRow, toSqlValue, type SqlValue } from '../sql/values.js';

/** `IN (SELECT value FROM json_each(?))`: a list of any length as one parameter. */
export const inList = (column: string): string => `${quote(column)} IN (SELECT value FROM json_each(?))`;

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

export class SpecTable<S extends Spec> {
  readonly #columnsByName: ReadonlyMap<string, ColumnDef>;

  constructor(
    readonly statements: StatementCache,
    readonly table: string,
    readonly primaryKey: string,
    readonly create: () => S,
    readonly columns: readonly ColumnDef[],
    /** Columns the store keeps beyond the spec's (lock columns). */
    readonly internalColumns: readonly ColumnDef[] = [],
  ) {
    this.#columnsByName = new Map([...columns, ...internalColumns].map((c) => [c.name, c]));
  }

  /** The SQL value of one column of a spec, or StoreValueError naming spec, id and field. */
  sqlValue(ctx: OperationContext, spec: S, column: string, value: unknown = spec.getField(column)): SqlValue {
    const def = this.#columnsByName.get(column);
    if (def === undefined) throw new StoreValueError(ctx.database, ctx.operation, spec.specKind, this.idOf(spec), column, 'is no column of the table');
    const converted = toSqlValue(def.kind, value);
    if (!converted.ok) throw new StoreValueError(ctx.database, ctx.operation, spec.specKind, this.idOf(spec), column, converted.reason);
    return converted.value;
  }

  /**
   * Gives a spec the value a statement just wrote into its row (a lock column), as a read would have; a
   * column that is no field of the spec (the table's internal columns) is left out, as a read leaves it.
   */
  mirror(spec: S, column: string, value: SqlValue): void {
    const def = spec.layout.byName.get(column);
    const kind = this.#columnsByName.get(column)?.kind;
    if (def === undefined || kind === undefined) return;
    spec.loadField(def, value === null ? null : fromSqlValue(kind, value));
  }

  idOf(spec: S): number | null {
    const id = spec.getField(this.primaryKey);
    return typeof id === 'number' ? id : null;
  }

  /**
   * Inserts every column of the spec, with `overrides` in place of the spec's values, and returns the row's
   * key. The key is written only when set (in the spec or the overrides); else the database assigns it.
   */
  insert(ctx: OperationContext, spec: S, overrides: Readonly<Record<string, unknown>> = {}): number {
    const valueOf = (name: string): unknown => (Object.hasOwn(overrides, name) ? overrides[name] : spec.getField(name));
    const key = valueOf(this.primaryKey);
    const names = this.columns.map((c) => c.name).filter((name) => name !== this.primaryKey || key !== null);
    const values = names.map((name) => this.sqlValue(ctx, spec, name, valueOf(name)));
    const sql = `INSERT INTO ${quote(this.table)} (${names.map(quote).join(', ')}) VALUES (${names.map(() => '?').join(', ')})`;
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
    const specs = this.#read(`SELECT * FROM ${quote(this.table)} WHERE ${inList(this.primaryKey)}`, [JSON.stringify(ids)]);
    const byId = new Map(specs.map((spec) => [this.idOf(spec), spec]));
    const found: S[] = [];
    for (const id of ids) {
      const spec = byId.get(id);
      if (spec !== undefined) found.push(spec);
    }
    return found;
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
