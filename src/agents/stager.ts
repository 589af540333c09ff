// The stager (harvester's stager agent): stage-out of the output files of jobs whose worker ended. For each
// queue it claims jobs in 'to_transfer' or 'transferring' and drives them through the queue's stager plugin:
//   to_transfer --triggerStageOut--> transferring --checkStageOutStatus--> done
// A job whose trigger succeeded is checked at once in the same cycle (a stager that finishes at once takes a
// job to 'done' in one pass). The job's status stays the final one its worker gave it, except that a failed
// stage-out (or an output file left failed) makes it 'failed'. Every change to 'done' triggers propagation,
// so the propagator reports the job's final state. A queue without a stager plugin has nothing to move: its
// jobs become 'done' directly.
import type { Logger } from '../logging/index.js';
import type { Stager as StagerPlugin } from '../plugins/index.js';
import type { JobSpec } from '../spec/index.js';
import type { AgentEnvironment } from './environment.js';
import { FileTransferAgent, type JobPluginCall, type JobStep } from './file-transfer-agent.js';

/** harvester's PilotErrors.ERR_STAGEOUTFAILED, reported to PanDA with the job. */
export const ERR_STAGEOUT_FAILED = 1137;

type Own = 'done' | 'transferring';

export class Stager extends FileTransferAgent<'stager', Own> {
  protected readonly subStatuses = ['to_transfer', 'transferring'] as const;
  protected readonly doing = 'stage out';

  constructor(env: AgentEnvironment) {
    super(env, 'stager', ['done', 'transferring']);
  }

  protected get batchSize(): number {
    return this.env.settings.stager.maxJobsToCheck;
  }

  protected dueAgain(job: JobSpec): void {
    job.triggerStageOut(this.env.now());
  }

  protected withoutPlugin(job: JobSpec): JobStep<Own> {
    return this.#done(job);
  }

  protected async step(plugin: StagerPlugin, job: JobSpec, call: JobPluginCall, log: Logger): Promise<JobStep<Own>> {
    if (job.subStatus === 'to_transfer') {
      const triggered = await call('triggerStageOut', (ctx) => plugin.triggerStageOut(ctx, job));
      if (triggered.kind === 'failed') return this.#fail(job, 'triggerStageOut', triggered.diag, log);
      if (triggered.kind === 'retry') {
        log.debug({ PandaID: job.PandaID, diag: triggered.diag }, 'stage-out not triggered yet; tried again later');
        return { count: 'waiting' };
      }
      job.allFilesTriggeredToStageOut();
      job.subStatus = 'transferring';
    }
    const checked = await call('checkStageOutStatus', (ctx) => plugin.checkStageOutStatus(ctx, job));
    if (checked.kind === 'failed') return this.#fail(job, 'checkStageOutStatus', checked.diag, log);
    if (checked.kind === 'retry') {
      log.debug({ PandaID: job.PandaID, diag: checked.diag }, 'stage-out in progress; checked again later');
      return { count: 'transferring' };
    }
    const failedFiles = job.outFiles.filter((f) => f.status === 'failed').map((f) => f.lfn);
    if (failedFiles.length > 0) return this.#fail(job, 'checkStageOutStatus', `output files failed: ${failedFiles.join(',')}`, log);
    return this.#done(job);
  }

  #done(job: JobSpec): JobStep<Own> {
    job.subStatus = 'done';
    job.triggerPropagation(this.env.now());
    return { count: 'done' };
  }

  #fail(job: JobSpec, method: string, diag: string, log: Logger): JobStep<Own> {
    const now = this.env.now();
    for (const file of job.outFiles) {
      if (file.status !== 'finished') file.status = 'failed';
    }
    job.status = 'failed';
    job.subStatus = 'done';
    job.stateChangeTime = now;
    job.setPilotError(ERR_STAGEOUT_FAILED, `stage-out failed with ${diag}`);
    job.triggerPropagation(now);
    log.warn({ PandaID: job.PandaID, method, diag }, 'stage-out failed; the job failed');
    return { count: 'failed' };
  }
}
