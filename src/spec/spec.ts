// The base of every spec: field storage behind accessors, and change tracking the way harvester's SpecBase
// does it (a field counts as changed when a set gives it a different value; dicts and lists always count,
// because an in-place edit cannot be seen; forceUpdate() marks one explicitly). The store writes only the
// changed columns, and the RPC layer ships only the changed fields back to the caller.
import { SpecFieldError } from './errors.js';
import { isPlainObject, type JsonValue } from './json.js';
import type { ColumnDef, ColumnKind, NonColumnDef, SpecKind, SpecSchema } from './schema.js';
// Call-time cycle only: the codec needs the Spec class and Spec's codec-backed methods need the codec.
// Neither module uses the other while it is being evaluated, so ESM load order does not matter.
import { collectSpecs, decodeChanges, decodeSpec, encodeChanges, encodeSpec } from './codec.js';

/** A spec's changed fields, encoded (JSON-safe), keyed by field name (or extra key). */
export type EncodedFields = Record<string, JsonValue>;

/** One field as the runtime knows it: a column, or a non-column field; `index` is its place in `fields`. */
export type FieldDef = { readonly index: number } & (
  | { readonly name: string; readonly isColumn: true; readonly kind: ColumnKind; readonly column: ColumnDef }
  | ({ readonly isColumn: false } & NonColumnDef)
);

/** The schema, indexed for lookups. */
export interface SpecLayout {
  readonly schema: SpecSchema;
  readonly byName: ReadonlyMap<string, FieldDef>;
  /** Columns, then non-column fields: the order fields are encoded, collected and compared in. */
  readonly fields: readonly FieldDef[];
  readonly columnNames: readonly string[];
  readonly nonColumnNames: readonly string[];
  /** What a new spec holds, by field index (a 'specs' field gets its own fresh array instead). */
  readonly initials: readonly unknown[];
  /** Indexes of the 'specs' fields, which start as a fresh empty array per spec. */
  readonly specListIndexes: readonly number[];
  /** Indexes of the fields whose value can contain a spec (spec lists, dicts, blobs): what collectSpecs walks. */
  readonly containerIndexes: readonly number[];
}

export function layoutOf(schema: SpecSchema): SpecLayout {
  const fields: FieldDef[] = [
    ...schema.columns.map((column): FieldDef => ({ name: column.name, isColumn: true, kind: column.kind, column, index: 0 })),
    ...schema.nonColumns.map((def): FieldDef => ({ ...def, isColumn: false, index: 0 })),
  ].map((def, index) => Object.freeze({ ...def, index }));
  const indexesWhere = (keep: (def: FieldDef) => boolean): number[] => fields.filter(keep).map((def) => def.index);
  return {
    schema,
    byName: new Map(fields.map((f) => [f.name, f])),
    fields,
    columnNames: Object.freeze(schema.columns.map((c) => c.name)),
    nonColumnNames: Object.freeze(schema.nonColumns.map((n) => n.name)),
    // Not frozen: V8 copies a frozen array several times slower, and a spec is built from this copy.
    initials: fields.map((def) => (def.kind === 'specs' ? null : initialValue(def))),
    specListIndexes: Object.freeze(indexesWhere((def) => def.kind === 'specs')),
    containerIndexes: Object.freeze(indexesWhere((def) => def.kind === 'specs' || def.kind === 'dict' || def.kind === 'blob')),
  };
}

/** Why a value does not fit a field, or null when it fits. */
export function fieldProblem(def: FieldDef, value: unknown): string | null {
  if (def.kind === 'specs') {
    if (!Array.isArray(value)) return `expected an array of ${def.specKind}, got ${describe(value)}`;
    for (const [i, item] of value.entries()) {
      if (!(item instanceof Spec) || item.specKind !== def.specKind) {
        return `item ${i}: expected a ${def.specKind}, got ${describe(item)}`;
      }
    }
    return null;
  }
  if (def.kind === 'flag') return typeof value === 'boolean' ? null : `expected a boolean, got ${describe(value)}`;
  if (value === null) return null;
  switch (def.kind) {
    case 'integer':
      return typeof value === 'number' ? null : `expected a number or null, got ${describe(value)}`;
    case 'text':
      return typeof value === 'string' ? null : `expected a string or null, got ${describe(value)}`;
    case 'timestamp':
      if (!(value instanceof Date)) return `expected a Date or null, got ${describe(value)}`;
      return Number.isNaN(value.getTime()) ? 'expected a valid Date, got an invalid one' : null;
    case 'dict':
      return isPlainObject(value) ? null : `expected a plain object or null, got ${describe(value)}`;
    case 'blob':
      return value === undefined ? 'expected a value (null for none), got undefined' : null;
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Spec) return `a ${value.specKind}`;
  if (typeof value === 'object') return isPlainObject(value) ? 'a plain object' : `a ${value.constructor?.name ?? 'object'}`;
  return `a ${typeof value}`;
}

/** Same value for change tracking: identical primitives or equal instants. Objects always differ. */
function sameValue(a: unknown, b: unknown): boolean {
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (typeof a === 'object' && a !== null) return false;
  return Object.is(a, b);
}

export function initialValue(def: FieldDef): unknown {
  if (def.isColumn) return def.column.initial ?? null;
  if (def.kind === 'specs') return [];
  return def.kind === 'flag' ? false : null;
}

export interface SpecClass {
  new (init?: Record<string, unknown>): Spec;
  readonly schema: SpecSchema;
}

const classesByKind = new Map<SpecKind, SpecClass>();
const inspectSymbol: unique symbol = Symbol.for('nodejs.util.inspect.custom') as never;

/** The class of a spec kind; its module must have been loaded (index.ts loads them all). */
export function specClassOf(kind: string): SpecClass | undefined {
  return classesByKind.get(kind as SpecKind);
}

export abstract class Spec {
  readonly #layout: SpecLayout;
  /** Field values by FieldDef.index: a copied array is much cheaper than a Map per spec (thousands per call). */
  readonly #values: unknown[];
  readonly #changed = new Set<string>();
  /** Which pass over a value graph last met this spec, and its number in that pass (see stampVisit). */
  #visitPass = 0;
  #visitIndex = 0;
  /** Fields this build does not know, met when decoding (a newer peer's columns) or put here by plugins. */
  extra: Record<string, unknown> = {};

  protected constructor(layout: SpecLayout, init: Record<string, unknown> | undefined) {
    this.#layout = layout;
    this.#values = layout.initials.slice();
    for (const index of layout.specListIndexes) this.#values[index] = [];
    if (init !== undefined) {
      for (const [name, value] of Object.entries(init)) {
        if (value !== undefined) this.#write(this.#def(name), value);
      }
    }
  }

  get specKind(): SpecKind {
    return this.#layout.schema.kind;
  }

  /** The indexed schema of this spec's kind. */
  get layout(): SpecLayout {
    return this.#layout;
  }

  /** Reads any field by name. */
  getField(name: string): unknown {
    return this.#values[this.#def(name).index];
  }

  /**
   * Every field's value, by FieldDef.index: the spec's own storage, for the codec's loop over thousands of
   * specs (reading through accessors by name cost ~50 ns per field). Read only: a write would skip validation.
   */
  fieldValues(): readonly unknown[] {
    return this.#values;
  }

  /**
   * For the codec's passes over a value graph (numbering specs, finding shared ones): records that pass
   * `pass` meets this spec as number `index`, or returns the number it got when that pass met it before
   * (-1 when it is new). A stamp on the spec is much cheaper than a Map of thousands of fresh objects.
   */
  stampVisit(pass: number, index: number): number {
    if (this.#visitPass === pass) return this.#visitIndex;
    this.#visitPass = pass;
    this.#visitIndex = index;
    return -1;
  }

  /** Sets any field by name, validating the value's kind, recording the change as the accessor does. */
  setField(name: string, value: unknown): void {
    const def = this.#def(name);
    const before = this.#values[def.index];
    this.#write(def, value);
    if (!sameValue(before, value)) this.#changed.add(name);
  }

  /**
   * Sets a field while building a spec (decoding, reading a row), without recording a change. The value must
   * already fit the field (the caller checked it with fieldProblem): this is the codec's and store's fast path.
   */
  loadField(def: FieldDef, value: unknown): void {
    this.#values[def.index] = value === undefined && (def.isColumn || def.kind === 'blob') ? null : value;
  }

  /** Sets (or with undefined, removes) an extra key and records it as changed, so it travels back too. */
  setExtra(key: string, value: unknown): void {
    if (this.#layout.byName.has(key)) throw new SpecFieldError(this.specKind, key, 'is a field, not an extra key');
    if (value === undefined) delete this.extra[key];
    else this.extra[key] = value;
    this.#changed.add(key);
  }

  /** Names of the fields (and extra keys) set to a new value since construction or the last reset. */
  changedFields(): string[] {
    return [...this.#changed];
  }

  /** The changed names that are database columns (what an UPDATE must write). */
  changedColumns(): string[] {
    return [...this.#changed].filter((name) => this.#layout.byName.get(name)?.isColumn === true);
  }

  hasChanges(): boolean {
    return this.#changed.size > 0;
  }

  resetChanges(): void {
    this.#changed.clear();
  }

  /** Marks a field as changed without setting it, after an in-place edit of a dict (harvester's force_update). */
  forceUpdate(name: string): void {
    if (!this.#layout.byName.has(name) && !(name in this.extra)) {
      throw new SpecFieldError(this.specKind, name, 'no such field or extra key');
    }
    this.#changed.add(name);
  }

  /** Forgets a pending change (harvester's force_not_update). */
  forceNotUpdate(name: string): void {
    this.#changed.delete(name);
  }

  /** The encoded values of the changed fields only. */
  getChanges(): EncodedFields {
    return encodeChanges(this);
  }

  /** Decodes and sets the given fields, marking them changed. Validates all before setting any. */
  applyChanges(changes: EncodedFields): void {
    const decoded = decodeChanges(this, changes);
    for (const [name, value] of decoded) {
      if (this.#layout.byName.has(name)) this.setField(name, value);
      else this.setExtra(name, value);
    }
  }

  /** The column values (not the non-column fields, not extra), for the store. */
  columnValues(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const def of this.#layout.fields) if (def.isColumn) out[def.name] = this.#values[def.index];
    return out;
  }

  /** A deep copy: nested specs and values are copied, pending changes too. */
  clone(): this {
    const copy = decodeSpec(encodeSpec(this)) as this;
    const originals = collectSpecs(this);
    const copies = collectSpecs(copy);
    originals.forEach((original, i) => {
      const target = copies[i];
      if (target === undefined) return;
      for (const name of original.changedFields()) target.#changed.add(name);
    });
    return copy;
  }

  toJSON(): JsonValue {
    return encodeSpec(this);
  }

  /** Same kind, same field values, same extra (key order does not matter). */
  equals(other: Spec): boolean {
    return jsonEqual(encodeSpec(this), encodeSpec(other));
  }

  /** What console.log and util.inspect show: the kind and the fields that hold something. */
  [inspectSymbol](): Record<string, unknown> {
    const shown: Record<string, unknown> = { specKind: this.specKind };
    for (const def of this.#layout.fields) {
      const name = def.name;
      const value = this.#values[def.index];
      if (value !== null && value !== false && !(Array.isArray(value) && value.length === 0)) shown[name] = value;
    }
    if (Object.keys(this.extra).length > 0) shown['extra'] = this.extra;
    return shown;
  }

  #def(name: string): FieldDef {
    const def = this.#layout.byName.get(name);
    if (def === undefined) throw new SpecFieldError(this.specKind, name, 'no such field');
    return def;
  }

  #write(def: FieldDef, value: unknown): void {
    // harvester's None: undefined from JavaScript callers means "no value" as well.
    const stored = value === undefined && (def.isColumn || def.kind === 'blob') ? null : value;
    const problem = fieldProblem(def, stored);
    if (problem !== null) throw new SpecFieldError(this.specKind, def.name, problem);
    this.#values[def.index] = stored;
  }

  /** Installs one accessor per field on a subclass prototype. Lives here to reach the private storage. */
  protected static installAccessors(prototype: object, layout: SpecLayout): void {
    for (const def of layout.fields) {
      const index = def.index;
      Object.defineProperty(prototype, def.name, {
        get(this: Spec) {
          return this.#values[index];
        },
        set(this: Spec, value: unknown) {
          const before = this.#values[index];
          this.#write(def, value);
          if (!sameValue(before, value)) this.#changed.add(def.name);
        },
        enumerable: true,
        configurable: false,
      });
    }
  }

}

/** The statics every spec class has. */
export interface SpecStatics {
  readonly schema: SpecSchema;
  readonly specKind: SpecKind;
  /** Column names, in harvester's order. */
  readonly fieldNames: readonly string[];
  /** Fields that travel with the spec but are no columns (jobSpecs, inFiles, isNew...). */
  readonly nonColumnFieldNames: readonly string[];
  readonly columns: readonly ColumnDef[];
}

/**
 * The base class of one spec kind, typed with its fields `F`: `class WorkSpec extends specBase<...>(schema)`.
 * The returned class installs the accessors; the concrete class registers itself with registerSpecClass.
 */
export function specBase<F extends object>(schema: SpecSchema): SpecStatics & (new (init?: Partial<F>) => Spec & F) {
  const layout = layoutOf(schema);
  class Base extends Spec {
    static readonly schema = schema;
    static readonly specKind = schema.kind;
    static readonly fieldNames = layout.columnNames;
    static readonly nonColumnFieldNames = layout.nonColumnNames;
    static readonly columns = schema.columns;
    constructor(init?: Partial<F>) {
      super(layout, init as Record<string, unknown> | undefined);
    }
    static {
      this.installAccessors(this.prototype, layout);
    }
  }
  return Base as unknown as SpecStatics & (new (init?: Partial<F>) => Spec & F);
}

/** Makes a concrete class (with its helper methods) the one the decoder builds for its kind. */
export function registerSpecClass(cls: SpecClass): void {
  classesByKind.set(cls.schema.kind, cls);
}

/** Deep equality of JSON values, ignoring object key order. */
export function jsonEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (typeof a === 'number' && typeof b === 'number') return Object.is(a, b);
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i] as JsonValue));
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k] as JsonValue, b[k] as JsonValue));
}
