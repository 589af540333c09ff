// Kills SLURM workers with ONE scancel for the whole batch (harvester's SlurmSweeper runs one per worker);
// workers without a batchID (submission outcome unknown) are looked up by job name first, in one squeue.
// A job SLURM no longer knows, or that is already ending, counts as killed. SLURM not answering -> retryLater.
// Sweeping removes the access point (shared checks: never "/", the home or a relative path).
import { hostname } from 'node:os';
import type { WorkSpec } from '../../../spec/index.js';
import { abortedDiag } from '../../abort.js';
import { BatchCommandError, noCommands, runCommand, type CommandRunner } from '../../batch/command-runner.js';
import type { PluginContext, Sweeper } from '../../contracts.js';
import { constructionCheck, OptionReader, type OptionsCheck, type PluginOptions } from '../../options.js';
import { failed, retryLater, succeeded, type Outcome } from '../../outcome.js';
import { removeAccessPoint } from '../access-point-removal.js';
import { fitsOneArgument, readSlurmClientSettings, SlurmClient, SlurmCommandError, type CancelVerdict } from './slurm-client.js';
import { currentUser, jobIDOf, jobNameOf, noHarvesterIDDiag } from './slurm-identity.js';
import { slurmStateMeaning } from './slurm-states.js';

const plugin = 'SlurmSweeper';

function cancelOutcome(jobID: string, verdict: CancelVerdict | undefined): Outcome {
  switch (verdict?.kind) {
    case 'signalled':
      return succeeded(undefined, `scancel ${jobID} done`);
    case 'gone':
      return succeeded(undefined, `SLURM job ${jobID} had already ended: ${verdict.message}`);
    case 'unanswered':
      return retryLater(`scancel ${jobID}: ${verdict.message}; tried again later`);
    case 'refused':
      return failed(`scancel refused SLURM job ${jobID}: ${verdict.message}`);
    case undefined:
      return retryLater(`scancel gave no answer for SLURM job ${jobID}`);
  }
}

export class SlurmSweeper implements Sweeper {
  private readonly client: SlurmClient;

  constructor(options: PluginOptions = {}, runner: CommandRunner = runCommand) {
    const read = new OptionReader(plugin, options);
    this.client = new SlurmClient(runner, readSlurmClientSettings(plugin, read), hostname());
  }

  /** For `queues check`: the options, without building anything that runs. */
  static checkOptions(options: PluginOptions): OptionsCheck {
    return constructionCheck(() => new SlurmSweeper(options, noCommands));
  }

  async killWorker(ctx: PluginContext, workSpec: WorkSpec): Promise<Outcome> {
    const [outcome] = await this.killWorkers(ctx, [workSpec]);
    return outcome!;
  }

  async killWorkers(ctx: PluginContext, workSpecs: WorkSpec[]): Promise<Outcome[]> {
    if (ctx.signal.aborted) return workSpecs.map(() => retryLater(abortedDiag(ctx)));
    const outcomes: (Outcome | undefined)[] = new Array<Outcome | undefined>(workSpecs.length);
    /** The jobs to cancel for each worker (by index). */
    const jobsOf = new Map<number, string[]>();
    const byName = new Map<string, number>();
    const harvesterID: unknown = ctx.queue.harvesterID;
    for (const [index, workSpec] of workSpecs.entries()) {
      const batchID = jobIDOf(workSpec);
      if (batchID !== undefined) jobsOf.set(index, [batchID]);
      else if (workSpec.workerID === null) outcomes[index] = succeeded(undefined, 'no batchID and no workerID to look for a job by: nothing to kill');
      // Its job, if it has one, cannot be looked for: "nothing to kill" would leave it running.
      else if (typeof harvesterID !== 'string' || harvesterID === '') outcomes[index] = retryLater(`worker ${workSpec.workerID} has no batchID, and ${noHarvesterIDDiag}`);
      else byName.set(jobNameOf(harvesterID, workSpec.workerID), index);
    }

    if (byName.size > 0) {
      try {
        const names = [...byName.keys()];
        const found = await this.client.squeue(fitsOneArgument(names) ? { names } : { user: currentUser() }, ctx.signal);
        for (const [name, index] of byName) {
          const live = found.filter((j) => j.name === name && slurmStateMeaning(j.state)?.ended !== true).map((j) => j.jobID);
          if (live.length > 0) jobsOf.set(index, live);
          else outcomes[index] = succeeded(undefined, `no live SLURM job named ${name}: nothing to kill`);
        }
      } catch (error) {
        if (!(error instanceof BatchCommandError)) throw error;
        for (const index of byName.values()) outcomes[index] = retryLater(`looking for the job by name failed: ${error.message}`);
      }
    }

    const ids = [...new Set([...jobsOf.values()].flat())];
    if (ids.length > 0) {
      try {
        const verdicts = await this.client.scancel(ids, ctx.signal);
        for (const [index, jobIDs] of jobsOf) {
          // A worker with several jobs (found by name) is killed when each of them is.
          const each = jobIDs.map((id) => cancelOutcome(id, verdicts.get(id)));
          outcomes[index] = each.find((o) => o.kind === 'failed') ?? each.find((o) => o.kind === 'retry') ?? each[0]!;
        }
      } catch (error) {
        if (!(error instanceof BatchCommandError)) throw error;
        const refused = error instanceof SlurmCommandError && error.kind === 'refused';
        for (const index of jobsOf.keys()) outcomes[index] = refused ? failed(error.message) : retryLater(`${error.message}; tried again later`);
      }
      ctx.log.info({ jobs: ids.length, workers: jobsOf.size }, 'scancel sent for the batch');
    }
    return outcomes as Outcome[];
  }

  sweepWorker(ctx: PluginContext, workSpec: WorkSpec): Promise<Outcome> {
    return removeAccessPoint(ctx, workSpec);
  }
}
