// One worker's verdict from what SLURM and the access point say about its job. Sets the worker's
// nativeStatus / nativeExitCode / startTime / endTime where known. Every diag names its source:
// squeue, sacct, the payload's exit code file, or harvester's postmortem file.
import { WorkSpec, type WorkerStatus } from '../../../spec/index.js';
import type { WorkerCheck } from '../../contracts.js';
import type { PayloadTrace } from './payload-traces.js';
import { slurmStateMeaning } from './slurm-states.js';

export type VerdictSource = 'squeue' | 'sacct' | 'exit-code-file' | 'postmortem-file' | 'none';

export interface JobView {
  readonly jobID: string;
  readonly state: string;
  readonly reason: string;
  readonly source: 'squeue' | 'sacct';
  readonly exitCode?: { readonly code: number; readonly signal: number };
  readonly start?: Date;
  readonly end?: Date;
  readonly elapsedSeconds?: number;
}

export interface Verdict extends WorkerCheck {
  readonly source: VerdictSource;
}

/** What was known about sacct in this call, for jobs squeue no longer has. */
export type AccountingState =
  | { readonly kind: 'asked' }
  | { readonly kind: 'off'; readonly why: string }
  /** Asked, but it did not answer this time (slurmdbd down?): a missing job proves nothing. */
  | { readonly kind: 'unanswered'; readonly problem: string };

function keep(workSpec: WorkSpec): WorkerStatus {
  return workSpec.status ?? WorkSpec.ST_submitted;
}

function exitCodeText(exit: JobView['exitCode']): string {
  return exit === undefined ? '' : `, exit code ${exit.code}:${exit.signal}`;
}

/** The shell's and SLURM's convention: death by signal N is 128+N. */
function exitCodeNumber(exit: NonNullable<JobView['exitCode']>): number {
  return exit.signal !== 0 ? 128 + exit.signal : exit.code;
}

/** The verdict for a worker whose job SLURM reports (squeue or sacct). */
export function jobVerdict(workSpec: WorkSpec, job: JobView, trace: PayloadTrace, now: Date): Verdict {
  workSpec.batchID ??= job.jobID;
  workSpec.nativeStatus = job.state;
  const reason = job.reason !== '' && job.reason !== 'None' && job.reason !== '(null)' ? `, reason ${job.reason}` : '';
  const described = `SLURM job ${job.jobID} ${job.state}${exitCodeText(job.exitCode)}${reason}`;
  const meaning = slurmStateMeaning(job.state);
  if (meaning === undefined) {
    return { status: keep(workSpec), diag: `${described}: a state this monitor does not know; status kept [source: ${job.source}]`, source: job.source };
  }
  if (job.start !== undefined && workSpec.startTime === null) workSpec.startTime = job.start;
  if (!meaning.ended) {
    if (meaning.status === WorkSpec.ST_running && workSpec.startTime === null && job.elapsedSeconds !== undefined) {
      workSpec.startTime = new Date(now.getTime() - job.elapsedSeconds * 1000);
    }
    return { status: meaning.status, diag: `${described}${meaning.why === undefined ? '' : ` (${meaning.why})`} [source: ${job.source}]`, source: job.source };
  }

  let payload = '';
  if (trace.kind === 'exit-code') {
    workSpec.nativeExitCode = trace.code;
    payload = `; payload exit code ${trace.code}`;
  } else {
    if (job.exitCode !== undefined) workSpec.nativeExitCode = exitCodeNumber(job.exitCode);
    if (trace.kind === 'unreadable') payload = `; ${trace.detail}`;
  }
  const end = job.end ?? (trace.kind === 'exit-code' ? trace.at : undefined);
  if (end !== undefined && workSpec.endTime === null) workSpec.endTime = end;
  if (meaning.status === WorkSpec.ST_finished && trace.kind === 'exit-code' && trace.code !== 0) {
    // The batch script ended well, the payload inside did not (a template that does not pass its code on).
    return { status: WorkSpec.ST_failed, diag: `${described} but the payload exited with code ${trace.code} [source: ${job.source}, exit-code-file]`, source: 'exit-code-file' };
  }
  return { status: meaning.status, diag: `${described}${meaning.why === undefined ? '' : ` (${meaning.why})`}${payload} [source: ${job.source}]`, source: job.source };
}

/** The verdict from the access point alone, when SLURM has forgotten the job. */
function traceVerdict(workSpec: WorkSpec, trace: PayloadTrace, forgotten: string): Verdict | undefined {
  if (trace.kind === 'exit-code') {
    workSpec.nativeExitCode = trace.code;
    if (workSpec.endTime === null) workSpec.endTime = trace.at;
    const status = trace.code === 0 ? WorkSpec.ST_finished : WorkSpec.ST_failed;
    return { status, diag: `${forgotten}; its payload exited with code ${trace.code} (${trace.file}) [source: exit-code-file]`, source: 'exit-code-file' };
  }
  if (trace.kind === 'postmortem') {
    return { status: trace.status, diag: `${forgotten}; ${trace.file} says ${trace.status} [source: postmortem-file]`, source: 'postmortem-file' };
  }
  return undefined;
}

export interface GoneContext {
  /** The job name the worker's job has (undefined when the worker has no workerID). */
  readonly jobName: string | undefined;
  readonly accounting: AccountingState;
  readonly graceMs: number;
  readonly now: Date;
}

/** The verdict for a worker SLURM reports no job for (neither squeue nor, when asked, sacct). */
export function goneVerdict(workSpec: WorkSpec, trace: PayloadTrace, ctx: GoneContext): Verdict {
  const { accounting } = ctx;
  const askedSacct = accounting.kind === 'asked';
  const note = accounting.kind === 'off' ? ` (sacct not used: ${accounting.why})` : '';
  const batchID = workSpec.batchID;
  const forgotten =
    batchID === null
      ? `no SLURM job named ${ctx.jobName ?? '(no workerID)'} in squeue${askedSacct ? ' or sacct' : ''}${note}`
      : `SLURM job ${batchID} is known to ${askedSacct ? 'neither squeue nor sacct' : 'squeue no more'}${note}`;
  const fromTrace = traceVerdict(workSpec, trace, forgotten);
  if (fromTrace !== undefined) return fromTrace;
  const unreadable = trace.kind === 'unreadable' ? `; ${trace.detail}` : '';
  if (accounting.kind === 'unanswered') {
    return { status: keep(workSpec), diag: `${forgotten}, and sacct did not answer (${accounting.problem}): checked again later${unreadable}`, source: 'none' };
  }
  if (batchID === null) {
    const since = workSpec.submitTime ?? workSpec.creationTime;
    const waited = since === null ? Infinity : ctx.now.getTime() - since.getTime();
    if (waited <= ctx.graceMs) {
      return { status: WorkSpec.ST_submitted, diag: `${forgotten} yet (submission outcome unknown): waiting up to ${ctx.graceMs / 1000} s after submission [source: none]`, source: 'none' };
    }
    workSpec.nativeStatus = 'never submitted';
    const when = since === null ? '(the worker has no submission time)' : `${Math.round(waited / 1000)} s after submission`;
    // 'ready': the monitor agent sends such a worker back to the submitter, whose name lookup runs before sbatch.
    return { status: WorkSpec.ST_ready, diag: `never reached SLURM: ${forgotten} ${when}${unreadable}; to be submitted again [source: none]`, source: 'none' };
  }
  workSpec.nativeStatus = 'gone';
  const ended = accounting.kind === 'asked' ? '' : ' (it ended more than MinJobAge ago, or was never there)';
  return { status: WorkSpec.ST_failed, diag: `${forgotten}${ended}, and its payload left no exit code file${unreadable} [source: none]`, source: 'none' };
}
