// The preparator (harvester's preparator agent): stage-in of the input files of fetched jobs, so the
// submitter finds them 'prepared'. For each queue it claims jobs in 'fetched' or 'preparing' and drives them
// through the queue's preparator plugin:
//   fetched   --triggerPreparation--> preparing --checkStageInStatus + resolveInputPaths--> prepared
// A job whose trigger succeeded is checked at once in the same cycle, so a preparator that finishes at once
// (the dummy) takes a job to 'prepared' in one pass, and one that transfers asynchronously leaves it
// 'preparing' to be checked again after checkInterval. A failed outcome fails the job (failed_to_prepare,
// reported through the propagator); retry leaves it where it is. A queue without a preparator plugin has
// nothing to stage in: its jobs become 'prepared' directly.
import type { QueueConfig } from '../config/index.js';
import type { Logger } from '../logging/index.js';
import type { Outcome, PluginContext, Preparator as PreparatorPlugin } from '../plugins/index.js';
import type { JobSpec } from '../spec/index.js';
import type { Agent, CycleReport } from './agent-loop.js';
import { Tally, writeBackJobs } from './claimed-rows.js';
import { lockOwner, type AgentEnvironment } from './environment.js';
import { anOutcome, callPlugin, jobsSubject, PluginCallError } from './plugin-call.js';

/** harvester's PilotErrors.ERR_STAGEINFAILED, reported to PanDA with the job. */
export const ERR_STAGEIN_FAILED = 1099;

const counted = ['prepared', 'preparing', 'waiting', 'failed', 'errors', 'deferred', 'lockLost', 'refused'] as const;
type Counted = (typeof counted)[number];

/** What became of one job (whose spec was changed in place and is written back with the batch). */
interface JobStep {
  readonly count: Counted;
  /** The plugin did not answer in time: the rest of the queue's batch is not tried this cycle. */
  readonly stopQueue?: boolean;
}

export class Preparator implements Agent {
  readonly name = 'preparator';
  readonly #env: AgentEnvironment;
  readonly #log: Logger;
  readonly #owner: string;

  constructor(env: AgentEnvironment) {
    this.#env = env;
    this.#log = env.log.child({ agent: 'preparator' });
    this.#owner = lockOwner(env, 'preparator');
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
    const settings = this.#env.settings.preparator;
    const log = this.#log.child({ queue: queue.queueName });
    let plugin: PreparatorPlugin | undefined;
    try {
      plugin = await this.#env.plugin(queue, 'preparator');
    } catch (error) {
      log.error({ err: error }, 'cannot get the preparator plugin of the queue; its jobs wait for the next cycle');
      tally.add('errors');
      return;
    }
    const jobs = await this.#env.store.claimJobs({
      for: 'preparator',
      owner: this.#owner,
      lockIntervalSec: settings.lockInterval,
      checkIntervalSec: settings.checkInterval,
      limit: settings.maxJobsToPrepare,
      queueName: queue.queueName,
      subStatus: ['fetched', 'preparing'],
      now: this.#env.now(),
    });
    if (jobs.length === 0) return;
    log.debug({ PandaIDs: jobs.map((j) => j.PandaID) }, 'claimed jobs to prepare');
    let stopped = false;
    for (const job of jobs) {
      if (stopped || signal.aborted) {
        // Not tried: due first at the next cycle, before the job that stopped this one.
        job.triggerPreparation(this.#env.now());
        tally.add('deferred');
        continue;
      }
      const step = plugin === undefined ? this.#withoutPlugin(job) : await this.#prepare(queue, plugin, job, signal, log);
      tally.add(step.count);
      stopped = step.stopQueue === true;
    }
    const written = await writeBackJobs(this.#env.store, jobs, { lock: { purpose: 'preparator', owner: this.#owner }, releaseLock: true, now: this.#env.now() }, log);
    tally.add('lockLost', written.lockLost.length);
    tally.add('refused', written.refused.length);
  }

  #withoutPlugin(job: JobSpec): JobStep {
    job.subStatus = 'prepared';
    return { count: 'prepared' };
  }

  async #prepare(queue: QueueConfig, plugin: PreparatorPlugin, job: JobSpec, signal: AbortSignal, log: Logger): Promise<JobStep> {
    const call = (method: string, fn: (ctx: PluginContext) => Promise<Outcome>): Promise<Outcome> =>
      callPlugin({
        queue,
        method,
        subject: jobsSubject([job.PandaID]),
        log,
        timeout: this.#env.settings.preparator.pluginTimeout,
        signal,
        check: anOutcome,
        call: fn,
      });
    try {
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
    } catch (error) {
      if (!(error instanceof PluginCallError)) throw error;
      // The job is written back as it stands (subStatus of the last step that succeeded) and comes back
      // after checkInterval.
      log.warn(
        { PandaID: job.PandaID, method: error.method, failure: error.failure, err: error },
        'preparator plugin call failed; the job is released and tried again later',
      );
      return { count: 'errors', stopQueue: error.failure === 'timeout' };
    }
  }

  #fail(job: JobSpec, method: string, diag: string, log: Logger): JobStep {
    const now = this.#env.now();
    job.status = 'failed';
    job.subStatus = 'failed_to_prepare';
    job.stateChangeTime = now;
    job.setPilotError(ERR_STAGEIN_FAILED, `stage-in failed with ${diag}`);
    job.triggerPropagation(now);
    log.warn({ PandaID: job.PandaID, method, diag }, 'stage-in failed; the job failed');
    return { count: 'failed' };
  }
}
