// The preparator (harvester's preparator agent): stage-in of the input files of fetched jobs, so the
// submitter finds them 'prepared'. For each queue it claims jobs in 'fetched' or 'preparing' and drives them
// through the queue's preparator plugin:
//   fetched   --triggerPreparation--> preparing --checkStageInStatus + resolveInputPaths--> prepared
// A job whose trigger succeeded is checked at once in the same cycle, so a preparator that finishes at once
// (the dummy) takes a job to 'prepared' in one pass, and one that transfers asynchronously leaves it
// 'preparing' to be checked again after checkInterval. A failed outcome fails the job (failed_to_prepare,
// reported through the propagator); retry leaves it where it is. A queue without a preparator plugin has
// nothing to stage in: its jobs become 'prepared' directly.
import type { Logger } from '../logging/index.js';
import type { Preparator as PreparatorPlugin } from '../plugins/index.js';
import type { JobSpec } from '../spec/index.js';
import type { AgentEnvironment } from './environment.js';
import { FileTransferAgent, type JobPluginCall, type JobStep } from './file-transfer-agent.js';

/** harvester's PilotErrors.ERR_STAGEINFAILED, reported to PanDA with the job. */
export const ERR_STAGEIN_FAILED = 1099;

type Own = 'prepared' | 'preparing';

export class Preparator extends FileTransferAgent<'preparator', Own> {
  protected readonly subStatuses = ['fetched', 'preparing'] as const;
  protected readonly doing = 'prepare';

  constructor(env: AgentEnvironment) {
    super(env, 'preparator', ['prepared', 'preparing']);
  }

  protected get batchSize(): number {
    return this.env.settings.preparator.maxJobsToPrepare;
  }

  protected dueAgain(job: JobSpec): void {
    job.triggerPreparation(this.env.now());
  }

  protected withoutPlugin(job: JobSpec): JobStep<Own> {
    job.subStatus = 'prepared';
    return { count: 'prepared' };
  }

  protected async step(plugin: PreparatorPlugin, job: JobSpec, call: JobPluginCall, log: Logger): Promise<JobStep<Own>> {
    if (job.subStatus === 'fetched') {
      const triggered = await call('triggerPreparation', (ctx) => plugin.triggerPreparation(ctx, job));
      if (triggered.kind === 'failed') return this.#fail(job, 'triggerPreparation', triggered.diag, log);
      if (triggered.kind === 'retry') {
        log.debug({ PandaID: job.PandaID, diag: triggered.diag }, 'preparation not triggered yet; tried again later');
        return { count: 'waiting' };
      }
      job.subStatus = 'preparing';
    }
    const checked = await call('checkStageInStatus', (ctx) => plugin.checkStageInStatus(ctx, job));
    if (checked.kind === 'failed') return this.#fail(job, 'checkStageInStatus', checked.diag, log);
    if (checked.kind === 'retry') {
      log.debug({ PandaID: job.PandaID, diag: checked.diag }, 'stage-in in progress; checked again later');
      return { count: 'preparing' };
    }
    const resolved = await call('resolveInputPaths', (ctx) => plugin.resolveInputPaths(ctx, job));
    if (resolved.kind === 'failed') return this.#fail(job, 'resolveInputPaths', resolved.diag, log);
    if (resolved.kind === 'retry') {
      log.debug({ PandaID: job.PandaID, diag: resolved.diag }, 'input paths not resolved yet; tried again later');
      return { count: 'preparing' };
    }
    job.setAllInputReady();
    job.subStatus = 'prepared';
    return { count: 'prepared' };
  }

  #fail(job: JobSpec, method: string, diag: string, log: Logger): JobStep<Own> {
    const now = this.env.now();
    job.status = 'failed';
    job.subStatus = 'failed_to_prepare';
    job.stateChangeTime = now;
    job.setPilotError(ERR_STAGEIN_FAILED, `stage-in failed with ${diag}`);
    job.triggerPropagation(now);
    log.warn({ PandaID: job.PandaID, method, diag }, 'stage-in failed; the job failed');
    return { count: 'failed' };
  }
}
