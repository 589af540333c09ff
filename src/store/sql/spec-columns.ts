// What one spec kind's table is, whatever the engine: its columns, how a spec's values become column values
// and back, and the text of an insert. The engines' tables (sqlite/spec-table.ts, synchronous statements;
// server/spec-table.ts, a session of the current transaction) extend it with their reads and writes.
import type { ColumnDef, Spec } from '../../spec/index.js';
import { StoreValueError } from '../errors.js';
import type { OperationContext } from './operation.js';
import { quote } from './tables.js';
import { fromSqlValue, toSqlValue, type SqlValue } from './values.js';

/** An INSERT of one spec: its SQL, its values, and the key it names (null: the database assigns one). */
export interface SpecInsert {
  readonly sql: string;
  readonly values: readonly SqlValue[];
  readonly key: unknown;
}

export class SpecColumns<S extends Spec> {
  readonly #columnsByName: ReadonlyMap<string, ColumnDef>;

  constructor(
    readonly table: string,
    readonly primaryKey: string,
    readonly create: () => S,
    readonly columns: readonly ColumnDef[],
    /** Columns the store keeps beyond the spec's (lock columns). */
    readonly internalColumns: readonly ColumnDef[] = [],
  ) {
    this.#columnsByName = new Map([...columns, ...internalColumns].map((c) => [c.name, c]));
  }

  /** The definition of a column of the table (spec or internal), if it has one. */
  columnDef(column: string): ColumnDef | undefined {
    return this.#columnsByName.get(column);
  }

  /** The SQL value of one column of a spec, or StoreValueError naming spec, id and field. */
  sqlValue(ctx: OperationContext, spec: S, column: string, value: unknown = spec.getField(column)): SqlValue {
    const def = this.#columnsByName.get(column);
    if (def === undefined) throw new StoreValueError(ctx.database, ctx.operation, spec.specKind, this.idOf(spec), column, 'is no column of the table');
    const converted = toSqlValue(def.kind, value);
    if (!converted.ok) throw new StoreValueError(ctx.database, ctx.operation, spec.specKind, this.idOf(spec), column, converted.reason);
    return converted.value;
  }

  /** The changed columns of a spec but its key, with their SQL values. */
  changedValues(ctx: OperationContext, spec: S): [string, SqlValue][] {
    return spec
      .changedColumns()
      .filter((name) => name !== this.primaryKey)
      .map((name) => [name, this.sqlValue(ctx, spec, name)]);
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

  /** A numeric column the operation needs (the key, a job's PandaID), or StoreValueError when it is not set. */
  requireColumn(ctx: OperationContext, spec: S, column: string = this.primaryKey): number {
    const value = spec.getField(column);
    if (typeof value !== 'number') throw new StoreValueError(ctx.database, ctx.operation, spec.specKind, this.idOf(spec), column, 'is not set');
    return value;
  }

  /**
   * The INSERT of every column of the spec, with `overrides` in place of the spec's values. The key is
   * written only when set (in the spec or the overrides); else the database assigns it.
   */
  insertOf(ctx: OperationContext, spec: S, overrides: Readonly<Record<string, unknown>> = {}): SpecInsert {
    const valueOf = (name: string): unknown => (Object.hasOwn(overrides, name) ? overrides[name] : spec.getField(name));
    const key = valueOf(this.primaryKey);
    const names = this.columns.map((c) => c.name).filter((name) => name !== this.primaryKey || key !== null);
    const values = names.map((name) => this.sqlValue(ctx, spec, name, valueOf(name)));
    const sql = `INSERT INTO ${quote(this.table)} (${names.map(quote).join(', ')}) VALUES (${names.map(() => '?').join(', ')})`;
    return { sql, values, key };
  }

  /** The specs of the given ids in the order asked; ids without a spec are left out. */
  inOrderOf(ids: readonly number[], specs: readonly S[]): S[] {
    const byId = new Map(specs.map((spec) => [this.idOf(spec), spec]));
    const found: S[] = [];
    for (const id of ids) {
      const spec = byId.get(id);
      if (spec !== undefined) found.push(spec);
    }
    return found;
  }
}
