// Checks SLURM workers in bulk (harvester's SlurmBulkMonitor; also answers to SlurmMonitor and
// SlurmSqueueMonitor, which ask SLURM once per worker there). Per call: ONE squeue for every worker (by job
// ids; by our user when some workers have no batchID yet and are looked for by job name), then at most ONE
// sacct for the jobs squeue no longer knows or that have ended (for their ExitCode, Reason, Start, End).
// slurmctld not answering -> retryLater for the batch (never "failed"). sacct unusable -> squeue alone (jobs
// stay visible for MinJobAge); then a job gone from both is decided by the payload's exit code file (or
// harvester's postmortem file), else failed. A worker without a batchID (submission outcome unknown) is
// found by its job name, or, once submissionGracePeriod has passed, answered "ready" ("never reached SLURM": submitted again).
import { hostname } from 'node:os';
import { WorkSpec } from '../../../spec/index.js';
import { abortedDiag } from '../../abort.js';
import { BatchCommandError, CommandAbortedError, noCommands, runCommand, type CommandRunner } from '../../batch/command-runner.js';
import { defaultItemConcurrency, mapBounded } from '../../bounded-map.js';
import type { Monitor, PluginContext, WorkerCheck } from '../../contracts.js';
import { PluginOptionError } from '../../errors.js';
import { constructionCheck, OptionReader, type OptionsCheck, type PluginOptions } from '../../options.js';
import { retryLater, succeeded, type Outcome } from '../../outcome.js';
import { payloadTraceOf } from './payload-traces.js';
import { AccountingUse } from './slurm-accounting.js';
import { fitsOneArgument, readSlurmClientSettings, SlurmClient, SlurmCommandError } from './slurm-client.js';
import { currentUser, jobIDOf, jobNameOf } from './slurm-identity.js';
import { oldest, pickJob } from './slurm-lookup.js';
import type { SacctJob, SqueueJob } from './slurm-parse.js';
import { slurmStateMeaning } from './slurm-states.js';
import { goneVerdict, jobVerdict, type AccountingState, type JobView, type Verdict } from './slurm-verdict.js';

const plugin = 'SlurmBulkMonitor';

interface Entry {
  readonly workSpec: WorkSpec;
  /** The job id without a ";cluster" suffix; undefined while the worker has none. */
  readonly batchID: string | undefined;
  readonly jobName: string | undefined;
  queued?: SqueueJob;
  accounted?: SacctJob;
}

function squeueView(job: SqueueJob): JobView {
  return { jobID: job.jobID, state: job.state, reason: job.reason, source: 'squeue', ...(job.elapsedSeconds === undefined ? {} : { elapsedSeconds: job.elapsedSeconds }) };
}

function sacctView(job: SacctJob): JobView {
  return {
    jobID: job.jobID,
    state: job.state,
    reason: job.reason,
    source: 'sacct',
    ...(job.exitCode === undefined ? {} : { exitCode: job.exitCode }),
    ...(job.start === undefined ? {} : { start: job.start }),
    ...(job.end === undefined ? {} : { end: job.end }),
  };
}

/** Whether squeue's answer is all there is to know (a live job); else sacct may know its end. */
function settledBySqueue(entry: Entry): boolean {
  return entry.queued !== undefined && slurmStateMeaning(entry.queued.state)?.ended === false;
}

export class SlurmBulkMonitor implements Monitor {
  private readonly client: SlurmClient;
  private readonly accounting: AccountingUse;
  private readonly graceMs: number;

  constructor(options: PluginOptions = {}, runner: CommandRunner = runCommand) {
    const read = new OptionReader(plugin, options);
    this.client = new SlurmClient(runner, readSlurmClientSettings(plugin, read), hostname());
    this.accounting = AccountingUse.fromOptions(read);
    const grace = read.number('submissionGracePeriod', 300);
    if (grace < 0) throw new PluginOptionError(plugin, 'submissionGracePeriod', `must be zero or more seconds, got ${grace}`);
    this.graceMs = grace * 1000;
  }

  /** For `queues check`: the options, without building anything that runs. */
  static checkOptions(options: PluginOptions): OptionsCheck {
    return constructionCheck(() => new SlurmBulkMonitor(options, noCommands));
  }

  async checkWorkers(ctx: PluginContext, workSpecs: WorkSpec[]): Promise<Outcome<WorkerCheck[]>> {
    if (ctx.signal.aborted) return retryLater(abortedDiag(ctx));
    const harvesterID: unknown = ctx.queue.harvesterID;
    const entries: Entry[] = workSpecs.map((workSpec) => ({
      workSpec,
      batchID: jobIDOf(workSpec),
      jobName: typeof harvesterID === 'string' && workSpec.workerID !== null ? jobNameOf(harvesterID, workSpec.workerID) : undefined,
    }));
    if (entries.length === 0) return succeeded([]);

    try {
      await this.readSqueue(ctx, entries);
    } catch (error) {
      if (!(error instanceof BatchCommandError)) throw error;
      ctx.log.warn({ err: error, workers: entries.length }, 'squeue failed: no verdict this time');
      return retryLater(`squeue failed, the workers are checked again later: ${error.message}`);
    }
    let accounting: AccountingState;
    try {
      accounting = await this.readSacct(ctx, entries.filter((e) => !settledBySqueue(e)));
    } catch (error) {
      if (error instanceof CommandAbortedError) return retryLater(error.message);
      throw error;
    }

    const now = new Date();
    const verdicts = await mapBounded(entries, defaultItemConcurrency, (entry) => this.verdictOf(entry, accounting, now), () => ctx.signal.aborted);
    if (ctx.signal.aborted) return retryLater(abortedDiag(ctx));
    const bySource: Record<string, number> = {};
    for (const [i, verdict] of (verdicts as Verdict[]).entries()) {
      bySource[verdict.source] = (bySource[verdict.source] ?? 0) + 1;
      const { workSpec } = entries[i]!;
      ctx.log.debug({ workerID: workSpec.workerID, batchID: workSpec.batchID, status: verdict.status, source: verdict.source, diag: verdict.diag }, 'checked');
    }
    ctx.log.info({ workers: entries.length, bySource, accounting: accounting.kind }, 'SLURM workers checked');
    return succeeded((verdicts as Verdict[]).map(({ status, diag }) => ({ status, diag })));
  }

  /** One squeue: by job ids, or by our user when some workers are looked for by job name (or the ids are too many). */
  private async readSqueue(ctx: PluginContext, entries: Entry[]): Promise<void> {
    const ids = [...new Set(entries.flatMap((e) => (e.batchID === undefined ? [] : [e.batchID])))];
    const byName = entries.some((e) => e.batchID === undefined && e.jobName !== undefined);
    if (ids.length === 0 && !byName) return;
    const jobs = await this.client.squeue(byName || !fitsOneArgument(ids) ? { user: currentUser() } : { jobs: ids }, ctx.signal);
    matchJobs(entries, jobs, (e, job) => (e.queued = job));
  }

  /** At most one sacct for the workers squeue did not settle; what it means for jobs it does not list. */
  private async readSacct(ctx: PluginContext, unsettled: Entry[]): Promise<AccountingState> {
    if (this.accounting.squeueOnly) return { kind: 'off', why: 'squeueOnly / use_squeue_monitor is set' };
    if (!this.accounting.usable()) return { kind: 'off', why: 'the cluster keeps no job accounting' };
    const wanted = unsettled.filter((e) => e.batchID !== undefined || e.jobName !== undefined);
    if (wanted.length === 0) return { kind: 'asked' };
    const ids = [...new Set(wanted.flatMap((e) => (e.batchID === undefined ? [] : [e.batchID])))];
    let jobs: SacctJob[];
    try {
      if (wanted.every((e) => e.batchID !== undefined) && fitsOneArgument(ids)) jobs = await this.client.sacct({ jobs: ids }, ctx.signal);
      else {
        // Some are known by name only (or too many): all of our user's jobs since the oldest was submitted.
        const since = oldest(wanted.map((e) => e.workSpec.submitTime ?? e.workSpec.creationTime));
        jobs = await this.client.sacct({ user: currentUser(), since }, ctx.signal);
      }
    } catch (error) {
      if (!(error instanceof BatchCommandError) || error instanceof CommandAbortedError) throw error;
      if (error instanceof SlurmCommandError && error.kind === 'accounting-disabled') {
        this.accounting.markDisabled(ctx.log, error.slurmMessage);
        return { kind: 'off', why: 'the cluster keeps no job accounting' };
      }
      ctx.log.warn({ err: error }, 'sacct failed: deciding with squeue alone this time');
      return { kind: 'unanswered', problem: error.message };
    }
    matchJobs(wanted, jobs, (e, job) => (e.accounted = job));
    return { kind: 'asked' };
  }

  private async verdictOf(entry: Entry, accounting: AccountingState, now: Date): Promise<Verdict> {
    const { workSpec } = entry;
    const job = entry.accounted !== undefined ? sacctView(entry.accounted) : entry.queued !== undefined ? squeueView(entry.queued) : undefined;
    // The access point is read only for jobs that are over or gone: a live job's verdict needs no file.
    const live = job !== undefined && slurmStateMeaning(job.state)?.ended === false;
    const trace = live ? ({ kind: 'none' } as const) : await payloadTraceOf(workSpec);
    if (job !== undefined) return jobVerdict(workSpec, job, trace, now);
    return goneVerdict(workSpec, trace, { jobName: entry.jobName, accounting, graceMs: this.graceMs, now });
  }
}

/** Gives each entry its job: by id when it has one, else by job name (as the submitter's lookup picks: pickJob). */
function matchJobs<J extends { readonly jobID: string; readonly name: string; readonly state: string }>(entries: readonly Entry[], jobs: readonly J[], set: (entry: Entry, job: J) => void): void {
  const byID = new Map(jobs.map((j) => [j.jobID, j]));
  const byName = new Map<string, J[]>();
  for (const job of jobs) byName.set(job.name, [...(byName.get(job.name) ?? []), job]);
  for (const entry of entries) {
    const job = entry.batchID !== undefined ? byID.get(entry.batchID) : entry.jobName !== undefined ? pickJob(byName.get(entry.jobName) ?? []) : undefined;
    if (job !== undefined) set(entry, job);
  }
}
