// The stager (harvester's stager agent): stage-out of the output files of jobs whose worker ended. For each
// queue it claims jobs in 'to_transfer' or 'transferring' and drives them through the queue's stager plugin:
//   to_transfer --triggerStageOut--> transferring --checkStageOutStatus--> done
// A job whose trigger succeeded is checked at once in the same cycle (a stager that finishes at once takes a
// job to 'done' in one pass). The job's status stays the final one its worker gave it, except that a failed
// stage-out (or an output file left failed) makes it 'failed'. Every change to 'done' triggers propagation,
// so the propagator reports the job's final state. A queue without a stager plugin has nothing to move: its
// jobs become 'done' directly.
import type { QueueConfig } from '../config/index.js';
import type { Logger } from '../logging/index.js';
import type { Outcome, PluginContext, Stager as StagerPlugin } from '../plugins/index.js';
import type { JobSpec } from '../spec/index.js';
import type { Agent, CycleReport } from './agent-loop.js';
import { Tally, writeBackJobs } from './claimed-rows.js';
import { lockOwner, type AgentEnvironment } from './environment.js';
import { anOutcome, callPlugin, jobsSubject, PluginCallError } from './plugin-call.js';

/** harvester's PilotErrors.ERR_STAGEOUTFAILED, reported to PanDA with the job. */
export const ERR_STAGEOUT_FAILED = 1137;

const counted = ['done', 'transferring', 'waiting', 'failed', 'errors', 'deferred', 'lockLost', 'refused'] as const;
type Counted = (typeof counted)[number];

/** What became of one job (whose spec was changed in place and is written back with the batch). */
interface JobStep {
  readonly count: Counted;
  /** The plugin did not answer in time: the rest of the queue's batch is not tried this cycle. */
  readonly stopQueue?: boolean;
}

export class Stager implements Agent {
  readonly name = 'stager';
  readonly #env: AgentEnvironment;
  readonly #log: Logger;
  readonly #owner: string;

  constructor(env: AgentEnvironment) {
    this.#env = env;
    this.#log = env.log.child({ agent: 'stager' });
    this.#owner = lockOwner(env, 'stager');
  }

  async runCycle(signal: AbortSignal): Promise<CycleReport> {
    const tally = new Tally(counted);
    for (const queue of this.#env.queues) {
      if (signal.aborted) break;
      await this.#runQueue(queue, signal, tally);
    }
    return tally.report();
  }

  async #runQueue(queue: QueueConfig, signal: AbortSignal, tally: Tally<Counted>): Promise<void> {
    const settings = this.#env.settings.stager;
    const log = this.#log.child({ queue: queue.queueName });
    let plugin: StagerPlugin | undefined;
    try {
      plugin = await this.#env.plugin(queue, 'stager');
    } catch (error) {
      log.error({ err: error }, 'cannot get the stager plugin of the queue; its jobs wait for the next cycle');
      tally.add('errors');
      return;
    }
    const jobs = await this.#env.store.claimJobs({
      for: 'stager',
      owner: this.#owner,
      lockIntervalSec: settings.lockInterval,
      checkIntervalSec: settings.checkInterval,
      limit: settings.maxJobsToCheck,
      queueName: queue.queueName,
      subStatus: ['to_transfer', 'transferring'],
      now: this.#env.now(),
    });
    if (jobs.length === 0) return;
    log.debug({ PandaIDs: jobs.map((j) => j.PandaID) }, 'claimed jobs to stage out');
    let stopped = false;
    for (const job of jobs) {
      if (stopped || signal.aborted) {
        // Not tried: due first at the next cycle, before the job that stopped this one.
        job.triggerStageOut(this.#env.now());
        tally.add('deferred');
        continue;
      }
      const step = plugin === undefined ? this.#done(job) : await this.#stageOut(queue, plugin, job, signal, log);
      tally.add(step.count);
      stopped = step.stopQueue === true;
    }
    const written = await writeBackJobs(this.#env.store, jobs, { lock: { purpose: 'stager', owner: this.#owner }, releaseLock: true, now: this.#env.now() }, log);
    tally.add('lockLost', written.lockLost.length);
    tally.add('refused', written.refused.length);
  }

  async #stageOut(queue: QueueConfig, plugin: StagerPlugin, job: JobSpec, signal: AbortSignal, log: Logger): Promise<JobStep> {
    const call = (method: string, fn: (ctx: PluginContext) => Promise<Outcome>): Promise<Outcome> =>
      callPlugin({
        queue,
        method,
        subject: jobsSubject([job.PandaID]),
        log,
        timeout: this.#env.settings.stager.pluginTimeout,
        signal,
        check: anOutcome,
        call: fn,
      });
    try {
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
    } catch (error) {
      if (!(error instanceof PluginCallError)) throw error;
      // The job is written back as it stands (subStatus of the last step that succeeded) and comes back
      // after checkInterval.
      log.warn(
        { PandaID: job.PandaID, method: error.method, failure: error.failure, err: error },
        'stager plugin call failed; the job is released and tried again later',
      );
      return { count: 'errors', stopQueue: error.failure === 'timeout' };
    }
  }

  #done(job: JobSpec): JobStep {
    job.subStatus = 'done';
    job.triggerPropagation(this.#env.now());
    return { count: 'done' };
  }

  #fail(job: JobSpec, method: string, diag: string, log: Logger): JobStep {
    const now = this.#env.now();
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
