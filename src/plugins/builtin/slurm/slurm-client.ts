// The SLURM commands the plugins run, built and read in one place: sbatch, squeue, sacct, scancel through the
// shared command runner, with the section's client settings (SLURM_CONF, where the tools are, deadline).
// A command that ran and failed is a SlurmCommandError saying what kind of failure it was.
import { join } from 'node:path';
import { BatchCommandError, type CommandResult, type CommandRunner } from '../../batch/command-runner.js';
import { PluginOptionError } from '../../errors.js';
import type { OptionReader } from '../../options.js';
import { failureHint, isAlreadyDone, isInvalidJobId, slurmFailureKind, type SlurmFailureKind } from './slurm-messages.js';
import {
  parseSacct,
  parseSbatchParsable,
  parseScancelErrors,
  parseSqueue,
  SlurmOutputLineError,
  squeueFormats,
  type SacctJob,
  type SqueueJob,
} from './slurm-parse.js';

/** How the plugins reach SLURM (options shared by the submitter, monitor and sweeper). */
export interface SlurmClientSettings {
  /** SLURM_CONF for the commands: a client configuration other than the host's default. */
  readonly slurmConf: string | undefined;
  /** Directory of sbatch/squeue/sacct/scancel; from PATH when unset. */
  readonly slurmBinDir: string | undefined;
  readonly commandTimeoutMs: number;
}

export function readSlurmClientSettings(plugin: string, read: OptionReader): SlurmClientSettings {
  const timeout = read.number('commandTimeout', 60);
  if (timeout <= 0) throw new PluginOptionError(plugin, 'commandTimeout', `must be positive seconds, got ${timeout}`);
  return { slurmConf: read.string('slurmConf'), slurmBinDir: read.string('slurmBinDir'), commandTimeoutMs: timeout * 1000 };
}

/** A SLURM command ran and did not do what was asked; `kind` says whether trying again later can help. */
export class SlurmCommandError extends BatchCommandError {
  constructor(
    result: CommandResult,
    host: string,
    readonly kind: SlurmFailureKind,
    /** What SLURM said (stderr, else stdout), trimmed. */
    readonly slurmMessage: string,
    mayHaveRun: boolean,
  ) {
    super(result.argv, host, mayHaveRun, `exit code ${result.exitCode}: ${slurmMessage.slice(0, 500) || '(no message)'} [${failureHint(kind)}]`);
  }
}

/** A SLURM command answered with something we cannot read: may have done its work. */
export class SlurmOutputError extends BatchCommandError {}

export const sacctFields = 'JobID,JobName,State,ExitCode,Reason,Start,End';

/**
 * Longest comma list we pass as one argument (Linux refuses one argument over 128 KiB with E2BIG). A longer
 * one (a batch of many thousand workers) is asked by user instead: still one command, matched here.
 */
const maxListLength = 100_000;

export function fitsOneArgument(values: readonly string[]): boolean {
  return values.reduce((n, v) => n + v.length + 1, 0) <= maxListLength;
}

export type SqueueFilter = { readonly jobs: readonly string[] } | { readonly names: readonly string[] } | { readonly user: string };
/** `since` is how far back sacct looks (it looks at today only unless told, when not given job ids). */
export type SacctFilter =
  | { readonly jobs: readonly string[] }
  | { readonly names: readonly string[]; readonly since: Date }
  | { readonly user: string; readonly since: Date };

export type CancelVerdict =
  | { readonly kind: 'signalled' }
  /** SLURM has no such job any more, or it is ending already: nothing left to kill. */
  | { readonly kind: 'gone'; readonly message: string }
  /** SLURM did not answer for this job (controller, munge): try again later. */
  | { readonly kind: 'unanswered'; readonly message: string }
  | { readonly kind: 'refused'; readonly message: string };

function messageOf(result: CommandResult): string {
  return (result.stderr.trim() || result.stdout.trim()).replace(/\s*\n\s*/g, ' | ');
}

/** sacct's "now-<N>hours": relative, so the login node's time zone does not matter. */
function sacctSince(since: Date, now: Date): string {
  const hours = Math.max(1, Math.ceil((now.getTime() - since.getTime()) / 3600_000) + 1);
  return `now-${hours}hours`;
}

export class SlurmClient {
  constructor(
    private readonly runner: CommandRunner,
    private readonly settings: SlurmClientSettings,
    private readonly host: string,
  ) {}

  private async run(tool: string, args: readonly string[], signal: AbortSignal): Promise<CommandResult> {
    const program = this.settings.slurmBinDir === undefined ? tool : join(this.settings.slurmBinDir, tool);
    // A user's SLURM_TIME_FORMAT (e.g. "relative") would change sacct's times under our parser.
    const env: Record<string, string> = { SLURM_TIME_FORMAT: 'standard' };
    if (this.settings.slurmConf !== undefined) env['SLURM_CONF'] = this.settings.slurmConf;
    return this.runner({ argv: [program, ...args], timeoutMs: this.settings.commandTimeoutMs, signal, env });
  }

  private failure(result: CommandResult, mayHaveRun: (kind: SlurmFailureKind) => boolean): SlurmCommandError {
    const message = messageOf(result);
    const kind = slurmFailureKind(message);
    return new SlurmCommandError(result, this.host, kind, message, mayHaveRun(kind));
  }

  private parsed<T>(result: CommandResult, parse: () => T): T {
    try {
      return parse();
    } catch (error) {
      if (!(error instanceof SlurmOutputLineError)) throw error;
      throw new SlurmOutputError(result.argv, this.host, true, `unreadable output: ${error.message}`, { cause: error });
    }
  }

  /** Submits a batch script; its job id (and cluster). A refusal or an unreadable answer throws. */
  async sbatch(
    request: { readonly script: string; readonly dir: string; readonly jobName: string; readonly comment: string },
    signal: AbortSignal,
  ): Promise<{ readonly jobID: string; readonly cluster?: string }> {
    const args = ['--parsable', '-D', request.dir, `--job-name=${request.jobName}`, `--comment=${request.comment}`, request.script];
    const result = await this.run('sbatch', args, signal);
    // An unanswered sbatch (socket timeout) may have been queued; a refusal was not.
    if (result.exitCode !== 0) throw this.failure(result, (kind) => kind !== 'refused');
    const parsed = parseSbatchParsable(result.stdout);
    if (parsed === undefined) {
      throw new SlurmOutputError(result.argv, this.host, true, `exit code 0 but no job id in its output: '${result.stdout.trim().slice(0, 200)}'`);
    }
    return parsed;
  }

  /** The jobs squeue knows (running, pending, and ended ones for MinJobAge), of every state. */
  async squeue(filter: SqueueFilter, signal: AbortSignal): Promise<SqueueJob[]> {
    const format = 'jobs' in filter ? squeueFormats.withElapsed : squeueFormats.plain;
    // --all: without it squeue hides jobs in hidden partitions, and a job it hides looks gone (or never made).
    const args = ['-h', '--all', '--states=all', '-o', format];
    if ('jobs' in filter) args.push(`--jobs=${filter.jobs.join(',')}`);
    else if ('names' in filter) args.push(`--name=${filter.names.join(',')}`);
    else args.push(`--user=${filter.user}`);
    const result = await this.run('squeue', args, signal);
    if (result.exitCode !== 0) {
      // Asked for job ids it has forgotten (one id is looked up alone, and fails): it knows none of them.
      if ('jobs' in filter && isInvalidJobId(result.stderr)) return [];
      throw this.failure(result, () => false);
    }
    return this.parsed(result, () => parseSqueue(result.stdout, format));
  }

  /** The jobs accounting knows, allocations only (-X). */
  async sacct(filter: SacctFilter, signal: AbortSignal, now = new Date()): Promise<SacctJob[]> {
    const args = ['-X', '-n', '-P', '-o', sacctFields];
    if ('jobs' in filter) args.push('-j', filter.jobs.join(','));
    else if ('names' in filter) args.push(`--name=${filter.names.join(',')}`, '-S', sacctSince(filter.since, now));
    else args.push(`--user=${filter.user}`, '-S', sacctSince(filter.since, now));
    const result = await this.run('sacct', args, signal);
    if (result.exitCode !== 0) throw this.failure(result, () => false);
    // sacct prints some errors (accounting disabled) with exit code 0 and nothing on stdout.
    if (result.stdout.trim() === '' && result.stderr.trim() !== '' && slurmFailureKind(result.stderr) !== 'refused') {
      throw this.failure(result, () => false);
    }
    return this.parsed(result, () => parseSacct(result.stdout));
  }

  /**
   * Cancels jobs in one scancel; per job whether it was signalled, was already gone, or was refused. -v makes
   * scancel say which jobs had already ended or were unknown (without it, it hides that and exits 0).
   */
  async scancel(jobIDs: readonly string[], signal: AbortSignal): Promise<Map<string, CancelVerdict>> {
    const result = await this.run('scancel', ['-v', ...jobIDs], signal);
    const complaints = parseScancelErrors(result.stderr);
    const verdicts = new Map<string, CancelVerdict>();
    if (result.exitCode !== 0 && complaints.size === 0) {
      // Not about any one job: the controller, munge, or the command line.
      throw this.failure(result, () => true);
    }
    for (const id of jobIDs) {
      const complaint = complaints.get(id);
      if (complaint === undefined) verdicts.set(id, { kind: 'signalled' });
      else if (isInvalidJobId(complaint) || isAlreadyDone(complaint)) verdicts.set(id, { kind: 'gone', message: complaint });
      else if (slurmFailureKind(complaint) !== 'refused') verdicts.set(id, { kind: 'unanswered', message: complaint });
      else verdicts.set(id, { kind: 'refused', message: complaint });
    }
    return verdicts;
  }
}
