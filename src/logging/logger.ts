// JSON-lines logging (pino) that cannot leak a registered secret: every line any logger from createLogger
// writes passes through the SecretRegistry on its way to the destination, and fields whose key names a
// secret (password, passphrase, ...) are redacted by pino before serialization.
import pino from 'pino';
import { RotatingFileSink, type RotationOptions } from './rotating-file.js';
import { processSecrets, SECRET_MASK, type SecretRegistry } from './secrets.js';

export type Logger = pino.Logger;
export type LogLevel = pino.LevelWithSilent;

export const logLevels: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Keys whose values are always replaced by "***", whatever they hold. */
export const secretKeyNames: readonly string[] = [
  'password',
  'sshPassword',
  'ssh_password',
  'jumpSshPassword',
  'jumpPassPhrase',
  'passPhrase',
  'passphrase',
  'pass_phrase',
  'secret',
  'botSecret',
  'privateKeyData',
];

// pino's redact matches one path per depth ('*' is one level), so we list the key at every depth up to this.
const REDACT_DEPTH = 5;

function redactPaths(): string[] {
  const paths: string[] = [];
  for (const key of secretKeyNames) {
    for (let depth = 0; depth <= REDACT_DEPTH; depth++) paths.push([...Array<string>(depth).fill('*'), key].join('.'));
  }
  return paths;
}

export interface LoggerOptions {
  /** Minimum level written; 'info' by default. */
  readonly level?: string;
  /** Written as the "name" field of every line. */
  readonly name?: string;
  /** Append JSON lines to this file (created, with its directory, when missing). */
  readonly file?: string;
  /** Rotate `file` by size (see rotating-file.ts); without it the file grows without bound. */
  readonly rotate?: RotationOptions;
  /** Write to this stream instead (tests, or a caller-owned sink). Ignored when `file` is given. */
  readonly destination?: NodeJS.WritableStream;
  /** Registry whose secrets are masked; the process-wide one by default. */
  readonly secrets?: SecretRegistry;
}

/** Thrown when a logger is asked for with a level pino does not know. */
export class LogLevelError extends Error {
  constructor(readonly level: string) {
    super(`unknown log level '${level}' (expected one of ${logLevels.join(', ')})`);
    this.name = 'LogLevelError';
  }
}

interface Sink {
  write(chunk: string): unknown;
  flush?(callback?: (error?: Error | null) => void): unknown;
  flushSync?(): unknown;
}

/**
 * A pino destination that masks registered secrets in every line before handing it to the real sink. A sink
 * that cannot write (disk full, file removed with its directory) must not take the process down with it: the
 * line is dropped, stderr says so once per outage, and the next line written says how many were lost.
 */
class MaskingDestination {
  #dropped = 0;
  readonly listeners = new Set<LogLineListener>();

  constructor(
    private readonly sink: Sink,
    private readonly secrets: SecretRegistry,
    private readonly describe: string,
  ) {
    // sonic-boom reports asynchronous write failures as 'error' events; unhandled, they would kill the process.
    const emitter = sink as Partial<NodeJS.EventEmitter>;
    if (typeof emitter.on === 'function') emitter.on.call(sink, 'error', (error: Error) => this.#failed(error));
  }

  write(line: string): void {
    try {
      if (this.#dropped > 0) {
        this.sink.write(`${JSON.stringify({ level: 40, time: Date.now(), msg: `${this.#dropped} log line(s) were lost: ${this.describe} could not be written` })}\n`);
        this.#dropped = 0;
      }
      const masked = this.secrets.mask(line);
      this.sink.write(masked);
      this.#tell(masked);
    } catch (error) {
      this.#failed(error as Error);
    }
  }

  #tell(line: string): void {
    for (const listener of this.listeners) {
      try {
        listener(line);
      } catch (error) {
        // A listener's fault must not cost the log its line, nor reach the caller that logged.
        process.stderr.write(`harvester: a log line listener failed (${(error as Error).message})\n`);
      }
    }
  }

  #failed(error: Error): void {
    if (this.#dropped === 0) {
      try {
        process.stderr.write(`harvester: cannot write ${this.describe} (${error.message}); log lines are dropped until it can be written again\n`);
      } catch {
        // stderr on the same full disk: nothing left to tell anyone with.
      }
    }
    this.#dropped++;
  }

  flush(callback?: (error?: Error | null) => void): void {
    if (typeof this.sink.flush === 'function') {
      this.sink.flush(callback);
      return;
    }
    callback?.(null);
  }

  flushSync(): void {
    if (typeof this.sink.flushSync === 'function') this.sink.flushSync();
  }
}

function openSink(opts: LoggerOptions): Sink {
  // Synchronous file writes: a line logged just before the process exits (or dies) is not lost.
  if (opts.file !== undefined && opts.rotate !== undefined) return new RotatingFileSink(opts.file, opts.rotate);
  if (opts.file !== undefined) return pino.destination({ dest: opts.file, append: true, mkdir: true, sync: true });
  if (opts.destination !== undefined) return opts.destination as Sink;
  return process.stderr;
}

/** Gets every line a logger writes, after secrets were masked: the JSON text, with its newline. */
export type LogLineListener = (line: string) => void;

/** Thrown when lines are asked for from a logger createLogger did not make. */
export class LogTapError extends Error {
  constructor() {
    super('only a logger made by createLogger (or its child) can be tapped');
    this.name = 'LogTapError';
  }
}

/**
 * Calls `listener` with every line the logger (and every child of it, as they share its destination) writes
 * from now on, masked as in the log; returns the function that stops it.
 */
export function tapLogLines(logger: Logger, listener: LogLineListener): () => void {
  const destination = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym];
  if (!(destination instanceof MaskingDestination)) throw new LogTapError();
  destination.listeners.add(listener);
  return () => destination.listeners.delete(listener);
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  if (!(logLevels as readonly string[]).includes(level)) throw new LogLevelError(level);
  const destination = new MaskingDestination(openSink(opts), opts.secrets ?? processSecrets, opts.file === undefined ? 'the log' : `the log file ${opts.file}`);
  return pino(
    {
      level,
      ...(opts.name === undefined ? {} : { name: opts.name }),
      redact: { paths: redactPaths(), censor: SECRET_MASK },
    },
    destination,
  );
}
