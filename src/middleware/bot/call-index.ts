// The call journal's in-memory index: call id -> state, time and place (offset, length) of its latest line.
//
// A bot keeps every call id for the retention window (a day), which can be hundreds of thousands of ids. As
// Map entries (the id string, a record object, a boxed time) they cost ~170 bytes each on the V8 heap and
// made the bot's heap grow with every call. So only the calls recorded since the last compaction live in a
// Map; compaction moves the others into "settled" entries: parallel typed arrays sorted by a 53-bit hash of
// the id, 37 bytes a call, outside the V8 heap. The id itself is not kept there: a hash match is confirmed
// against the journal line, so a hash collision is a miss, never the replay of another call's reply.

export type CallState = 'started' | 'completed';

export interface IndexEntry {
  readonly state: CallState;
  readonly at: number;
  /**
   * Until when the herder may ask for this call again (its deadline): before then its record must stay
   * whatever the journal's size. Absent on lines of earlier versions.
   */
  readonly until?: number;
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
  /** NaN where the line had no `until`. */
  readonly untils: Float64Array;
  readonly states: Uint8Array;

  constructor(readonly count: number) {
    this.hashes = new Float64Array(count);
    this.offsets = new Float64Array(count);
    this.lengths = new Uint32Array(count);
    this.ats = new Float64Array(count);
    this.untils = new Float64Array(count);
    this.states = new Uint8Array(count);
  }

  put(i: number, hash: number, entry: IndexEntry): void {
    this.hashes[i] = hash;
    this.offsets[i] = entry.offset;
    this.lengths[i] = entry.length;
    this.ats[i] = entry.at;
    this.untils[i] = entry.until ?? Number.NaN;
    this.states[i] = entry.state === 'started' ? STARTED : COMPLETED;
  }

  entry(i: number): IndexEntry {
    const until = this.untils[i]!;
    return {
      state: this.states[i] === STARTED ? 'started' : 'completed',
      at: this.ats[i]!,
      ...(Number.isNaN(until) ? {} : { until }),
      offset: this.offsets[i]!,
      length: this.lengths[i]!,
    };
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
    /** The recent entries as they were when planned (a later line of the same id supersedes its entry here). */
    readonly recentEntries: readonly IndexEntry[],
    /** Positions in `table` of the retained entries, sorted by their offset in the current file. */
    readonly order: Uint32Array,
    /** Bytes of the retained lines. */
    readonly keptBytes: number,
    /** True when the retained lines exceed the size cap: every one of them may still be asked for. */
    readonly full: boolean,
    /** The earliest time a retained, finished record may be dropped to make room (undefined: none may). */
    readonly nextDroppableAt: number | undefined,
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

/** Make room when the retained lines exceed maxBytes: drop finished records the herder can no longer ask for. */
export interface SizePressure {
  readonly maxBytes: number;
  /** Records are dropped until the retained lines fit in this (below maxBytes, so room lasts a while). */
  readonly targetBytes: number;
  readonly now: number;
  /** For records without `until` (lines of earlier versions): their `at` plus this. */
  readonly legacyHorizonMs: number;
}

/** Where a new line tail (appended after the plan was made) lands: its old offsets from `from` on, shifted. */
export interface CompactionTail {
  readonly from: number;
  readonly shift: number;
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

  /**
   * The entries to keep, in file order: no older than `cutoff`, or running; under size pressure, also without
   * the oldest finished ones whose `until` has passed, until the rest fits.
   */
  planCompaction(cutoff: number, isRunning: (id: string) => boolean, pressure?: SizePressure): CompactionPlan {
    const settledCount = this.settled.count;
    const recentIds = [...this.recent.keys()];
    const recentEntries = recentIds.map((id) => this.recent.get(id)!);
    const table = new EntryTable(settledCount + recentIds.length);
    copyTable(this.settled, table);
    recentEntries.forEach((entry, k) => table.put(settledCount + k, 0, entry));
    const running = (p: number): boolean => p >= settledCount && isRunning(recentIds[p - settledCount]!);
    let kept: number[] = [];
    let keptBytes = 0;
    for (let p = 0; p < table.count; p++) {
      if (table.ats[p]! >= cutoff || running(p)) {
        kept.push(p);
        keptBytes += table.lengths[p]!;
      }
    }
    const untilOf = (p: number): number => (Number.isNaN(table.untils[p]!) ? table.ats[p]! + (pressure?.legacyHorizonMs ?? 0) : table.untils[p]!);
    let nextDroppableAt: number | undefined;
    if (pressure !== undefined && keptBytes > pressure.maxBytes) {
      const droppable = kept.filter((p) => !running(p) && untilOf(p) < pressure.now).sort((a, b) => table.ats[a]! - table.ats[b]!);
      const dropped = new Set<number>();
      for (const p of droppable) {
        if (keptBytes <= pressure.targetBytes) break;
        dropped.add(p);
        keptBytes -= table.lengths[p]!;
      }
      if (dropped.size > 0) kept = kept.filter((p) => !dropped.has(p));
    }
    if (pressure !== undefined) {
      for (const p of kept) {
        if (running(p)) continue;
        const until = untilOf(p);
        if (until >= pressure.now && (nextDroppableAt === undefined || until < nextDroppableAt)) nextDroppableAt = until;
      }
    }
    const order = Uint32Array.from(kept).sort((a, b) => table.offsets[a]! - table.offsets[b]!);
    const full = pressure !== undefined && keptBytes > pressure.maxBytes;
    return new CompactionPlan(table, recentIds, recentEntries, order, keptBytes, full, nextDroppableAt);
  }

  /**
   * Takes the new file's places from a finished plan; every call not running becomes settled. With a tail,
   * the lines appended while the plan was being written (from tail.from on in the old file) were copied after
   * the plan's lines: their entries move by tail.shift, and a plan entry they supersede is left behind.
   */
  commit(plan: CompactionPlan, isRunning: (id: string) => boolean, tail?: CompactionTail): void {
    const { table, order, newOffsets, newLengths } = plan;
    const recent = new Map<string, IndexEntry>();
    const hashes = new Float64Array(plan.kept);
    const toSettle: number[] = [];
    const settledCount = table.count - plan.recentIds.length;
    for (let k = 0; k < plan.kept; k++) {
      const p = order[k]!;
      const id = plan.recentId(k);
      if (id !== undefined) {
        // Written again since the plan was made (a running call that ended): its tail line is the one.
        if (this.recent.get(id) !== plan.recentEntries[p - settledCount]) continue;
        if (isRunning(id)) {
          recent.set(id, { ...table.entry(p), offset: newOffsets[k]!, length: newLengths[k]! });
          continue;
        }
      }
      hashes[k] = id === undefined ? table.hashes[p]! : hashCallId(id);
      toSettle.push(k);
    }
    if (tail !== undefined) {
      for (const [id, entry] of this.recent) {
        if (entry.offset >= tail.from) recent.set(id, { ...entry, offset: entry.offset + tail.shift });
      }
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
      settled.untils[i] = table.untils[p]!;
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
  to.untils.set(from.untils);
  to.states.set(from.states);
}
