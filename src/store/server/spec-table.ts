// One spec kind's table on a server engine: inserts, changed-column updates and reads by id, over a session
// of the current transaction. Values are converted as on SQLite (sql/values.ts), so a row reads back the
// same on every engine.
import type { ColumnDef, Spec } from '../../spec/index.js';
import { StoreValueError } from '../errors.js';
import { quote } from '../sql/tables.js';
import type { OperationContext } from '../sql/operation.js';
import { fromSqlValue, specFromRow, toSqlValue, type SqlValue } from '../sql/values.js';
import { updateRowGroups } from './row-updates.js';
import type { Parameter, Row, ServerDialect, SqlSession } from './session.js';

export class ServerSpecTable<S extends Spec> {
  readonly #columnsByName: ReadonlyMap<string, ColumnDef>;
  readonly #positions: readonly number[];

  constructor(
    readonly dialect: ServerDialect,
    readonly table: string,
    readonly primaryKey: string,
    readonly create: () => S,
    readonly columns: readonly ColumnDef[],
    readonly internalColumns: readonly ColumnDef[] = [],
    /** The engine assigns the key of rows inserted without one. */
    readonly autoKey = false,
  ) {
    this.#columnsByName = new Map([...columns, ...internalColumns].map((c) => [c.name, c]));
    this.#positions = columns.map((_, i) => i);
  }

  sqlValue(ctx: OperationContext, spec: S, column: string, value: unknown = spec.getField(column)): SqlValue {
    const def = this.#columnsByName.get(column);
    if (def === undefined) throw new StoreValueError(ctx.database, ctx.operation, spec.specKind, this.idOf(spec), column, 'is no column of the table');
    const converted = toSqlValue(def.kind, value);
    if (!converted.ok) throw new StoreValueError(ctx.database, ctx.operation, spec.specKind, this.idOf(spec), column, converted.reason);
    return converted.value;
  }

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

  /** Inserts every column of the spec (with `overrides`) and returns the row's key. */
  async insert(session: SqlSession, ctx: OperationContext, spec: S, overrides: Readonly<Record<string, unknown>> = {}): Promise<number> {
    const valueOf = (name: string): unknown => (Object.hasOwn(overrides, name) ? overrides[name] : spec.getField(name));
    const key = valueOf(this.primaryKey);
    const names = this.columns.map((c) => c.name).filter((name) => name !== this.primaryKey || key !== null);
    const values = names.map((name) => this.sqlValue(ctx, spec, name, valueOf(name)));
    const sql = `INSERT INTO ${quote(this.table)} (${names.map(quote).join(', ')}) VALUES (${names.map(() => '?').join(', ')})`;
    if (typeof key === 'number') {
      await session.execute(sql, values);
      if (this.autoKey) await this.dialect.followExplicitKeys(session, this.table, this.primaryKey, key);
      return key;
    }
    const [row] = await session.query(`${sql} RETURNING ${quote(this.primaryKey)}`, values);
    return Number(row?.[this.primaryKey]);
  }

  /**
   * Sets columns of many rows, each row its own values, rows with the same column set in a few set-based
   * statements (row-updates.ts). Without `guard`: returns the ids of rows that do not exist. With `guard`
   * [column, value]: returns the ids whose row is missing or does not hold the guard, rows without assignments
   * included (they are only checked); the caller must then roll back.
   */
  async updateRows(session: SqlSession, rows: ReadonlyArray<{ readonly id: number; readonly assignments: ReadonlyArray<readonly [string, SqlValue]> }>, guard?: readonly [string, SqlValue]): Promise<number[]> {
    const groups = new Map<string, { columns: string[]; rows: { id: number; values: SqlValue[] }[] }>();
    for (const row of rows) {
      if (row.assignments.length === 0) continue;
      const key = row.assignments.map(([name]) => name).join('\u0000');
      let group = groups.get(key);
      if (group === undefined) {
        group = { columns: row.assignments.map(([name]) => name), rows: [] };
        groups.set(key, group);
      }
      group.rows.push({ id: row.id, values: row.assignments.map(([, value]) => value) });
    }
    const target = { dialect: this.dialect, table: this.table, primaryKey: this.primaryKey, kindOf: (column: string) => this.#columnsByName.get(column)?.kind };
    return updateRowGroups(session, target, [...groups.values()], rows.map((row) => row.id), guard);
  }

  /** The keys of the given ids that exist, with the value of one more column (a lock holder). */
  async existing(session: SqlSession, ids: readonly number[], column: string = this.primaryKey): Promise<Map<number, unknown>> {
    if (ids.length === 0) return new Map();
    const list = this.dialect.inList(this.primaryKey, ids);
    const rows = await session.query(`SELECT ${quote(this.primaryKey)} AS "id", ${quote(column)} AS "value" FROM ${quote(this.table)} WHERE ${list.sql}`, list.parameters);
    return new Map(rows.map((r) => [Number(r.id), r.value]));
  }

  /** Specs by id, in the order asked; missing ids are left out. */
  async byIds(session: SqlSession, ids: readonly number[]): Promise<S[]> {
    if (ids.length === 0) return [];
    const list = this.dialect.inList(this.primaryKey, ids);
    const specs = await this.where(session, list.sql, list.parameters);
    const byId = new Map(specs.map((spec) => [this.idOf(spec), spec]));
    const found: S[] = [];
    for (const id of ids) {
      const spec = byId.get(id);
      if (spec !== undefined) found.push(spec);
    }
    return found;
  }

  /** Specs matching a WHERE clause, with a suffix (ORDER BY, LIMIT, FOR UPDATE). */
  async where(session: SqlSession, condition: string, parameters: readonly Parameter[], suffix = ''): Promise<S[]> {
    const rows = await session.query(`SELECT * FROM ${quote(this.table)}${condition === '' ? '' : ` WHERE ${condition}`} ${suffix}`, parameters);
    return rows.map((row) => this.fromRow(row));
  }

  fromRow(row: Row): S {
    return specFromRow(this.create(), this.columns, this.#positions, this.columns.map((c) => row[c.name] ?? null));
  }
}
