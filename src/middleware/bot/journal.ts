// The bot's call journal: what makes a call id run at most once, across connections and bot restarts.
//
// A JSON line is appended when a call starts (before its handler runs) and when it ends (with its reply).
// Lines are written with a synchronous write(2) and no fsync: once write returns the kernel holds the data,
// so it survives the bot being SIGKILLed, but not a machine crash or power loss. That is the trade we
// choose: an fsync per call would cost milliseconds, and after a machine crash the batch system's own state
// (checked by the monitor) is the truth anyway. Compaction, which replaces the file, does fsync.
//
// Only an index (id -> state, time, place of its latest line; see call-index.ts) is kept in memory; a
// replayed reply is read back from the file, so large results do not pile up in memory.
//
// Lines are written in batches, one writev per event-loop turn: with many calls in flight, two writes per
// call were a large part of the bot's CPU. claim() queues the start line and returns at once with an
// Execution whose handler waits for its start gate; an execution whose handler settles queues its end line
// and its reply waits for it. The first queued line schedules the flush with process.nextTick, so the calls
// claimed by one burst of frames, or finishing in one burst of promise continuations, share a write. The
// flush writes every queued line with one writevSync, updates the index (offset and length of each line),
// then opens the gates. The invariants are the ones of a write per line:
// - a handler starts only after its start line is in the file (a SIGKILL before leaves no line, so the
//   call never ran; after, a retry hears OutcomeUnknown, never a second execution);
// - a reply is released only after its end line is in the file;
// - a failed write fails exactly the calls whose lines were in it: their starts are refused (the reply is
//   the JournalError, the handler never runs, the id is forgotten so a retry may run it), their ends are
//   logged and the replies still go out; the file is cut back to where the failed write began.
// An execution stays in `running` until its end line is written, so a retry arriving in between attaches
// to it instead of reading the start line (OutcomeUnknown) from the index.
//
// Size. Each line carries `until`, the call's deadline: the herder retries a call id only until then, so
// until then its record must stay. Compaction drops records older than the retention window (a day), and,
// when the records kept would exceed maxBytes, also the oldest finished records whose `until` has passed,
// down to 3/4 of the cap. If every record kept may still be asked for and they exceed the cap, the journal
// is full: new calls are refused (not run; the herder may retry later) until records age out. Compaction of
// a journal beyond a megabyte runs in the background, a slice at a time, while calls go on appending to the
// old file; the lines appended meanwhile are copied after the kept ones, and the switch to the new file
// (the last small tail, fsync, rename, index update) is one synchronous step.
import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  writeSync,
  writevSync,
} from 'node:fs';
import { fsync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { MiddlewareError, OutcomeUnknownError, type MiddlewareErrorContext } from '../errors.js';
import { Execution, MAX_TIMER_MS, type CallClaim, type CallLedger, type CallReply, type CallRunner, type StartGate } from '../protocol/ledger.js';
import type { MiddlewareLogger } from '../protocol/log.js';
import { wireErrorSchema } from '../protocol/messages.js';
import { CallIndex, type CallState, type CompactionPlan, type CompactionTail, type IndexEntry, type SizePressure } from './call-index.js';

export const DEFAULT_RETENTION_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_COMPACT_EVERY = 10_000;
export const DEFAULT_MAX_JOURNAL_BYTES = 256 * 1024 * 1024;
/** A journal up to this size is compacted in one go (about a millisecond); a bigger one in the background. */
export const DEFAULT_SYNC_COMPACTION_MAX_BYTES = 1024 * 1024;
/** Bytes a background compaction copies between two turns of the event loop. */
export const DEFAULT_COMPACTION_SLICE_BYTES = 1024 * 1024;
/** Records of earlier versions have no `until`: they may be asked for until this long after they were written. */
export const LEGACY_RETRY_HORIZON_MS = 60 * 60 * 1000;

export class JournalError extends MiddlewareError {
  static override readonly wireType: string = 'JournalError';
}

/** A journal line other than the last one is not a valid record: the file was damaged or edited. */
export class JournalCorruptError extends JournalError {}

export interface CallJournalOptions {
  readonly log: MiddlewareLogger;
  /** Records older than this are dropped at compaction. */
  readonly retentionMs?: number;
  /** Compact after this many appended lines (and always at open). */
  readonly compactEvery?: number;
  /** Clock, for tests of retention. */
  readonly now?: () => number;
  /** Size cap (see the top of this file). */
  readonly maxBytes?: number;
  readonly syncCompactionMaxBytes?: number;
  readonly compactionSliceBytes?: number;
}

const recordSchema = z.discriminatedUnion('s', [
  z.object({ s: z.literal('start'), id: z.string().min(1), at: z.number(), until: z.number().optional() }),
  z.object({
    s: z.literal('end'),
    id: z.string().min(1),
    at: z.number(),
    until: z.number().optional(),
    reply: z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('result'), payload: z.unknown() }),
      // The wire's own schema, so a replayed error keeps its name, call effect and causes.
      z.object({ kind: z.literal('error'), error: wireErrorSchema }),
    ]),
  }),
]);
type JournalRecord = z.infer<typeof recordSchema>;

export type JournaledState = CallState;

/** Lines are copied through a buffer of this size at compaction (a longer line gets its own). */
const COPY_BUFFER_BYTES = 64 * 1024;

interface QueuedLine {
  readonly id: string;
  readonly state: JournaledState;
  readonly at: number;
  readonly until: number;
  readonly length: number;
}

/** The lines queued in one turn, written together, and the executions waiting for them. */
class PendingWrite {
  readonly parts: Buffer[] = [];
  readonly lines: QueuedLine[] = [];
  /** Executions whose start line is in this write: their handlers wait for it. */
  readonly started: Execution[] = [];
  /** Executions whose end line is in this write: their replies wait for it. */
  readonly ended: Execution[] = [];
  private openStartGate: ((refusal: Error | undefined) => void) | undefined;
  private startGatePromise: StartGate | undefined;
  private releaseEnds: (() => void) | undefined;
  private endsWrittenPromise: Promise<void> | undefined;

  add(id: string, state: JournaledState, at: number, until: number, parts: readonly Buffer[]): void {
    let length = 0;
    for (const part of parts) {
      this.parts.push(part);
      length += part.length;
    }
    this.lines.push({ id, state, at, until, length });
  }

  /** Shared by the starts of this write. */
  startGate(): StartGate {
    this.startGatePromise ??= new Promise((resolve) => (this.openStartGate = resolve));
    return this.startGatePromise;
  }

  /** Shared by the ends of this write; resolves whether or not they were recorded. */
  endsWritten(): Promise<void> {
    this.endsWrittenPromise ??= new Promise((resolve) => (this.releaseEnds = resolve));
    return this.endsWrittenPromise;
  }

  /** Opens the gates once the write is done; `failure` refuses the starts. */
  settle(failure: Error | undefined): void {
    this.openStartGate?.(failure);
    this.releaseEnds?.();
  }
}

export class CallJournal implements CallLedger {
  private readonly index = new CallIndex((id, offset, length) => this.lineHolds(id, offset, length));
  private readonly running = new Map<string, Execution>();
  /** The latest deadline any delivery of a running call asked for: the `until` of its end line. */
  private readonly untils = new Map<string, number>();
  private readonly idleWaiters: Array<() => void> = [];
  private readonly retentionMs: number;
  private readonly compactEvery: number;
  private readonly maxBytes: number;
  private readonly syncCompactionMaxBytes: number;
  private readonly sliceBytes: number;
  private readonly now: () => number;
  private readonly log: MiddlewareLogger;
  private fd: number | undefined;
  private size = 0;
  private appendsSinceCompaction = 0;
  /** Size right after the last compaction: growth beyond the cap from there makes the next one due. */
  private sizeAfterCompaction = 0;
  /** Every record kept may still be asked for and they exceed the cap: new calls are refused. */
  private full = false;
  private fullRetry: NodeJS.Timeout | undefined;
  /** The background compaction running, and its number (a newer number or a closed file cancels it). */
  private background: Promise<void> | undefined;
  private generation = 0;
  /** Lines queued this turn; written by the flush that the first of them scheduled. */
  private pending: PendingWrite | undefined;
  private readonly flushAtTurnEnd = (): void => this.flush();

  private constructor(
    readonly file: string,
    options: CallJournalOptions,
  ) {
    this.log = options.log;
    this.retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
    this.compactEvery = options.compactEvery ?? DEFAULT_COMPACT_EVERY;
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_JOURNAL_BYTES;
    this.syncCompactionMaxBytes = options.syncCompactionMaxBytes ?? DEFAULT_SYNC_COMPACTION_MAX_BYTES;
    this.sliceBytes = options.compactionSliceBytes ?? DEFAULT_COMPACTION_SLICE_BYTES;
    this.now = options.now ?? Date.now;
  }

  /** Opens (or creates) the journal file, loads its index and compacts it. */
  static open(file: string, options: CallJournalOptions): CallJournal {
    const journal = new CallJournal(file, options);
    journal.load();
    return journal;
  }

  get runningCount(): number {
    return this.running.size;
  }

  /** Number of call ids on record. */
  get recordCount(): number {
    return this.index.size;
  }

  /** Bytes in the journal file. */
  get sizeBytes(): number {
    return this.size;
  }

  /** True while new calls are refused because every record kept may still be asked for (see the top). */
  get isFull(): boolean {
    return this.full || this.size >= 2 * this.maxBytes;
  }

  /** True while a background compaction runs. */
  get compacting(): boolean {
    return this.background !== undefined;
  }

  /** Resolves when no background compaction runs (at once when none does). */
  whenCompacted(): Promise<void> {
    return this.background ?? Promise.resolve();
  }

  /** What the journal knows of a call id (for inspection and tests). */
  stateOf(id: string): JournaledState | undefined {
    return this.index.get(id)?.state;
  }

  claim(id: string, deadlineAt: number, run: CallRunner): CallClaim {
    const execution = this.running.get(id);
    if (execution !== undefined) {
      if (deadlineAt > (this.untils.get(id) ?? 0)) this.untils.set(id, deadlineAt);
      return { kind: 'running', execution, startedHere: false };
    }
    const entry = this.index.get(id);
    if (entry?.state === 'completed') return { kind: 'replay', reply: this.readReply(id, entry) };
    if (entry?.state === 'started') {
      const error = new OutcomeUnknownError(`call ${id} was running when the bot stopped; its outcome is unknown`);
      return { kind: 'replay', reply: { kind: 'error', error: { type: error.wireType, message: error.message, name: error.name, callEffect: error.callEffect } } };
    }
    this.openFd(); // a closed journal refuses the call now
    if (this.isFull) {
      throw new JournalError(
        `call journal ${this.file} is full: its ${this.size} bytes are records of calls that may still be asked for (cap ${this.maxBytes}); new calls are refused until they age out`,
        this.ctx({ callId: id }),
        { callEffect: 'not-run' },
      );
    }
    // Recorded before the handler runs (it waits for the gate): if we die once the line is written, a retry
    // learns the outcome is unknown; before, the call never ran.
    const write = this.pendingWrite();
    const at = this.now();
    const until = this.untilFor(at, deadlineAt);
    write.add(id, 'started', at, until, [Buffer.from(`{"id":${JSON.stringify(id)},"s":"start","at":${at},"until":${until}}\n`)]);
    const started = new Execution(id, deadlineAt, run, (done, reply) => this.finish(done, reply), write.startGate());
    write.started.push(started);
    this.running.set(id, started);
    this.untils.set(id, until);
    return { kind: 'running', execution: started, startedHere: true };
  }

  /** Writes the lines queued this turn now (normally done at the end of the turn). */
  flush(): void {
    const write = this.pending;
    if (write === undefined) return;
    this.pending = undefined;
    let failure: JournalError | undefined;
    try {
      this.writeLines(write);
    } catch (error) {
      failure =
        error instanceof JournalError
          ? error
          : new JournalError(`cannot append to call journal ${this.file}: ${(error as Error).message}`, this.ctx(), { cause: error });
    }
    // What the starts of this write are refused with: their handlers never run, so a retry may run them.
    let refusal: JournalError | undefined;
    if (failure !== undefined && write.started.length > 0) {
      const callIds = write.started.map((execution) => execution.id);
      this.log.error({ err: failure, file: this.file, callIds }, 'call journal: cannot record the start of calls; they are refused, not run');
      for (const execution of write.started) this.forget(execution);
      refusal = new JournalError(`the start of the call could not be recorded, so it was not run: ${failure.bareMessage}`, this.ctx(), {
        cause: failure,
        callEffect: 'not-run',
      });
    }
    if (failure !== undefined && write.ended.length > 0) {
      // The replies still go to their callers; a later retry of these ids will hear "outcome unknown".
      const callIds = write.ended.map((execution) => execution.id);
      this.log.error({ err: failure, file: this.file, callIds }, 'call journal: cannot record the end of calls');
    }
    for (const execution of write.ended) this.forget(execution);
    write.settle(refusal);
    this.notifyIdle();
    this.compactIfDue();
  }

  whenIdle(): Promise<void> {
    if (this.running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  abandonRunning(reason: Error): void {
    for (const execution of this.running.values()) execution.abandon(reason);
    // Forgotten now, so a retry of one of them reads "started" from the index: outcome unknown.
    this.running.clear();
    this.notifyIdle();
  }

  /**
   * Rewrites the file without records older than the retention window, or expired ones beyond the size cap
   * (atomically: temp file + rename), in one go; a background compaction running is cancelled.
   */
  compact(): void {
    const fd = this.openFd();
    this.generation += 1;
    // One buffer for every line: a compaction copies the whole journal and must not allocate per line. The
    // kept lines come in file order, mostly next to each other, so the buffer is filled a window at a time
    // instead of a read per line.
    let buffer = Buffer.allocUnsafe(COPY_BUFFER_BYTES);
    let windowStart = 0;
    let windowEnd = 0;
    this.rewrite((offset, length) => {
      if (offset < windowStart || offset + length > windowEnd) {
        if (length > buffer.length) buffer = Buffer.allocUnsafe(length);
        const bytes = Math.max(length, Math.min(buffer.length, this.size - offset));
        this.readExactly(fd, buffer, bytes, offset, 'while compacting');
        windowStart = offset;
        windowEnd = offset + bytes;
      }
      return buffer.subarray(offset - windowStart, offset - windowStart + length);
    });
  }

  /** Writes the queued lines, then closes the file; later claims throw. A background compaction is cancelled. */
  close(): void {
    this.flush();
    this.generation += 1;
    clearTimeout(this.fullRetry);
    this.closeFd();
  }

  private closeFd(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }

  private ctx(extra: MiddlewareErrorContext = {}): MiddlewareErrorContext {
    return { step: 'journal', ...extra };
  }

  private openFd(): number {
    if (this.fd === undefined) throw new JournalError(`journal ${this.file} is closed`, this.ctx());
    return this.fd;
  }

  private load(): void {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const content = existsSync(this.file) ? readFileSync(this.file) : Buffer.alloc(0);
    // Loaded into a Map first, so an id's later line replaces its earlier one; the rewrite below settles them.
    const loaded = new Map<string, IndexEntry>();
    let lines = 0;
    let lineNumber = 0;
    for (let start = 0; start < content.length; ) {
      const newline = content.indexOf(10, start);
      const end = newline < 0 ? content.length : newline + 1;
      lineNumber += 1;
      const text = content.toString('utf8', start, newline < 0 ? content.length : newline);
      if (text.trim() !== '') {
        const record = this.parseLine(text, lineNumber, end === content.length);
        if (record !== undefined) {
          lines += 1;
          loaded.set(record.id, {
            state: record.s === 'start' ? 'started' : 'completed',
            at: record.at,
            ...(record.until === undefined ? {} : { until: record.until }),
            offset: start,
            length: end - start,
          });
        }
      }
      start = end;
    }
    for (const [id, entry] of loaded) this.index.set(id, entry);
    this.size = content.length;
    // Rewrite only when something must go (old records, superseded start lines, a torn tail); in any case
    // the loaded ids are settled (see call-index.ts) by the same pass, writing the file or not.
    const endsCleanly = content.length === 0 || content[content.length - 1] === 10;
    const rewrite =
      !endsCleanly || this.index.hasOlderThan(this.now() - this.retentionMs) || lines !== loaded.size || this.size !== this.index.bytes() || this.size > this.maxBytes;
    loaded.clear();
    this.rewrite((offset, length) => withNewline(content.subarray(offset, offset + length)), { toDisk: rewrite });
  }

  private parseLine(text: string, lineNumber: number, isLast: boolean): JournalRecord | undefined {
    let problem: string;
    try {
      const parsed = recordSchema.safeParse(JSON.parse(text));
      if (parsed.success) return parsed.data;
      problem = parsed.error.issues[0]?.message ?? 'not a journal record';
    } catch (error) {
      problem = (error as Error).message;
    }
    if (isLast) {
      // A write cut short by a crash: the call it recorded never got further than this line.
      this.log.warn({ file: this.file, line: lineNumber }, 'call journal: ignoring a torn last line');
      return undefined;
    }
    throw new JournalCorruptError(`call journal ${this.file} line ${lineNumber} is corrupt: ${problem}`, this.ctx());
  }

  /**
   * Writes the retained latest line of every id to a temp file, fsyncs it and renames it over the journal,
   * then settles the index on the new file. With toDisk false (a journal that is already compact) the file
   * stays as it is and only the index is settled.
   */
  private rewrite(readLine: (offset: number, length: number) => Buffer, { toDisk = true }: { toDisk?: boolean } = {}): void {
    const isRunning = (id: string): boolean => this.running.has(id);
    const plan = this.plan(isRunning);
    if (toDisk) this.writeCompacted(plan, readLine);
    else for (let k = 0; k < plan.kept; k++) plan.written(k, plan.length(k));
    this.index.commit(plan, isRunning);
    // Not close(): that would flush queued lines into the file just replaced (they go into the new one).
    this.closeFd();
    this.fd = openSync(this.file, 'a+', 0o600);
    this.size = plan.size;
    this.appendsSinceCompaction = 0;
    this.compacted(plan);
  }

  private plan(isRunning: (id: string) => boolean): CompactionPlan {
    const now = this.now();
    const pressure: SizePressure = { maxBytes: this.maxBytes, targetBytes: Math.floor((this.maxBytes * 3) / 4), now, legacyHorizonMs: LEGACY_RETRY_HORIZON_MS };
    return this.index.planCompaction(now - this.retentionMs, isRunning, pressure);
  }

  /** After a compaction switched files: logs it, and says whether the journal is full (and when to look again). */
  private compacted(plan: CompactionPlan): void {
    this.sizeAfterCompaction = this.size;
    if (plan.dropped > 0) this.log.info({ file: this.file, dropped: plan.dropped, kept: plan.kept, bytes: this.size }, 'call journal compacted');
    clearTimeout(this.fullRetry);
    this.fullRetry = undefined;
    if (plan.full && !this.full) {
      this.log.error(
        { file: this.file, bytes: plan.keptBytes, maxBytes: this.maxBytes, records: plan.kept },
        'call journal full: every record kept may still be asked for; new calls are refused until records age out',
      );
    } else if (!plan.full && this.full) {
      this.log.info({ file: this.file, bytes: this.size }, 'call journal no longer full: new calls are accepted again');
    }
    this.full = plan.full;
    if (plan.full && plan.nextDroppableAt !== undefined) {
      // Look again once the first record may go.
      this.fullRetry = setTimeout(() => this.startCompaction(), Math.min(MAX_TIMER_MS, Math.max(0, plan.nextDroppableAt - this.now()) + 1));
      this.fullRetry.unref();
    }
  }

  private writeCompacted(plan: CompactionPlan, readLine: (offset: number, length: number) => Buffer): void {
    const temp = `${this.file}.tmp-${process.pid}`;
    const out = openSync(temp, 'w', 0o600);
    try {
      // Lines are gathered into a buffer and written a buffer at a time (a line longer than it on its own).
      const gathered = Buffer.allocUnsafe(COPY_BUFFER_BYTES);
      let used = 0;
      for (let k = 0; k < plan.kept; k++) {
        const line = readLine(plan.offset(k), plan.length(k));
        if (used + line.length > gathered.length) {
          writeAll(out, gathered.subarray(0, used));
          used = 0;
        }
        if (line.length > gathered.length) writeAll(out, line);
        else used += line.copy(gathered, used);
        plan.written(k, line.length);
      }
      writeAll(out, gathered.subarray(0, used));
      fsyncSync(out);
    } finally {
      closeSync(out);
    }
    renameSync(temp, this.file);
    fsyncDirectory(dirname(this.file));
  }

  /** Whether the line at offset records call `id`: settles a hash match of the index (see call-index.ts). */
  private lineHolds(id: string, offset: number, length: number): boolean {
    const fd = this.openFd();
    // Every line this journal writes starts with the id; only a line edited by hand needs parsing.
    const prefix = Buffer.from(`{"id":${JSON.stringify(id)},`);
    const head = Buffer.allocUnsafe(Math.min(length, prefix.length));
    this.readExactly(fd, head, head.length, offset, `checking the record of call ${id}`);
    if (head.equals(prefix)) return true;
    if (head.subarray(0, ID_PREFIX.length).equals(ID_PREFIX)) return false;
    const line = Buffer.allocUnsafe(length);
    this.readExactly(fd, line, length, offset, `checking the record of call ${id}`);
    try {
      return (JSON.parse(line.toString('utf8')) as { id?: unknown }).id === id;
    } catch {
      return false;
    }
  }

  private readExactly(fd: number, buffer: Buffer, length: number, position: number, step: string): void {
    for (let read = 0; read < length; ) {
      const n = readSync(fd, buffer, read, length - read, position + read);
      if (n === 0) throw new JournalError(`${this.file} ended before offset ${position + length} ${step}`, this.ctx());
      read += n;
    }
  }

  private pendingWrite(): PendingWrite {
    if (this.pending === undefined) {
      this.pending = new PendingWrite();
      process.nextTick(this.flushAtTurnEnd);
    }
    return this.pending;
  }

  /**
   * Appends the lines of one write with one writev (no copying), then records their places in the index.
   * On failure the file is cut back to its size before the write, so no torn line is left mid-file.
   */
  private writeLines(write: PendingWrite): void {
    const fd = this.openFd();
    let bytes = 0;
    for (const line of write.lines) bytes += line.length;
    try {
      writeAllParts(fd, write.parts, bytes);
    } catch (error) {
      this.cutBackAfterFailedWrite(fd, error as Error);
      const callIds = write.lines.map((line) => line.id);
      throw new JournalError(
        `cannot append to call journal ${this.file}: ${(error as Error).message}`,
        this.ctx(callIds.length === 1 ? { callId: callIds[0]! } : {}),
        { cause: error },
      );
    }
    let offset = this.size;
    for (const line of write.lines) {
      this.index.set(line.id, { state: line.state, at: line.at, until: line.until, offset, length: line.length });
      offset += line.length;
    }
    this.size = offset;
    this.appendsSinceCompaction += write.lines.length;
  }

  private cutBackAfterFailedWrite(fd: number, writeError: Error): void {
    try {
      ftruncateSync(fd, this.size);
    } catch (error) {
      // Part of the write may stay in the file; the index must at least point at the real end of it.
      this.size = fstatSync(fd).size;
      this.log.error({ err: error, writeError, file: this.file }, 'call journal: cannot cut back a failed write; a torn line may stay in the file');
    }
  }

  /** Called when a handler settled; the reply is released once its end line is written. */
  private finish(execution: Execution, reply: CallReply): Promise<void> | undefined {
    const { id } = execution;
    if (execution.abandoned) {
      // Shut down: its end is not recorded (the handler may have been cut short half-way).
      this.forget(execution);
      this.notifyIdle();
      return undefined;
    }
    const write = this.pendingWrite();
    const at = this.now();
    const until = this.untils.get(id) ?? this.untilFor(at, at);
    const head = `{"id":${JSON.stringify(id)},"s":"end","at":${at},"until":${until},"reply":`;
    write.add(
      id,
      'completed',
      at,
      until,
      reply.kind === 'result'
        ? [Buffer.from(`${head}{"kind":"result","payload":`), reply.payload, Buffer.from('}}\n')]
        : [Buffer.from(`${head}${JSON.stringify({ kind: 'error', error: reply.error })}}\n`)],
    );
    write.ended.push(execution);
    return write.endsWritten();
  }

  /** Removes a finished or refused execution from `running` (unless a newer one runs under its id). */
  private forget(execution: Execution): void {
    if (this.running.get(execution.id) === execution) {
      this.running.delete(execution.id);
      this.untils.delete(execution.id);
    }
  }

  /** A record's `until`: the call's deadline, within the retention window. */
  private untilFor(at: number, deadlineAt: number): number {
    return Math.min(Math.max(at, Math.round(deadlineAt)), at + this.retentionMs);
  }

  private compactIfDue(): void {
    if (this.fd === undefined || this.background !== undefined) return;
    const dueByCount = this.appendsSinceCompaction >= this.compactEvery;
    // Past the cap, once it grew by a sixteenth of it since the last compaction (not at every line when full).
    const dueBySize = this.size > this.maxBytes && this.size - this.sizeAfterCompaction >= this.maxBytes / 16;
    if (dueByCount || dueBySize) this.startCompaction();
  }

  /** Compacts now when the journal is small, else starts a background compaction. Failures are logged. */
  private startCompaction(): void {
    if (this.fd === undefined || this.background !== undefined) return;
    if (this.size <= this.syncCompactionMaxBytes) {
      try {
        this.compact();
      } catch (error) {
        this.log.error({ err: error, file: this.file }, 'call journal: compaction failed; the journal keeps growing');
      }
      return;
    }
    this.background = this.compactInBackground().finally(() => {
      this.background = undefined;
    });
  }

  /**
   * Compaction that does not hold calls up: the kept lines are copied a slice per turn of the event loop while
   * calls append to the old file; the lines appended meanwhile follow them; the switch is synchronous.
   */
  private async compactInBackground(): Promise<void> {
    const generation = ++this.generation;
    const cancelled = (): boolean => generation !== this.generation || this.fd === undefined;
    const isRunning = (id: string): boolean => this.running.has(id);
    const snapshotSize = this.size;
    const appendsAtSnapshot = this.appendsSinceCompaction;
    const plan = this.plan(isRunning);
    // Not compact()'s temp file: a compact() cancelling this one must not write into the file this still holds.
    const temp = `${this.file}.compacting-${process.pid}`;
    let reader: number | undefined;
    let out: number | undefined;
    try {
      reader = openSync(this.file, 'r');
      out = openSync(temp, 'w', 0o600);
      const copier = new LineCopier(reader, out, this.file);
      let sinceYield = 0;
      for (let k = 0; k < plan.kept; k++) {
        const length = plan.length(k);
        copier.copyLine(plan.offset(k), length, snapshotSize);
        plan.written(k, length);
        sinceYield += length;
        if (sinceYield >= this.sliceBytes) {
          sinceYield = 0;
          copier.drain();
          await nextTurn();
          if (cancelled()) return;
        }
      }
      copier.drain();
      // The lines appended since the snapshot, a slice at a time while there is much of them.
      let copiedTo = snapshotSize;
      while (this.size - copiedTo > this.sliceBytes) {
        copiedTo += copier.copyRange(copiedTo, this.sliceBytes);
        await nextTurn();
        if (cancelled()) return;
      }
      // Most of the data reaches the disk off the event loop; the switch then has only the last slice to sync.
      await new Promise<void>((resolve, reject) => fsync(out!, (error) => (error === null ? resolve() : reject(error))));
      if (cancelled()) return;

      // The switch: synchronous, so no line is appended, no reply read and no index lookup made half-way.
      copier.copyRange(copiedTo, this.size - copiedTo);
      fsyncSync(out);
      closeSync(out);
      out = undefined;
      renameSync(temp, this.file);
      fsyncDirectory(dirname(this.file));
      const tail: CompactionTail = { from: snapshotSize, shift: plan.size - snapshotSize };
      const newSize = plan.size + (this.size - snapshotSize);
      this.index.commit(plan, isRunning, tail);
      this.closeFd();
      this.fd = openSync(this.file, 'a+', 0o600);
      this.size = newSize;
      this.appendsSinceCompaction -= appendsAtSnapshot;
      this.compacted(plan);
    } catch (error) {
      if (!cancelled()) this.log.error({ err: error, file: this.file }, 'call journal: background compaction failed; the journal keeps growing');
    } finally {
      if (reader !== undefined) closeSync(reader);
      if (out !== undefined) closeSync(out);
      try {
        unlinkSync(temp);
      } catch {
        // Renamed into place, or never made.
      }
    }
  }


  private notifyIdle(): void {
    if (this.running.size > 0) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private readReply(id: string, entry: IndexEntry): CallReply {
    const fd = this.openFd();
    const buffer = Buffer.allocUnsafe(entry.length);
    const read = readSync(fd, buffer, 0, entry.length, entry.offset);
    let record: JournalRecord;
    try {
      record = recordSchema.parse(JSON.parse(buffer.toString('utf8', 0, read)));
    } catch (error) {
      throw new JournalCorruptError(`call journal ${this.file}: the record of call ${id} at byte ${entry.offset} is unreadable`, this.ctx({ callId: id }), {
        cause: error,
      });
    }
    if (record.s !== 'end' || record.id !== id) {
      throw new JournalCorruptError(`call journal ${this.file}: byte ${entry.offset} does not hold the end of call ${id}`, this.ctx({ callId: id }));
    }
    if (record.reply.kind === 'result') {
      return { kind: 'result', payload: Buffer.from(JSON.stringify(record.reply.payload ?? null), 'utf8') };
    }
    return { kind: 'error', error: record.reply.error };
  }
}

const ID_PREFIX = Buffer.from('{"id":');

function withNewline(line: Buffer): Buffer {
  return line.length > 0 && line[line.length - 1] === 10 ? line : Buffer.concat([line, Buffer.from('\n')]);
}

function writeAll(fd: number, buffer: Buffer): void {
  for (let written = 0; written < buffer.length; ) written += writeSync(fd, buffer, written);
}

function writeAllParts(fd: number, parts: Buffer[], length: number): void {
  const written = writevSync(fd, parts);
  // A short write (rare on regular files) continues from where it stopped.
  if (written < length) writeAll(fd, Buffer.concat(parts).subarray(written));
}

function fsyncDirectory(directory: string): void {
  const fd = openSync(directory, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}


function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Copies lines and ranges of the journal into the compacted file through two buffers: reads a window of the
 * journal at a time (kept lines come in file order, mostly next to each other), gathers output until full.
 */
class LineCopier {
  private input = Buffer.allocUnsafe(COPY_BUFFER_BYTES);
  private windowStart = 0;
  private windowEnd = 0;
  private readonly output = Buffer.allocUnsafe(COPY_BUFFER_BYTES);
  private used = 0;

  constructor(
    private readonly reader: number,
    private readonly out: number,
    private readonly file: string,
  ) {}

  /** Copies the line at [offset, offset + length); `end` bounds how far a window may read. */
  copyLine(offset: number, length: number, end: number): void {
    if (offset < this.windowStart || offset + length > this.windowEnd) {
      if (length > this.input.length) this.input = Buffer.allocUnsafe(length);
      const bytes = Math.max(length, Math.min(this.input.length, end - offset));
      readExactly(this.reader, this.input, bytes, offset, this.file);
      this.windowStart = offset;
      this.windowEnd = offset + bytes;
    }
    this.put(this.input.subarray(offset - this.windowStart, offset - this.windowStart + length));
  }

  /** Copies up to `length` bytes from `offset` as they are; returns how many it copied. */
  copyRange(offset: number, length: number): number {
    this.drain();
    for (let done = 0; done < length; ) {
      const n = readSync(this.reader, this.output, 0, Math.min(this.output.length, length - done), offset + done);
      if (n === 0) throw new JournalError(`${this.file} ended before offset ${offset + length} while compacting`, { step: 'journal' });
      writeAll(this.out, this.output.subarray(0, n));
      done += n;
    }
    return length;
  }

  /** Writes what was gathered. */
  drain(): void {
    writeAll(this.out, this.output.subarray(0, this.used));
    this.used = 0;
  }

  private put(line: Buffer): void {
    if (this.used + line.length > this.output.length) this.drain();
    if (line.length > this.output.length) writeAll(this.out, line);
    else this.used += line.copy(this.output, this.used);
  }
}

function readExactly(fd: number, buffer: Buffer, length: number, position: number, file: string): void {
  for (let read = 0; read < length; ) {
    const n = readSync(fd, buffer, read, length - read, position + read);
    if (n === 0) throw new JournalError(`${file} ended before offset ${position + length} while compacting`, { step: 'journal' });
    read += n;
  }
}
