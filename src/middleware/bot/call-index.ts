// The call journal's in-memory index: call id -> state, time and place (offset, length) of its latest line.
//
// A bot keeps every call id for the retention window (a day), which can be hundreds of thousands of ids. As
// Map entries (the id string, a record object, a boxed time) they cost ~170 bytes each on the V8 heap and
// made the bot's heap grow with every call. So only the calls recorded since the last compaction live in a
// Map; compaction moves the others into "settled" entries: parallel typed arrays sorted by a 53-bit hash of
// the id, 29 bytes a call, outside the V8 heap. The id itself is not kept there: a hash match is confirmed
// against the journal line, so a hash collision is a miss, never the replay of another call's reply.

export type CallState = 'started' | 'completed';

export interface IndexEntry {
  readonly state: CallState;
  readonly at: number;
  /** Byte offset and length (newline included) of the id's latest journal line. */
  readonly offset: number;
  readonly length: number;
}

/** Whether the journal line at [offset, offset + length) records call `id`. */
export type LineHolds = (id: string, offset: number, length: number) => boolean;

const STARTED = 0;
const COMPLETED = 1;

/** cyrb53 (bryc, public domain): a fast 53-bit string hash, exact as a double. */
export function hashCallId(id: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < id.length; i++) {
    const ch = id.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** Entries as parallel arrays (sorted by hash once built by `settle`). */
class EntryTable {
  readonly hashes: Float64Array;
  readonly offsets: Float64Array;
  readonly lengths: Uint32Array;
  readonly ats: Float64Array;
  readonly states: Uint8Array;

  constructor(readonly count: number) {
    this.hashes = new Float64Array(count);
    this.offsets = new Float64Array(count);
    this.lengths = new Uint32Array(count);
    this.ats = new Float64Array(count);
    this.states = new Uint8Array(count);
  }

  put(i: number, hash: number, entry: IndexEntry): void {
    this.hashes[i] = hash;
    this.offsets[i] = entry.offset;
    this.lengths[i] = entry.length;
    this.ats[i] = entry.at;
    this.states[i] = entry.state === 'started' ? STARTED : COMPLETED;
  }

  entry(i: number): IndexEntry {
    return { state: this.states[i] === STARTED ? 'started' : 'completed', at: this.ats[i]!, offset: this.offsets[i]!, length: this.lengths[i]! };
  }

  /** First position whose hash is >= `hash` (the table is sorted by hash). */
  lowerBound(hash: number): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.hashes[mid]! < hash) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * The retained entries of a compaction in file order, with the places they get in the new file. Nothing
 * changes in the index until `CallIndex.commit`, so a compaction that fails half-way leaves it intact.
 */
export class CompactionPlan {
  /** Places in the new file, by position k in `order`. */
  readonly newOffsets: Float64Array;
  readonly newLengths: Uint32Array;
  private nextOffset = 0;

  constructor(
    /** Every entry: settled ones first, then the recent ones in `recentIds` order. */
    readonly table: EntryTable,
    readonly recentIds: readonly string[],
    /** Positions in `table` of the retained entries, sorted by their offset in the current file. */
    readonly order: Uint32Array,
  ) {
    this.newOffsets = new Float64Array(order.length);
    this.newLengths = new Uint32Array(order.length);
  }

  get kept(): number {
    return this.order.length;
  }

  get dropped(): number {
    return this.table.count - this.order.length;
  }

  /** Size of the new file so far. */
  get size(): number {
    return this.nextOffset;
  }

  /** Offset of the k-th retained line (in file order) in the current file. */
  offset(k: number): number {
    return this.table.offsets[this.order[k]!]!;
  }

  length(k: number): number {
    return this.table.lengths[this.order[k]!]!;
  }

  /** Records that the k-th retained line was written to the new file with `length` bytes. */
  written(k: number, length: number): void {
    this.newOffsets[k] = this.nextOffset;
    this.newLengths[k] = length;
    this.nextOffset += length;
  }

  /** The id of the k-th retained entry when it is a recent one (settled entries have no id). */
  recentId(k: number): string | undefined {
    const settledCount = this.table.count - this.recentIds.length;
    const p = this.order[k]!;
    return p < settledCount ? undefined : this.recentIds[p - settledCount];
  }
}

export class CallIndex {
  /** Calls recorded since the last compaction, and calls running across one. */
  private recent = new Map<string, IndexEntry>();
  private settled = new EntryTable(0);

  constructor(private readonly lineHolds: LineHolds) {}

  /** Number of call ids on record. */
  get size(): number {
    return this.recent.size + this.settled.count;
  }

  /** Number of ids held in the Map (the rest are settled). */
  get recentCount(): number {
    return this.recent.size;
  }

  get(id: string): IndexEntry | undefined {
    const entry = this.recent.get(id);
    if (entry !== undefined) return entry;
    const { settled } = this;
    if (settled.count === 0) return undefined;
    const hash = hashCallId(id);
    for (let i = settled.lowerBound(hash); i < settled.count && settled.hashes[i] === hash; i++) {
      if (this.lineHolds(id, settled.offsets[i]!, settled.lengths[i]!)) return settled.entry(i);
    }
    return undefined;
  }

  /**
   * Records the latest line of `id`. Only for an id not on record yet or one held in the Map (a running
   * call): a settled id is never running, so it is never written again.
   */
  set(id: string, entry: IndexEntry): void {
    this.recent.set(id, entry);
  }

  /** True when some entry is older than `cutoff`. */
  hasOlderThan(cutoff: number): boolean {
    for (const entry of this.recent.values()) if (entry.at < cutoff) return true;
    const { ats, count } = this.settled;
    for (let i = 0; i < count; i++) if (ats[i]! < cutoff) return true;
    return false;
  }

  /** Sum of the lengths of the latest lines: the size of a journal holding nothing else. */
  bytes(): number {
    let total = 0;
    for (const entry of this.recent.values()) total += entry.length;
    const { lengths, count } = this.settled;
    for (let i = 0; i < count; i++) total += lengths[i]!;
    return total;
  }

  /** The entries to keep (no older than `cutoff`, or running), in file order. */
  planCompaction(cutoff: number, isRunning: (id: string) => boolean): CompactionPlan {
    const settledCount = this.settled.count;
    const recentIds = [...this.recent.keys()];
    const table = new EntryTable(settledCount + recentIds.length);
    copyTable(this.settled, table);
    recentIds.forEach((id, k) => table.put(settledCount + k, 0, this.recent.get(id)!));
    const kept: number[] = [];
    for (let p = 0; p < table.count; p++) {
      if (table.ats[p]! >= cutoff || (p >= settledCount && isRunning(recentIds[p - settledCount]!))) kept.push(p);
    }
    const order = Uint32Array.from(kept).sort((a, b) => table.offsets[a]! - table.offsets[b]!);
    return new CompactionPlan(table, recentIds, order);
  }

  /** Takes the new file's places from a finished plan; every call not running becomes settled. */
  commit(plan: CompactionPlan, isRunning: (id: string) => boolean): void {
    const { table, order, newOffsets, newLengths } = plan;
    const recent = new Map<string, IndexEntry>();
    const hashes = new Float64Array(plan.kept);
    const toSettle: number[] = [];
    for (let k = 0; k < plan.kept; k++) {
      const p = order[k]!;
      const id = plan.recentId(k);
      if (id !== undefined && isRunning(id)) {
        recent.set(id, { ...table.entry(p), offset: newOffsets[k]!, length: newLengths[k]! });
        continue;
      }
      hashes[k] = id === undefined ? table.hashes[p]! : hashCallId(id);
      toSettle.push(k);
    }
    const byHash = Uint32Array.from(toSettle).sort((a, b) => hashes[a]! - hashes[b]!);
    const settled = new EntryTable(byHash.length);
    for (let i = 0; i < byHash.length; i++) {
      const k = byHash[i]!;
      const p = order[k]!;
      settled.hashes[i] = hashes[k]!;
      settled.offsets[i] = newOffsets[k]!;
      settled.lengths[i] = newLengths[k]!;
      settled.ats[i] = table.ats[p]!;
      settled.states[i] = table.states[p]!;
    }
    this.settled = settled;
    this.recent = recent;
  }
}

function copyTable(from: EntryTable, to: EntryTable): void {
  to.hashes.set(from.hashes);
  to.offsets.set(from.offsets);
  to.lengths.set(from.lengths);
  to.ats.set(from.ats);
  to.states.set(from.states);
}
