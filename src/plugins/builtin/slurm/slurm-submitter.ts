// Submits workers as SLURM batch jobs (harvester's slurm_submitter, same options and placeholders). Per
// call: one name lookup (squeue, and sacct when accounting is on) finds workers that already have a job --
// a submission whose answer was lost, or a repeat after a crash -- and they adopt it; the others get their
// batch script (and payload script) written in the access point under fixed names, and sbatch runs for
// them in parallel, bounded. Every job carries the worker's identity (job name and comment).
// Outcomes: SLURM not answering, munge failing, sbatch timing out -> retryLater (safe: the lookup runs
// first next time); sbatch refusing the job (bad partition, bad #SBATCH line) -> failed with SLURM's words;
// sacct not answering the lookup -> a worker submitted before waits (retryLater), a first attempt goes ahead.
import { access, mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { WorkSpec } from '../../../spec/index.js';
import { abortedDiag, settledUnlessAborted } from '../../abort.js';
import { BatchCommandError, noCommands, runCommand, type CommandRunner } from '../../batch/command-runner.js';
import { renderTemplate, usesPlaceholder, type ParsedTemplate } from '../../batch/template.js';
import { TemplateFile, TemplateFileError } from '../../batch/template-file.js';
import { mapBounded } from '../../bounded-map.js';
import type { PluginContext, Submitter } from '../../contracts.js';
import { PluginOptionError } from '../../errors.js';
import { OptionReader, type OptionsCheck, type OptionsCheckContext, type PluginOptions } from '../../options.js';
import { failed, retryLater, succeeded, type Outcome } from '../../outcome.js';
import { payloadScriptPath, payloadScriptText, writeExecutable } from '../batch-payload-script.js';
import { payloadCommandOf, PayloadCommandError, type CommandOptions } from '../local-process-command.js';
import { accessPointOf, errorText } from '../worker-fields.js';
import { AccountingUse } from './slurm-accounting.js';
import { readSlurmClientSettings, SlurmClient, SlurmCommandError } from './slurm-client.js';
import { jobCommentOf, jobNameOf, noHarvesterIDDiag } from './slurm-identity.js';
import { jobsByName, oldest, pickJob } from './slurm-lookup.js';
import { logFileURLs, placeholderMap, placeholderNames, readPlaceholderSettings, type PlaceholderSettings } from './slurm-placeholders.js';

const plugin = 'SlurmSubmitter';

/** The batch script written in each worker's access point (the same name on every attempt). */
export const batchScriptName = 'harvester_slurm_job.sh';

/** sbatch calls in flight at once by default (see the README's SLURM measurements). */
export const defaultMaxParallelSubmissions = 4;

interface Candidate {
  readonly index: number;
  readonly workSpec: WorkSpec;
  readonly workerID: number;
  readonly accessPoint: string;
  readonly jobName: string;
  readonly comment: string;
}

/** Whether an earlier attempt for this access point got as far as sbatch (it writes the batch script first). */
async function sbatchTriedBefore(accessPoint: string): Promise<boolean> {
  try {
    await access(join(accessPoint, batchScriptName));
    return true;
  } catch (error) {
    // Only "no such file" proves it; a script we cannot look at may be there.
    return (error as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

export class SlurmSubmitter implements Submitter {
  private readonly placeholders: PlaceholderSettings;
  private readonly client: SlurmClient;
  private readonly accounting: AccountingUse;
  private readonly maxParallel: number;
  private readonly commandOptions: CommandOptions;
  private readonly shell: string;
  private readonly template: TemplateFile;
  /**
   * Job names being submitted by a call still running in this process. A second call for the same worker (a
   * harvester restarted while the bot kept running its first call) waits for it before its name lookup:
   * otherwise the lookup could run between the first call's lookup and its sbatch, and make a second job.
   */
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(options: PluginOptions = {}, runner: CommandRunner = runCommand) {
    const read = new OptionReader(plugin, options);
    this.placeholders = readPlaceholderSettings(plugin, read);
    this.client = new SlurmClient(runner, readSlurmClientSettings(plugin, read), hostname());
    this.accounting = AccountingUse.fromOptions(read);
    this.maxParallel = read.number('maxParallelSubmissions', defaultMaxParallelSubmissions);
    if (!Number.isInteger(this.maxParallel) || this.maxParallel < 1) {
      throw new PluginOptionError(plugin, 'maxParallelSubmissions', `must be a positive whole number, got ${this.maxParallel}`);
    }
    this.commandOptions = { defaultCommand: read.string('command'), useJobCommand: read.boolean('useJobCommand', true) };
    this.shell = read.string('shell', '/bin/sh');
    const templateFile = read.string('templateFile');
    if (templateFile === undefined || templateFile.trim() === '') {
      throw new PluginOptionError(plugin, 'templateFile', 'is required: the batch script template (e.g. examples/slurm/harvester_slurm_submit.sh of the package)');
    }
    // Last, so `queues check` of a remote section whose template is not readable here still checked the rest.
    this.template = new TemplateFile(plugin, 'templateFile', templateFile, placeholderNames(this.placeholders));
  }

  /** For `queues check`: the options and the template, without building anything that runs. */
  static checkOptions(options: PluginOptions, context: OptionsCheckContext): OptionsCheck {
    try {
      new SlurmSubmitter(options, noCommands);
      return { problems: [], warnings: [] };
    } catch (error) {
      if (error instanceof TemplateFileError && error.unreadable && context.remote) {
        return { problems: [], warnings: error.problems.map((p) => `${p}: this section runs on the remote host, where the bot checks the template when it builds the plugin`) };
      }
      if (error instanceof TemplateFileError) return { problems: error.problems, warnings: [] };
      if (error instanceof PluginOptionError) return { problems: [error.message], warnings: [] };
      throw error;
    }
  }

  async submitWorkers(ctx: PluginContext, workSpecs: WorkSpec[]): Promise<Outcome[]> {
    const outcomes: (Outcome | undefined)[] = new Array<Outcome | undefined>(workSpecs.length);
    const all = (outcome: Outcome): Outcome[] => workSpecs.map((_w, i) => outcomes[i] ?? outcome);
    if (ctx.signal.aborted) return all(retryLater(abortedDiag(ctx)));
    const harvesterID: unknown = ctx.queue.harvesterID;
    if (typeof harvesterID !== 'string' || harvesterID === '') {
      return all(retryLater(noHarvesterIDDiag));
    }
    let template: ParsedTemplate;
    try {
      template = this.template.current();
    } catch (error) {
      if (error instanceof TemplateFileError) return all(retryLater(`nothing submitted: ${error.message}`));
      throw error;
    }

    const candidates: Candidate[] = [];
    for (const [index, workSpec] of workSpecs.entries()) {
      const { workerID } = workSpec;
      const accessPoint = accessPointOf(workSpec);
      if (workerID === null) outcomes[index] = failed('the worker has no workerID');
      else if (accessPoint === undefined) outcomes[index] = failed(`worker ${workerID} has no accessPoint`);
      else {
        // harvester's nCore option: every worker gets that many cores.
        if (this.placeholders.nCore > 0) workSpec.nCore = this.placeholders.nCore;
        const jobName = jobNameOf(harvesterID, workerID);
        candidates.push({ index, workSpec, workerID, accessPoint, jobName, comment: jobCommentOf(harvesterID, ctx.queue.queueName, workerID) });
      }
    }

    const earlier = [...new Set(candidates.map((c) => this.inFlight.get(c.jobName)).filter((p) => p !== undefined))];
    let done!: () => void;
    const own = new Promise<void>((resolve) => (done = resolve));
    // Settles once this call and the earlier ones it overlaps have: a call waiting for this one waits for them
    // too, even if this one ends first (aborted while it waited).
    const mine = Promise.all([own, ...earlier]).then(() => undefined);
    // Registered before the first await, so a call arriving meanwhile waits for this one.
    for (const c of candidates) this.inFlight.set(c.jobName, mine);
    try {
      if (earlier.length > 0) {
        ctx.log.info({ workerIDs: candidates.map((c) => c.workerID) }, 'some of these workers are being submitted by an earlier call still running: waiting for it before looking them up');
        // Aborted meanwhile: nothing was looked up or submitted for these workers yet.
        if (!(await settledUnlessAborted(ctx, Promise.all(earlier)))) return all(retryLater(abortedDiag(ctx)));
      }
      const toSubmit = await this.adoptExistingJobs(ctx, candidates, outcomes);
      if (toSubmit === undefined) return outcomes as Outcome[];
      const results = await mapBounded(toSubmit, this.maxParallel, (c) => this.submitOne(ctx, c, template, harvesterID), () => ctx.signal.aborted);
      for (const [n, c] of toSubmit.entries()) outcomes[c.index] = results[n] ?? retryLater(abortedDiag(ctx));
      return outcomes as Outcome[];
    } finally {
      done();
      void mine.then(() => {
        for (const c of candidates) if (this.inFlight.get(c.jobName) === mine) this.inFlight.delete(c.jobName);
      });
    }
  }

  /**
   * Workers whose job SLURM already has take its batchID; answers the workers still to submit, or undefined
   * when the lookup failed (then every candidate was answered retryLater: submitting blind could make a
   * second job).
   */
  private async adoptExistingJobs(ctx: PluginContext, candidates: readonly Candidate[], outcomes: (Outcome | undefined)[]): Promise<Candidate[] | undefined> {
    if (candidates.length === 0) return [];
    let lookup;
    try {
      lookup = await jobsByName(this.client, candidates.map((c) => c.jobName), {
        since: oldest(candidates.map((c) => c.workSpec.creationTime ?? c.workSpec.submitTime)),
        accounting: this.accounting,
        log: ctx.log,
        signal: ctx.signal,
      });
    } catch (error) {
      if (!(error instanceof BatchCommandError)) throw error;
      ctx.log.warn({ err: error, workerIDs: candidates.map((c) => c.workerID) }, 'cannot look for existing SLURM jobs: nothing submitted');
      for (const c of candidates) outcomes[c.index] = retryLater(`nothing submitted: looking for an existing job failed: ${error.message}`);
      return undefined;
    }
    const toSubmit: Candidate[] = [];
    for (const c of candidates) {
      const found = lookup.byName.get(c.jobName) ?? [];
      const job = pickJob(found);
      if (job === undefined) {
        toSubmit.push(c);
        continue;
      }
      this.setSubmitted(c, job.jobID);
      const others = found.length > 1 ? `; other jobs with that name: ${found.filter((f) => f !== job).map((f) => f.jobID).join(', ')}` : '';
      outcomes[c.index] = succeeded(undefined, `already submitted: adopted SLURM job ${job.jobID} (${job.state}) found by its name ${c.jobName} in ${job.source}${others}`);
      ctx.log.info({ workerID: c.workerID, batchID: job.jobID, state: job.state, source: job.source, jobName: c.jobName }, 'worker already has a SLURM job: adopted, not submitted again');
    }
    if (lookup.sacctProblem === undefined) return toSubmit;
    // squeue forgets an ended job after MinJobAge: a worker an earlier attempt ran sbatch for may have a job
    // that only sacct still knows. Only first attempts go ahead on squeue's word alone.
    const firstAttempts: Candidate[] = [];
    for (const c of toSubmit) {
      if (await sbatchTriedBefore(c.accessPoint)) {
        outcomes[c.index] = retryLater(
          `worker ${c.workerID}: not submitted again while sacct does not answer (${lookup.sacctProblem}): an earlier attempt ran sbatch (${batchScriptName} is in its access point), and a job it made may have ended longer ago than squeue remembers`,
        );
      } else firstAttempts.push(c);
    }
    if (firstAttempts.length > 0) {
      ctx.log.warn({ workerIDs: firstAttempts.map((c) => c.workerID), sacct: lookup.sacctProblem }, 'sacct did not answer: submitting first attempts with squeue alone having found no job for them');
    }
    return firstAttempts;
  }

  private async submitOne(ctx: PluginContext, c: Candidate, template: ParsedTemplate, harvesterID: string): Promise<Outcome> {
    const { workSpec, workerID, accessPoint } = c;
    const payloadScript = payloadScriptPath(accessPoint);
    let command: string | undefined;
    if (usesPlaceholder(template, 'payloadScript')) {
      try {
        command = payloadCommandOf(workSpec, this.commandOptions).command;
      } catch (error) {
        if (error instanceof PayloadCommandError) return failed(error.message);
        throw error;
      }
    }
    const script = join(accessPoint, batchScriptName);
    try {
      // The messenger usually made it already; without one (or before it ran) we do.
      await mkdir(accessPoint, { recursive: true });
      if (command !== undefined) {
        const pandaID = workSpec.jobSpecs[0]?.PandaID;
        await writeExecutable(payloadScript, payloadScriptText({ accessPoint, workerID, queueName: ctx.queue.queueName, pandaID, command, shell: this.shell }));
      }
      const values = placeholderMap(this.placeholders, workSpec, { harvesterID, queueName: ctx.queue.queueName, accessPoint, workerID, payloadScript, now: new Date() });
      await writeExecutable(script, renderTemplate(template, values));
    } catch (error) {
      return retryLater(`worker ${workerID}: cannot write the batch script in ${accessPoint}: ${errorText(error)}`);
    }
    try {
      const submitted = await this.client.sbatch({ script, dir: accessPoint, jobName: c.jobName, comment: c.comment }, ctx.signal);
      this.setSubmitted(c, submitted.jobID);
      ctx.log.debug({ workerID, batchID: submitted.jobID, cluster: submitted.cluster, jobName: c.jobName }, 'submitted');
      return succeeded();
    } catch (error) {
      if (!(error instanceof BatchCommandError)) throw error;
      ctx.log.warn({ workerID, err: error }, 'sbatch failed');
      if (error instanceof SlurmCommandError && error.kind === 'refused') return failed(`sbatch refused worker ${workerID}: ${error.slurmMessage}`);
      // Not answered, timed out, not installed: nothing lost. A job sbatch may have made is adopted next time.
      return retryLater(`worker ${workerID}: ${error.message}${error.mayHaveRun ? ' (a job it may have made is found by its name next time)' : ''}`);
    }
  }

  private setSubmitted(c: Candidate, jobID: string): void {
    c.workSpec.batchID = jobID;
    const urls = logFileURLs(this.placeholders, c.accessPoint, c.workerID);
    if (urls !== undefined) {
      c.workSpec.setLogFile('stdout', urls.stdout);
      c.workSpec.setLogFile('stderr', urls.stderr);
    }
  }
}
