// What the preparator and the stager share: for each queue, claim the jobs waiting in one of two sub-statuses
// (to trigger, in progress), drive each through the queue's plugin — trigger, then check at once in the same
// cycle — and write the batch back. A plugin call that fails is logged with the PandaID and the job is
// released as it stands; one that times out also defers the rest of the queue's batch (they are due first at
// the next cycle), so a hanging plugin costs one pluginTimeout per cycle, not one per job.
import type { QueueConfig } from '../config/index.js';
import type { Logger } from '../logging/index.js';
import type { ContractsByKind, Outcome, PluginContext } from '../plugins/index.js';
import type { JobSpec } from '../spec/index.js';
import type { Agent, CycleReport } from './agent-loop.js';
import { Tally, writeBackJobs } from './claimed-rows.js';
import { lockOwner, type AgentEnvironment } from './environment.js';
import { lockKeeperFor, type LockKeeper } from './lock-keeper.js';
import { anOutcome, callPlugin, jobsSubject, PluginCallError } from './plugin-call.js';

/** Counts every transfer agent reports, besides the two named after its own sub-statuses. */
const commonCounts = ['waiting', 'failed', 'errors', 'deferred', 'lockLost', 'refused'] as const;
type CommonCount = (typeof commonCounts)[number];

/** What became of one job (whose spec was changed in place and is written back with the batch). */
export interface JobStep<C extends string> {
  readonly count: C | CommonCount;
  /** The plugin did not answer in time: the rest of the queue's batch is not tried this cycle. */
  readonly stopQueue?: boolean;
}

/** A plugin call about one job, guarded by callPlugin (deadline, abort, the answer must be one Outcome). */
export type JobPluginCall = (method: string, call: (ctx: PluginContext) => Promise<Outcome>) => Promise<Outcome>;

export abstract class FileTransferAgent<K extends 'preparator' | 'stager', C extends string> implements Agent {
  readonly name: K;
  protected readonly env: AgentEnvironment;
  readonly #log: Logger;
  readonly #owner: string;
  readonly #counts: readonly (C | CommonCount)[];
  readonly #locks: LockKeeper;

  constructor(
    env: AgentEnvironment,
    name: K,
    /** The counts named after the agent's own outcomes, e.g. ['prepared', 'preparing']. */
    ownCounts: readonly C[],
  ) {
    this.env = env;
    this.name = name;
    this.#log = env.log.child({ agent: name });
    this.#owner = lockOwner(env, name);
    this.#counts = [...ownCounts, ...commonCounts];
    this.#locks = lockKeeperFor(env, name);
  }

  /** The sub-statuses claimed: [waiting to be triggered, in progress]. */
  protected abstract readonly subStatuses: readonly [string, string];
  /** Jobs claimed per queue and cycle. */
  protected abstract readonly batchSize: number;
  /** What the agent does, for log lines: "prepare", "stage out". */
  protected abstract readonly doing: string;
  /** Makes the job due at once at the next cycle (it was not tried in this one). */
  protected abstract dueAgain(job: JobSpec): void;
  /** A queue without the plugin has nothing to transfer. */
  protected abstract withoutPlugin(job: JobSpec): JobStep<C>;
  /** Trigger (when the job waits for it) and check, through the plugin. */
  protected abstract step(plugin: ContractsByKind[K], job: JobSpec, call: JobPluginCall, log: Logger): Promise<JobStep<C>>;

  async runCycle(signal: AbortSignal): Promise<CycleReport> {
    const tally = new Tally(this.#counts);
    for (const queue of this.env.queues) {
      if (signal.aborted) break;
      await this.#runQueue(queue, signal, tally);
    }
    return tally.report();
  }

  async #runQueue(queue: QueueConfig, signal: AbortSignal, tally: Tally<C | CommonCount>): Promise<void> {
    const settings = this.env.settings[this.name];
    const log = this.#log.child({ queue: queue.queueName });
    let plugin: ContractsByKind[K] | undefined;
    try {
      plugin = await this.env.plugin(queue, this.name);
    } catch (error) {
      log.error({ err: error }, `cannot get the ${this.name} plugin of the queue; its jobs wait for the next cycle`);
      tally.add('errors');
      return;
    }
    const jobs = await this.env.store.claimJobs({
      for: this.name,
      owner: this.#owner,
      lockIntervalSec: settings.lockInterval,
      checkIntervalSec: settings.checkInterval,
      limit: this.batchSize,
      queueName: queue.queueName,
      subStatus: this.subStatuses,
      now: this.env.now(),
    });
    if (jobs.length === 0) return;
    log.debug({ PandaIDs: jobs.map((j) => j.PandaID) }, `claimed jobs to ${this.doing}`);
    let stopped = false;
    for (const job of jobs) {
      if (stopped || signal.aborted) {
        // Not tried: due first at the next cycle, before the job that stopped this one.
        this.dueAgain(job);
        tally.add('deferred');
        continue;
      }
      const step = plugin === undefined ? this.withoutPlugin(job) : await this.#guardedStep(queue, plugin, job, signal, log);
      tally.add(step.count);
      stopped = step.stopQueue === true;
    }
    const written = await writeBackJobs(this.env.store, jobs, { lock: { purpose: this.name, owner: this.#owner }, releaseLock: true, now: this.env.now() }, log);
    tally.add('lockLost', written.lockLost.length);
    tally.add('refused', written.refused.length);
  }

  async #guardedStep(queue: QueueConfig, plugin: ContractsByKind[K], job: JobSpec, signal: AbortSignal, log: Logger): Promise<JobStep<C>> {
    const call: JobPluginCall = (method, fn) =>
      callPlugin({ queue, method, subject: jobsSubject([job.PandaID]), log, timeout: this.env.settings[this.name].pluginTimeout, signal, check: anOutcome, locks: this.#locks, call: fn });
    try {
      return await this.step(plugin, job, call, log);
    } catch (error) {
      if (!(error instanceof PluginCallError)) throw error;
      // The job is written back as it stands (subStatus of the last step that succeeded) and comes back
      // after checkInterval.
      log.warn(
        { PandaID: job.PandaID, method: error.method, failure: error.failure, callEffect: error.callEffect, err: error },
        `${this.name} plugin call failed; the job is released and tried again later`,
      );
      return { count: 'errors', stopQueue: error.failure === 'timeout' };
    }
  }
}
