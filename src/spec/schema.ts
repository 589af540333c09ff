// What a spec kind consists of: its columns (harvester's attributesWithTypes, in harvester's order) and its
// non-column fields (harvester's extra attributes: jobspec_list, inFiles, isNew...), which travel with the
// spec but are not stored. One table drives accessors, validation, the codec, the store's DDL and
// the property tests' generators, so they cannot drift apart.

import { SpecFieldError } from './errors.js';

export const specKinds = ['WorkSpec', 'JobSpec', 'FileSpec', 'EventSpec'] as const;
export type SpecKind = (typeof specKinds)[number];

/**
 * The kind of value a column holds (all nullable): integer: number; text: string; timestamp: Date;
 * dict: a plain object (a harvester blob holding a dict); blob: any encodable value.
 */
export type ColumnKind = 'integer' | 'text' | 'timestamp' | 'dict' | 'blob';

export interface ColumnDef {
  readonly name: string;
  readonly kind: ColumnKind;
  readonly primaryKey?: boolean;
  /** harvester's "primary key autoincrement". */
  readonly autoIncrement?: boolean;
  /** harvester declares an index on it ("/ index"). */
  readonly index?: boolean;
  /** The value of a fresh spec when not null (harvester's zeroAttrs). */
  readonly initial?: number;
}

/**
 * A non-column field: a list of specs of one kind (never null, starts empty), a boolean flag (starts
 * false) or any encodable value (starts null).
 */
export type NonColumnDef =
  | { readonly name: string; readonly kind: 'specs'; readonly specKind: SpecKind }
  | { readonly name: string; readonly kind: 'flag' }
  | { readonly name: string; readonly kind: 'blob' };

export interface SpecSchema {
  readonly kind: SpecKind;
  readonly columns: readonly ColumnDef[];
  readonly nonColumns: readonly NonColumnDef[];
}

/** Compact column notation: 'name:kind', with ' pk', ' auto', ' index', ' =0' flags. */
export function columns(...defs: string[]): ColumnDef[] {
  return defs.map((def) => {
    const [head = '', ...flags] = def.split(' ');
    const [name = '', kind = ''] = head.split(':');
    if (!['integer', 'text', 'timestamp', 'dict', 'blob'].includes(kind)) {
      throw new SpecFieldError('schema', name, `bad column definition '${def}'`);
    }
    const column: { -readonly [K in keyof ColumnDef]: ColumnDef[K] } = { name, kind: kind as ColumnKind };
    if (flags.includes('pk')) column.primaryKey = true;
    if (flags.includes('auto')) column.autoIncrement = true;
    if (flags.includes('index')) column.index = true;
    if (flags.includes('=0')) column.initial = 0;
    return Object.freeze(column);
  });
}

/** harvester's SQL column type for a column kind (what its DDL says). */
export function sqlTypeOf(kind: ColumnKind): 'integer' | 'text' | 'timestamp' | 'blob' {
  switch (kind) {
    case 'integer':
      return 'integer';
    case 'text':
      return 'text';
    case 'timestamp':
      return 'timestamp';
    case 'dict':
    case 'blob':
      return 'blob';
  }
}
