// The plugins a bot has built, kept for the next call (building one may load a file, open connections):
// bounded, least recently used first out, so a herder naming ever new sections cannot grow the bot without
// end. A plugin a call is using is never evicted; when every entry is in use the cache holds more for a while
// and evicts as the calls end.

export const DEFAULT_PLUGIN_CACHE_SIZE = 128;

interface Entry<V> {
  readonly value: Promise<V>;
  users: number;
}

/** A cached value in use by one call; release it when the call ends (idempotent). */
export interface Lease<V> {
  readonly value: Promise<V>;
  release(): void;
}

export class PluginCache<V> {
  /** In order of use, least recent first (an entry is moved to the end when used). */
  private readonly entries = new Map<string, Entry<V>>();

  constructor(readonly capacity: number = DEFAULT_PLUGIN_CACHE_SIZE) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`a plugin cache holds at least one plugin (got ${capacity})`);
  }

  get size(): number {
    return this.entries.size;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /**
   * The value for `key`, built with `build` when it is not cached (a build that throws caches nothing; one
   * that rejects is dropped, so the next call tries again), in use until the lease is released.
   */
  acquire(key: string, build: () => Promise<V>): Lease<V> {
    let entry = this.entries.get(key);
    if (entry === undefined) {
      const created: Entry<V> = { value: build(), users: 0 };
      created.value.catch(() => {
        if (this.entries.get(key) === created) this.entries.delete(key);
      });
      entry = created;
    } else {
      this.entries.delete(key);
    }
    this.entries.set(key, entry);
    entry.users += 1;
    this.evict();
    const used = entry;
    let released = false;
    return {
      value: used.value,
      release: () => {
        if (released) return;
        released = true;
        used.users -= 1;
        this.evict();
      },
    };
  }

  private evict(): void {
    if (this.entries.size <= this.capacity) return;
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.capacity) return;
      if (entry.users === 0) this.entries.delete(key);
    }
  }
}
