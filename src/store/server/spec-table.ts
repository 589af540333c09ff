// One spec kind's table on a server engine: inserts, changed-column updates and reads by id, over a session
// of the current transaction. Columns, values and the insert's text are every engine's (sql/spec-columns.ts),
// so a row reads back the same on every engine.
import type { ColumnDef, Spec } from '../../spec/index.js';
import { quote } from '../sql/tables.js';
import type { OperationContext } from '../sql/operation.js';
import { SpecColumns } from '../sql/spec-columns.js';
import { specFromRow, type SqlValue } from '../sql/values.js';
import { updateRowGroups } from './row-updates.js';
import type { Parameter, Row, ServerDialect, SqlSession } from './session.js';

export class ServerSpecTable<S extends Spec> extends SpecColumns<S> {
  readonly #positions: readonly number[];

  constructor(
    readonly dialect: ServerDialect,
    table: string,
    primaryKey: string,
    create: () => S,
    columns: readonly ColumnDef[],
    internalColumns: readonly ColumnDef[] = [],
    /** The engine assigns the key of rows inserted without one. */
    readonly autoKey = false,
  ) {
    super(table, primaryKey, create, columns, internalColumns);
    this.#positions = columns.map((_, i) => i);
  }

  /** Inserts every column of the spec (with `overrides`; see SpecColumns.insertOf) and returns the row's key. */
  async insert(session: SqlSession, ctx: OperationContext, spec: S, overrides: Readonly<Record<string, unknown>> = {}): Promise<number> {
    const { sql, values, key } = this.insertOf(ctx, spec, overrides);
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
    const target = { dialect: this.dialect, table: this.table, primaryKey: this.primaryKey, kindOf: (column: string) => this.columnDef(column)?.kind };
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
    return this.inOrderOf(ids, await this.where(session, list.sql, list.parameters));
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
