// The JSON data model every encoded value lives in: what crosses the wire and what the store keeps.

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** A plain object: made by `{}`/JSON.parse/Object.create(null), not a class instance (Map, Date, Spec...). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Sets a key even when it is "__proto__", which plain assignment would turn into a prototype change. */
export function defineKey(target: Record<string, unknown>, key: string, value: unknown): void {
  // defineProperty for every key turned objects into slow dictionaries and cost ~1 us per key.
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}
