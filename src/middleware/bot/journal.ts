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
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, renameSync, writeSync, writevSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { MiddlewareError, OutcomeUnknownError, type MiddlewareErrorContext } from '../errors.js';
import { Execution, type CallClaim, type CallLedger, type CallReply, type CallRunner } from '../protocol/ledger.js';
import type { MiddlewareLogger } from '../protocol/log.js';
import { CallIndex, type CallState, type CompactionPlan, type IndexEntry } from './call-index.js';

export const DEFAULT_RETENTION_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_COMPACT_EVERY = 10_000;

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
}

const recordSchema = z.discriminatedUnion('s', [
  z.object({ s: z.literal('start'), id: z.string().min(1), at: z.number() }),
  z.object({
    s: z.literal('end'),
    id: z.string().min(1),
    at: z.number(),
    reply: z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('result'), payload: z.unknown() }),
      z.object({
        kind: z.literal('error'),
        error: z.object({ type: z.string(), message: z.string(), remoteStack: z.string().optional(), details: z.unknown().optional() }),
      }),
    ]),
  }),
]);
type JournalRecord = z.infer<typeof recordSchema>;

export type JournaledState = CallState;

/** Lines are copied through a buffer of this size at compaction (a longer line gets its own). */
const COPY_BUFFER_BYTES = 64 * 1024;

export class CallJournal implements CallLedger {
  private readonly index = new CallIndex((id, offset, length) => this.lineHolds(id, offset, length));
  private readonly running = new Map<string, Execution>();
  private readonly idleWaiters: Array<() => void> = [];
  private readonly retentionMs: number;
  private readonly compactEvery: number;
  private readonly now: () => number;
  private readonly log: MiddlewareLogger;
  private fd: number | undefined;
  private size = 0;
  private appendsSinceCompaction = 0;

  private constructor(
    readonly file: string,
    options: CallJournalOptions,
  ) {
    this.log = options.log;
    this.retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
    this.compactEvery = options.compactEvery ?? DEFAULT_COMPACT_EVERY;
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

  /** What the journal knows of a call id (for inspection and tests). */
  stateOf(id: string): JournaledState | undefined {
    return this.index.get(id)?.state;
  }

  claim(id: string, deadlineAt: number, run: CallRunner): CallClaim {
    const execution = this.running.get(id);
    if (execution !== undefined) return { kind: 'running', execution, startedHere: false };
    const entry = this.index.get(id);
    if (entry?.state === 'completed') return { kind: 'replay', reply: this.readReply(id, entry) };
    if (entry?.state === 'started') {
      const error = new OutcomeUnknownError(`call ${id} was running when the bot stopped; its outcome is unknown`);
      return { kind: 'replay', reply: { kind: 'error', error: { type: error.wireType, message: error.message } } };
    }
    // Recorded before the handler runs: if we die from here on, a retry learns the outcome is unknown.
    this.append(id, 'started', (at) => [Buffer.from(`{"id":${JSON.stringify(id)},"s":"start","at":${at}}\n`)]);
    const started = new Execution(id, deadlineAt, run, (done, reply) => this.finish(done, reply));
    this.running.set(id, started);
    return { kind: 'running', execution: started, startedHere: true };
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

  /** Rewrites the file without records older than the retention window (atomically: temp file + rename). */
  compact(): void {
    const fd = this.openFd();
    // One buffer for every line: a compaction copies the whole journal and must not allocate per line.
    let buffer = Buffer.allocUnsafe(COPY_BUFFER_BYTES);
    this.rewrite((offset, length) => {
      if (length > buffer.length) buffer = Buffer.allocUnsafe(length);
      this.readExactly(fd, buffer, length, offset, 'while compacting');
      return buffer.subarray(0, length);
    });
  }

  close(): void {
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
    const rewrite = !endsCleanly || this.index.hasOlderThan(this.now() - this.retentionMs) || lines !== loaded.size || this.size !== this.index.bytes();
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
    const plan = this.index.planCompaction(this.now() - this.retentionMs, isRunning);
    if (toDisk) this.writeCompacted(plan, readLine);
    else for (let k = 0; k < plan.kept; k++) plan.written(k, plan.length(k));
    this.index.commit(plan, isRunning);
    this.close();
    this.fd = openSync(this.file, 'a+', 0o600);
    this.size = plan.size;
    this.appendsSinceCompaction = 0;
    if (plan.dropped > 0) this.log.info({ file: this.file, dropped: plan.dropped, kept: plan.kept }, 'call journal compacted');
  }

  private writeCompacted(plan: CompactionPlan, readLine: (offset: number, length: number) => Buffer): void {
    const temp = `${this.file}.tmp-${process.pid}`;
    const out = openSync(temp, 'w', 0o600);
    try {
      for (let k = 0; k < plan.kept; k++) {
        const line = readLine(plan.offset(k), plan.length(k));
        writeAll(out, line);
        plan.written(k, line.length);
      }
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

  /** Appends one line, given as pieces ending with its newline (written with one writev, no copying). */
  private append(id: string, state: JournaledState, line: (at: number) => Buffer[]): void {
    const at = this.now();
    const parts = line(at);
    let length = 0;
    for (const part of parts) length += part.length;
    try {
      writeAllParts(this.openFd(), parts, length);
    } catch (error) {
      if (error instanceof JournalError) throw error;
      throw new JournalError(`cannot append to call journal ${this.file}: ${(error as Error).message}`, this.ctx({ callId: id }), {
        cause: error,
      });
    }
    this.index.set(id, { state, at, offset: this.size, length });
    this.size += length;
    this.appendsSinceCompaction += 1;
  }

  private finish(execution: Execution, reply: CallReply): void {
    const { id } = execution;
    if (this.running.get(id) === execution) this.running.delete(id);
    if (!execution.abandoned) {
      const head = (at: number): string => `{"id":${JSON.stringify(id)},"s":"end","at":${at},"reply":`;
      try {
        this.append(id, 'completed', (at) =>
          reply.kind === 'result'
            ? [Buffer.from(`${head(at)}{"kind":"result","payload":`), reply.payload, Buffer.from('}}\n')]
            : [Buffer.from(`${head(at)}${JSON.stringify({ kind: 'error', error: reply.error })}}\n`)],
        );
      } catch (error) {
        // The reply still goes to the caller; a later retry of this id will hear "outcome unknown".
        this.log.error({ err: error, file: this.file, callId: id }, 'call journal: cannot record the end of a call');
      }
    }
    this.notifyIdle();
    if (this.appendsSinceCompaction >= this.compactEvery && this.fd !== undefined) {
      try {
        this.compact();
      } catch (error) {
        this.log.error({ err: error, file: this.file }, 'call journal: compaction failed; the journal keeps growing');
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

