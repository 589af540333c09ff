// The spec codec: any value plugins exchange (specs, plain data, Dates, bigints) to JSON and back, exactly.
// Data only: a tag names one of a fixed set of shapes, never a constructor or code.
//
//   {"$date": "2024-01-02T03:04:05.678Z"}      a Date (ms kept)
//   {"$bigint": "12345678901234567890"}          a bigint
//   {"$num": "NaN" | "Infinity" | "-Infinity" | "-0"}   numbers JSON cannot write
//   {"$undefined": true}                         undefined as an array item or a whole value
//   {"$spec": "WorkSpec", "fields": {...}, "extra": {...}}   a spec, nested specs inside
//   {"$ref": 2}                                  the 3rd spec met in this encoding again (shared or cyclic)
//   {"$esc": {...}}                              a user object that has keys starting with "$"
//
// undefined object properties are dropped, as JSON.stringify does. Specs are numbered in the order they
// are first met (depth-first, pre-order); collectSpecs walks values in exactly that order, so the RPC layer
// can pair a caller's specs with the remote copies by position.
import { SpecDecodeError, SpecEncodeError, formatPath as formatSteps } from './errors.js';
import { defineKey, isPlainObject, type JsonObject, type JsonValue } from './json.js';
import { Spec, fieldProblem, specClassOf, type EncodedFields } from './spec.js';

/**
 * Where in the value being coded we are: a linked list, so that descending costs one small object instead of
 * a copied array per field (the codec runs over thousands of specs per call); made text only for an error.
 */
type Path = { readonly parent: Path; readonly key: string | number } | null;

function step(path: Path, ...keys: (string | number)[]): Path {
  let node = path;
  for (const key of keys) node = { parent: node, key };
  return node;
}

function formatPath(path: Path): string {
  const steps: (string | number)[] = [];
  for (let node = path; node !== null; node = node.parent) steps.push(node.key);
  return formatSteps(steps.reverse());
}

/** Numbers the codec's passes (see Spec.stampVisit); passes are synchronous, so one never overlaps another. */
let lastPass = 0;
const newPass = (): number => ++lastPass;

interface EncodeContext {
  /** The pass stamped on the specs this encoding numbers, and how many it has numbered. */
  readonly pass: number;
  specCount: number;
  /** Containers being encoded right now: meeting one again is a cycle. */
  readonly open: Set<object>;
}

interface DecodeContext {
  readonly specs: Spec[];
}

const newEncodeContext = (): EncodeContext => ({ pass: newPass(), specCount: 0, open: new Set() });
const newDecodeContext = (): DecodeContext => ({ specs: [] });

export function encodeValue(value: unknown): JsonValue {
  return encode(value, newEncodeContext(), null);
}

/** Encodes several values (a call's arguments) as one graph: a spec shared between them is sent once. */
export function encodeValues(values: readonly unknown[]): JsonValue[] {
  const ctx = newEncodeContext();
  return values.map((value, i) => encode(value, ctx, step(null, i)));
}

export function decodeValue(json: JsonValue): unknown {
  return decode(json, newDecodeContext(), null);
}

/** The inverse of encodeValues: `$ref`s may point into an earlier value. */
export function decodeValues(json: readonly JsonValue[]): unknown[] {
  const ctx = newDecodeContext();
  return json.map((item, i) => decode(item, ctx, step(null, i)));
}

export function encodeSpec(spec: Spec): JsonObject {
  // The first spec of an encoding is never a $ref: this is its body.
  return encode(spec, newEncodeContext(), null) as JsonObject;
}

export function decodeSpec(json: JsonValue): Spec {
  if (!isPlainObject(json) || !Object.hasOwn(json, '$spec')) {
    throw new SpecDecodeError('$', 'expected an encoded spec ({"$spec": ..., "fields": ...})');
  }
  return decode(json, newDecodeContext(), null) as Spec;
}

/** Every spec reachable in a value, each once, in the order the codec numbers them. */
export function collectSpecs(value: unknown): Spec[] {
  const found: Spec[] = [];
  const pass = newPass();
  const seenObjects = new Set<object>();
  const walk = (v: unknown): void => {
    if (v instanceof Spec) {
      if (v.stampVisit(pass, found.length) >= 0) return;
      found.push(v);
      // Only spec lists, dicts and blobs can hold a spec: numbers, text and dates need no visit.
      const values = v.fieldValues();
      for (const index of v.layout.containerIndexes) walk(values[index]);
      walk(v.extra);
      return;
    }
    if (typeof v !== 'object' || v === null) return;
    const items = Array.isArray(v) ? v : isPlainObject(v) ? Object.values(v) : undefined;
    // Empty containers (most specs' extra and lists) hold nothing: not worth remembering.
    if (items === undefined || items.length === 0) return;
    // A shared container holds the same specs each time, so one visit keeps the order the codec gives.
    if (seenObjects.has(v)) return;
    seenObjects.add(v);
    for (const item of items) walk(item);
  };
  walk(value);
  return found;
}

/** The encoded changed fields of a spec (Spec.getChanges). */
export function encodeChanges(spec: Spec): EncodedFields {
  const ctx = newEncodeContext();
  const out: EncodedFields = {};
  for (const name of spec.changedFields()) {
    const value = spec.layout.byName.has(name) ? spec.getField(name) : spec.extra[name];
    defineKey(out, name, value === undefined ? { $undefined: true } : encode(value, ctx, step(null, name)));
  }
  return out;
}

/** Decodes and validates changes for a spec (Spec.applyChanges); extra keys come back as [key, value]. */
export function decodeChanges(spec: Spec, changes: EncodedFields): [string, unknown][] {
  if (!isPlainObject(changes)) throw new SpecDecodeError('$', 'expected an object of changed fields');
  const ctx = newDecodeContext();
  const out: [string, unknown][] = [];
  for (const [name, json] of Object.entries(changes)) {
    const value = decode(json, ctx, step(null, name));
    const def = spec.layout.byName.get(name);
    if (def !== undefined) {
      const problem = fieldProblem(def, value);
      if (problem !== null) throw new SpecDecodeError(formatPath(step(null, name)), `${spec.specKind}.${name}: ${problem}`);
    }
    out.push([name, value]);
  }
  return out;
}

function encode(value: unknown, ctx: EncodeContext, path: Path): JsonValue {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (Number.isFinite(value) && !Object.is(value, -0)) return value;
      return { $num: Object.is(value, -0) ? '-0' : String(value) };
    case 'bigint':
      return { $bigint: value.toString() };
    case 'undefined':
      return { $undefined: true };
    case 'function':
    case 'symbol':
      throw new SpecEncodeError(formatPath(path), `a ${typeof value} is not data`);
  }
  if (value === null) return null;
  if (value instanceof Spec) {
    // Numbered before its fields are encoded: a nested reference back to it (a cycle) becomes a $ref.
    const index = value.stampVisit(ctx.pass, ctx.specCount);
    if (index >= 0) return { $ref: index };
    ctx.specCount += 1;
    return encodeSpecBody(value, ctx, path);
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new SpecEncodeError(formatPath(path), 'invalid Date');
    return { $date: value.toISOString() };
  }
  if (!Array.isArray(value) && !isPlainObject(value)) {
    const name = (value as { constructor?: { name?: string } }).constructor?.name ?? 'object';
    throw new SpecEncodeError(formatPath(path), `a ${name} is not plain data (use arrays and plain objects)`);
  }
  if (ctx.open.has(value)) throw new SpecEncodeError(formatPath(path), 'cyclic structure');
  ctx.open.add(value);
  try {
    if (Array.isArray(value)) {
      // Indexed, so holes become undefined instead of being skipped.
      const out: JsonValue[] = new Array<JsonValue>(value.length);
      for (let i = 0; i < value.length; i++) out[i] = encode(value[i], ctx, step(path, i));
      return out;
    }
    const entries = encodeEntries(value, ctx, path);
    return Object.keys(value).some((k) => k.startsWith('$')) ? { $esc: entries } : entries;
  } finally {
    ctx.open.delete(value);
  }
}

function encodeEntries(object: Record<string, unknown>, ctx: EncodeContext, path: Path): JsonObject {
  const out: JsonObject = {};
  for (const key of Object.keys(object)) {
    const item = object[key];
    if (item !== undefined) defineKey(out, key, encode(item, ctx, step(path, key)));
  }
  return out;
}

function encodeSpecBody(spec: Spec, ctx: EncodeContext, path: Path): JsonObject {
  const fields: JsonObject = {};
  const { fields: defs, initials } = spec.layout;
  const values = spec.fieldValues();
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    // A field still holding what a new spec starts with is left out: a decoded spec starts from the same
    // values, and most of a fresh WorkSpec's ~50 fields are null (sending them would triple a 1000-worker
    // call). Object.is keeps -0 apart from 0.
    if (Object.is(value, initials[i]) || (Array.isArray(value) && value.length === 0 && defs[i]!.kind === 'specs')) continue;
    const name = defs[i]!.name;
    // Plain values need no path (only an error names where it happened).
    fields[name] = typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value) && !Object.is(value, -0))
      ? value
      : encode(value, ctx, step(path, name));
  }
  if (!isPlainObject(spec.extra)) throw new SpecEncodeError(formatPath(step(path, 'extra')), 'extra must be a plain object');
  const clash = Object.keys(spec.extra).find((key) => spec.layout.byName.has(key));
  if (clash !== undefined) {
    throw new SpecEncodeError(formatPath(step(path, 'extra', clash)), `${clash} is a field of ${spec.specKind}; set the field, not extra`);
  }
  return { $spec: spec.specKind, fields, extra: encodeEntries(spec.extra, ctx, step(path, 'extra')) };
}

const numberTags: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity, '-0': -0 };
const isoDate = /^(?:\d{4}|[+-]\d{6})-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function decode(json: unknown, ctx: DecodeContext, path: Path): unknown {
  switch (typeof json) {
    case 'string':
    case 'boolean':
      return json;
    case 'number':
      if (!Number.isFinite(json)) throw new SpecDecodeError(formatPath(path), `${json} is not a JSON number`);
      return json;
  }
  if (json === null) return null;
  if (Array.isArray(json)) return json.map((item, i) => decode(item, ctx, step(path, i)));
  if (!isPlainObject(json)) throw new SpecDecodeError(formatPath(path), `not JSON (a ${typeof json})`);
  const keys = Object.keys(json);
  if (!keys.some((k) => k.startsWith('$'))) return decodeEntries(json, ctx, path);
  return decodeTagged(json, keys, ctx, path);
}

function decodeEntries(json: Record<string, unknown>, ctx: DecodeContext, path: Path): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(json)) defineKey(out, key, decode(json[key], ctx, step(path, key)));
  return out;
}

function decodeTagged(json: Record<string, unknown>, keys: string[], ctx: DecodeContext, path: Path): unknown {
  const only = (tag: string): unknown => {
    if (keys.length !== 1) throw new SpecDecodeError(formatPath(path), `a ${tag} tag takes no other keys (got ${keys.join(', ')})`);
    return json[tag];
  };
  const tag = keys.find((k) => k.startsWith('$'));
  switch (tag) {
    case '$date': {
      const iso = only(tag);
      if (typeof iso !== 'string' || !isoDate.test(iso) || Number.isNaN(Date.parse(iso))) {
        throw new SpecDecodeError(formatPath(path), `$date must be an ISO-8601 UTC time with milliseconds, got ${JSON.stringify(iso)}`);
      }
      return new Date(iso);
    }
    case '$bigint': {
      const digits = only(tag);
      if (typeof digits !== 'string' || !/^-?\d+$/.test(digits)) {
        throw new SpecDecodeError(formatPath(path), `$bigint must be a string of digits, got ${JSON.stringify(digits)}`);
      }
      return BigInt(digits);
    }
    case '$num': {
      const name = only(tag);
      if (typeof name !== 'string' || !Object.hasOwn(numberTags, name)) {
        throw new SpecDecodeError(formatPath(path), `$num must be NaN, Infinity, -Infinity or -0, got ${JSON.stringify(name)}`);
      }
      return numberTags[name];
    }
    case '$undefined':
      if (only(tag) !== true) throw new SpecDecodeError(formatPath(path), '$undefined must be true');
      return undefined;
    case '$ref': {
      const index = only(tag);
      const spec = typeof index === 'number' && Number.isInteger(index) ? ctx.specs[index] : undefined;
      if (spec === undefined) {
        throw new SpecDecodeError(formatPath(path), `$ref ${JSON.stringify(index)} names no spec met before it in this value`);
      }
      return spec;
    }
    case '$esc': {
      const inner = only(tag);
      if (!isPlainObject(inner)) throw new SpecDecodeError(formatPath(path), '$esc must hold an object');
      return decodeEntries(inner, ctx, step(path, '$esc'));
    }
    case '$spec':
      return decodeSpecBody(json, keys, ctx, path);
    default:
      throw new SpecDecodeError(formatPath(path), `unknown tag ${JSON.stringify(tag)} (user keys starting with "$" must be inside $esc)`);
  }
}

function decodeSpecBody(json: Record<string, unknown>, keys: string[], ctx: DecodeContext, path: Path): Spec {
  const stray = keys.filter((k) => k !== '$spec' && k !== 'fields' && k !== 'extra');
  if (stray.length > 0) throw new SpecDecodeError(formatPath(path), `unexpected keys in an encoded spec: ${stray.join(', ')}`);
  const kind = json['$spec'];
  const cls = typeof kind === 'string' ? specClassOf(kind) : undefined;
  if (cls === undefined) throw new SpecDecodeError(formatPath(step(path, '$spec')), `unknown spec kind ${JSON.stringify(kind)}`);
  const fields = json['fields'];
  if (!isPlainObject(fields)) throw new SpecDecodeError(formatPath(step(path, 'fields')), 'expected an object');
  const extraJson = json['extra'] ?? {};
  if (!isPlainObject(extraJson)) throw new SpecDecodeError(formatPath(step(path, 'extra')), 'expected an object');

  const spec = new cls();
  // Numbered before its fields are decoded, as the encoder did, so $refs inside resolve the same way.
  ctx.specs.push(spec);
  const extra: Record<string, unknown> = {};
  for (const name of Object.keys(fields)) {
    const raw = fields[name];
    // Text and flags decode to themselves; skipping the call spares a path per field (thousands per call).
    const value = typeof raw === 'string' || typeof raw === 'boolean' ? raw : decode(raw, ctx, step(path, 'fields', name));
    const def = spec.layout.byName.get(name);
    if (def === undefined) {
      // A field this build does not know (a newer peer): kept, and sent on unchanged.
      if (value !== undefined) defineKey(extra, name, value);
      continue;
    }
    const problem = fieldProblem(def, value);
    if (problem !== null) throw new SpecDecodeError(formatPath(step(path, 'fields', name)), `${spec.specKind}.${name}: ${problem}`);
    spec.loadField(def, value);
  }
  for (const key of Object.keys(extraJson)) {
    const value = decode(extraJson[key], ctx, step(path, 'extra', key));
    if (spec.layout.byName.has(key)) {
      throw new SpecDecodeError(formatPath(step(path, 'extra', key)), `${key} is a field of ${spec.specKind}, not an extra key`);
    }
    if (value !== undefined) defineKey(extra, key, value);
  }
  spec.extra = extra;
  // Decoding builds the spec; like construction, it is not a change.
  spec.resetChanges();
  return spec;
}
