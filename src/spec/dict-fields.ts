// Updating dict-valued fields (workAttributes, jobAttributes...) the way harvester does.

/**
 * A copy of a dict field with data merged in, or null when that changes nothing: harvester records the
 * field as changed only when a key is new or gets a different value. A copy, so the set is seen.
 */
export function mergedDict(current: Record<string, unknown> | null, data: Record<string, unknown>): Record<string, unknown> | null {
  const merged: Record<string, unknown> = { ...(current ?? {}) };
  let changed = current === null;
  for (const [key, value] of Object.entries(data)) {
    if (!Object.hasOwn(merged, key) || !Object.is(merged[key], value)) {
      Object.defineProperty(merged, key, { value, enumerable: true, writable: true, configurable: true });
      changed = true;
    }
  }
  return changed ? merged : null;
}
