// Starting a long-lived command (`bot start`, `run`) as a daemon: the same command with --foreground, detached,
// its output in files, and the parent waits until the child says it is ready (or why it is not) on an extra
// pipe, so `harvester bot start` / `harvester run` only return success for a daemon that really runs.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { entryScript } from '../package-location.js';
import type { CliContext } from './context.js';

/** Set in the daemon's environment: the fd to report readiness on. */
const READY_FD_ENV = 'HARVESTER_READY_FD';

export interface DaemonizeOptions {
  readonly ctx: CliContext;
  /** The command being run, for the global options to pass on. */
  readonly command: Command;
  /** The subcommand and its options, without --foreground (added here). */
  readonly args: readonly string[];
  /** Options for node itself (e.g. V8 flags), given before the script. */
  readonly nodeOptions?: readonly string[];
  /** Environment variables the daemon gets unless the caller's environment already sets them. */
  readonly defaultEnv?: Readonly<Record<string, string>>;
  readonly stdoutFile: string;
  readonly stderrFile: string;
  /** How long to wait for the daemon to report ready. */
  readonly readyTimeoutMs?: number;
}

export type DaemonAnswer = { readonly ready: true; readonly detail: string } | { readonly ready: false; readonly error: string };

export async function daemonize(opts: DaemonizeOptions): Promise<DaemonAnswer> {
  const stdoutFile = resolve(opts.stdoutFile);
  const stderrFile = resolve(opts.stderrFile);
  mkdirSync(dirname(stdoutFile), { recursive: true });
  mkdirSync(dirname(stderrFile), { recursive: true });
  const out = openSync(stdoutFile, 'a');
  const err = openSync(stderrFile, 'a');
  const globals = opts.command.optsWithGlobals<{ config?: string; logLevel?: string }>();
  const args = [
    ...(opts.nodeOptions ?? []),
    // The same script this process runs: dist/src/cli/main.js, or in the offline bundle the bundle itself.
    entryScript,
    '--home', opts.ctx.master.home,
    ...(globals.config ? ['--config', globals.config] : []),
    ...(globals.logLevel ? ['--log-level', globals.logLevel] : []),
    ...opts.args,
    '--foreground',
  ];
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ['ignore', out, err, 'pipe'],
    env: { ...opts.defaultEnv, ...process.env, [READY_FD_ENV]: '3' },
    cwd: opts.ctx.master.home,
  });
  closeSync(out);
  closeSync(err);
  const pipe = child.stdio[3] as NodeJS.ReadableStream;
  const timeoutMs = opts.readyTimeoutMs ?? 30_000;
  const answer = await new Promise<string>((resolveAnswer) => {
    let text = '';
    const timer = setTimeout(() => resolveAnswer(`error it did not report ready within ${timeoutMs / 1000} s`), timeoutMs);
    pipe.setEncoding('utf8');
    pipe.on('data', (chunk: string) => (text += chunk));
    pipe.on('end', () => {
      clearTimeout(timer);
      resolveAnswer(text.trim() || `error it exited before it was ready (exit ${child.exitCode ?? 'unknown'})`);
    });
  });
  child.unref();
  (pipe as unknown as { destroy(): void }).destroy();
  if (answer.startsWith('ready ')) return { ready: true, detail: answer.slice('ready '.length) };
  return { ready: false, error: answer.replace(/^error /, '') };
}

/**
 * The daemon side: reports ready (with a detail such as "pid port") or an error to the parent that started it,
 * once. Without a parent waiting (a plain --foreground run), `ready` returns false and the caller prints its own line.
 */
export class ReadinessReporter {
  #fd: number | undefined;

  constructor(env: NodeJS.ProcessEnv = process.env) {
    const value = env[READY_FD_ENV];
    this.#fd = value === undefined ? undefined : Number(value);
  }

  get hasParent(): boolean {
    return this.#fd !== undefined;
  }

  ready(detail: string): boolean {
    return this.#send(`ready ${detail}`);
  }

  failed(message: string): boolean {
    return this.#send(`error ${message}`);
  }

  #send(line: string): boolean {
    if (this.#fd === undefined) return false;
    writeSync(this.#fd, `${line}\n`);
    closeSync(this.#fd);
    this.#fd = undefined;
    return true;
  }
}
