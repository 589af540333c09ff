// How spec values sit in SQL columns, exactly and portably, on every engine (SQLite, PostgreSQL, MariaDB):
//   integer   -> an integer column, safe integers only (what a BIGINT of PostgreSQL/MariaDB holds too)
//   text      -> a text column, well-formed Unicode (UTF-8 cannot hold a lone surrogate)
//   timestamp -> an integer column, milliseconds since the epoch (UTC; exact, sortable, compared in claims)
//   dict/blob -> a text column, the spec codec's JSON (exact for Dates, bigints, NaN, -0, nested specs)
// A value that does not fit is refused with the reason, never stored altered.
import { decodeValue, encodeValue, fieldProblem, type ColumnDef, type ColumnKind, type JsonValue, type Spec } from '../../spec/index.js';

export type SqlValue = number | string | null;

const loneSurrogate = /[\uD800-\uDFFF]/u;

/** The SQL value of a spec value, or the reason it cannot be stored. */
export function toSqlValue(kind: ColumnKind, value: unknown): { ok: true; value: SqlValue } | { ok: false; reason: string } {
  if (value === null || value === undefined) return { ok: true, value: null };
  switch (kind) {
    case 'integer':
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
        return { ok: false, reason: 'is not an integer within ±(2^53-1) (a fraction, NaN, an infinity or too large)' };
      }
      // -0 has no integer representation; it is stored as 0.
      return { ok: true, value: value === 0 ? 0 : value };
    case 'text':
      if (typeof value !== 'string') return { ok: false, reason: 'is not a string' };
      if (loneSurrogate.test(value)) return { ok: false, reason: 'holds a lone UTF-16 surrogate, which UTF-8 text cannot keep' };
      return { ok: true, value };
    case 'timestamp':
      if (!(value instanceof Date) || Number.isNaN(value.getTime())) return { ok: false, reason: 'is not a valid Date' };
      return { ok: true, value: value.getTime() };
    case 'dict':
    case 'blob':
      try {
        return { ok: true, value: JSON.stringify(encodeValue(value)) };
      } catch (error) {
        return { ok: false, reason: `cannot be encoded (${error instanceof Error ? error.message : String(error)})` };
      }
  }
}

/** The spec value of a stored SQL value. Throws when the stored value does not fit the column kind. */
export function fromSqlValue(kind: ColumnKind, raw: unknown): unknown {
  if (raw === null || raw === undefined) return null;
  switch (kind) {
    case 'integer':
      if (typeof raw !== 'number') throw new TypeError(`expected an integer, found a ${typeof raw}`);
      return raw;
    case 'text':
      if (typeof raw !== 'string') throw new TypeError(`expected text, found a ${typeof raw}`);
      return raw;
    case 'timestamp':
      if (typeof raw !== 'number') throw new TypeError(`expected milliseconds, found a ${typeof raw}`);
      return new Date(raw);
    case 'dict':
    case 'blob':
      if (typeof raw !== 'string') throw new TypeError(`expected JSON text, found a ${typeof raw}`);
      return decodeValue(JSON.parse(raw) as JsonValue);
  }
}

/**
 * Fills a fresh spec from a row given as an array (`positions[i]`: where column i is in it) and leaves it
 * without pending changes.
 */
export function specFromRow<S extends Spec>(spec: S, columns: readonly ColumnDef[], positions: readonly number[], row: readonly unknown[]): S {
  const { byName } = spec.layout;
  columns.forEach((column, i) => {
    const raw = row[positions[i] ?? -1];
    // A fresh spec already holds null where the column starts null: most of a worker's ~50 columns.
    if (raw === null && column.initial === undefined) return;
    const def = byName.get(column.name);
    const unfit = (problem: string, cause?: unknown): TypeError =>
      new TypeError(`stored ${spec.specKind}.${column.name} does not fit a ${column.kind} column: ${problem}`, cause === undefined ? undefined : { cause });
    if (def === undefined) throw unfit('no such field');
    let value: unknown;
    try {
      value = fromSqlValue(column.kind, raw);
    } catch (error) {
      throw unfit(error instanceof Error ? error.message : String(error), error);
    }
    const problem = fieldProblem(def, value);
    if (problem !== null) throw unfit(problem);
    // Checked just above: load without the change tracking a set would do and resetChanges would undo.
    spec.loadField(def, value);
  });
  spec.resetChanges();
  return spec;
}
