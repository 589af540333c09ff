// Running a batch system's command line tools (sbatch, squeue, ...) for the batch plugins: an argv without a
// shell, a deadline, the plugin call's AbortSignal, an optional environment on top of ours (SLURM_CONF). A
// command that ran answers with its exit code and output, whatever the code: what a non-zero code means is
// the batch system's business. A command that could not run, or did not finish, is a typed error carrying
// the command line and the host, and whether it may have done its work (a timed-out sbatch may have
// submitted). Plugins take the runner as a constructor argument so unit tests can replay recorded outputs.
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { PluginError } from '../errors.js';
import { shellQuote } from '../shell-quote.js';

export interface CommandRequest {
  readonly argv: readonly string[];
  /** Killed (SIGTERM, then SIGKILL) when it runs longer. */
  readonly timeoutMs: number;
  /** The plugin call's signal: aborting kills the command. */
  readonly signal?: AbortSignal;
  /** Variables set on top of this process's environment. */
  readonly env?: Readonly<Record<string, string>>;
}

export interface CommandResult {
  readonly argv: readonly string[];
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
}

export type CommandRunner = (request: CommandRequest) => Promise<CommandResult>;

/** How long a command gets after SIGTERM (timeout, abort) before SIGKILL. */
const killGraceMs = 2000;
/** More output than any batch command of ours prints (squeue for 10,000 jobs is ~1 MB): a runaway is cut. */
const maxOutputBytes = 64 * 1024 * 1024;

/** The command line as an operator would type it (for messages). */
export function commandLine(argv: readonly string[]): string {
  return argv.map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : shellQuote(word))).join(' ');
}

/** A command that could not run or did not finish. */
export class BatchCommandError extends PluginError {
  readonly commandLine: string;
  constructor(
    readonly argv: readonly string[],
    readonly host: string,
    /** Whether the command may have done its work (it was started and not seen to finish). */
    readonly mayHaveRun: boolean,
    detail: string,
    options?: ErrorOptions,
  ) {
    // The call effect follows, so a plugin that lets this error end its call states what the call may have done.
    super(`${commandLine(argv)} on ${host}: ${detail}`, { ...options, callEffect: mayHaveRun ? 'may-have-run' : 'not-run' });
    this.commandLine = commandLine(argv);
  }
}

/** The program is not there (or not executable): nothing ran. */
export class CommandNotFoundError extends BatchCommandError {
  constructor(argv: readonly string[], host: string, reason: string, options?: ErrorOptions) {
    super(argv, host, false, `cannot run ${argv[0] ?? '(empty command)'}: ${reason} (is it installed and on PATH?)`, options);
  }
}

export class CommandTimedOutError extends BatchCommandError {
  constructor(argv: readonly string[], host: string, readonly timeoutMs: number) {
    super(argv, host, true, `no answer within ${timeoutMs / 1000} s (killed)`);
  }
}

/** The plugin call was aborted while the command ran (it was killed). */
export class CommandAbortedError extends BatchCommandError {
  constructor(argv: readonly string[], host: string, reason: unknown) {
    super(argv, host, true, `aborted (${reason instanceof Error ? reason.message : String(reason ?? 'no reason given')})`);
  }
}

/** Ended by a signal nobody here sent (OOM killer, an operator). */
export class CommandKilledError extends BatchCommandError {
  constructor(argv: readonly string[], host: string, readonly signal: string, stderr: string) {
    super(argv, host, true, `killed by ${signal}${stderr.trim() === '' ? '' : `; stderr: ${stderr.trim().slice(0, 300)}`}`);
  }
}

export class CommandOutputTooLargeError extends BatchCommandError {
  constructor(argv: readonly string[], host: string) {
    super(argv, host, true, `printed more than ${maxOutputBytes} bytes (killed)`);
  }
}

/** For building a plugin only to check its options: running anything is a mistake. */
export const noCommands: CommandRunner = (request) => Promise.reject(new Error(`not running ${commandLine(request.argv)}: options check only`));

/** Runs commands on this host with child_process. */
export const runCommand: CommandRunner = (request) => {
  const { argv } = request;
  const host = hostname();
  const [program, ...args] = argv;
  if (program === undefined) return Promise.reject(new CommandNotFoundError(argv, host, 'empty argv'));
  if (request.signal?.aborted) return Promise.reject(new CommandAbortedError(argv, host, request.signal.reason));
  const started = performance.now();
  return new Promise<CommandResult>((resolve, reject) => {
    const child = spawn(program, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: request.env === undefined ? process.env : { ...process.env, ...request.env },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    // Why we killed it, when we did: decides the error when it ends.
    let stopped: BatchCommandError | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const stop = (why: BatchCommandError): void => {
      if (stopped !== undefined) return;
      stopped = why;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), killGraceMs);
    };
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxOutputBytes) stop(new CommandOutputTooLargeError(argv, host));
      else into.push(chunk);
    };
    child.stdout.on('data', collect(out));
    child.stderr.on('data', collect(err));
    const deadline = setTimeout(() => stop(new CommandTimedOutError(argv, host, request.timeoutMs)), request.timeoutMs);
    const onAbort = (): void => stop(new CommandAbortedError(argv, host, request.signal?.reason));
    request.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (): void => {
      clearTimeout(deadline);
      clearTimeout(killTimer);
      request.signal?.removeEventListener('abort', onAbort);
    };
    child.once('error', (error: NodeJS.ErrnoException) => {
      finish();
      // ENOENT/EACCES come before anything ran; other spawn errors are as good as "did not run" too.
      reject(new CommandNotFoundError(argv, host, error.code ?? error.message, { cause: error }));
    });
    child.once('close', (code, signal) => {
      finish();
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (stopped !== undefined) reject(stopped);
      else if (code === null) reject(new CommandKilledError(argv, host, signal ?? 'an unknown signal', stderr));
      else resolve({ argv, exitCode: code, stdout, stderr, durationMs: performance.now() - started });
    });
  });
};
