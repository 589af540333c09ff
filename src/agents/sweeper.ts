// The sweeper agent: per queue, (a) kills the workers someone asked to kill (killTime set and reached): killed
// ones are 'cancelled' and their jobs follow, the others are tried again after checkInterval; (b) cleans up final
// workers kept long enough (keepFinished/keepFailed/keepCancelled/keepMissed hours after their endTime):
// the sweeper plugin removes what the worker left on the resource, the messenger its files, then the rows go,
// with the jobs that are final and reported (no longer awaiting propagation).
import type { QueueConfig } from '../config/index.js';
import type { Logger } from '../logging/index.js';
import { defaultItemConcurrency, killWorkersOf, mapBounded, type ContractsByKind, type Outcome, type PluginContext } from '../plugins/index.js';
import { WorkSpec, type WorkerStatus } from '../spec/index.js';
import type { Agent, CycleReport } from './agent-loop.js';
import { lockOwner, type AgentEnvironment } from './environment.js';
import { Tally, writeBackWorkers } from './claimed-rows.js';
import { jobsFollowWorkers } from './jobs-follow-worker.js';
import { lockKeeperFor, type LockKeeper } from './lock-keeper.js';
import { anOutcome, callPlugin, outcomesFor, PluginCallError, workersSubject } from './plugin-call.js';

/** Workers a kill request applies to: not final yet. */
export const killableWorkerStatuses: readonly WorkerStatus[] = ['ready', 'submitted', 'running', 'idle', 'pending'];

const HOUR_MS = 3600_000;

type SweeperSettings = AgentEnvironment['settings']['sweeper'];
/** The setting that says how long workers of each final status are kept. */
const keepSettingOf: Readonly<Record<string, keyof SweeperSettings>> = {
  finished: 'keepFinished',
  failed: 'keepFailed',
  cancelled: 'keepCancelled',
  missed: 'keepMissed',
};

type Add = (name: string, n?: number) => void;

export class Sweeper implements Agent {
  readonly name = 'sweeper';
  readonly #env: AgentEnvironment;
  readonly #owner: string;
  readonly #log: Logger;
  readonly #locks: LockKeeper;

  constructor(env: AgentEnvironment) {
    this.#env = env;
    this.#owner = lockOwner(env, 'sweeper');
    this.#log = env.log.child({ agent: 'sweeper' });
    this.#locks = lockKeeperFor(env, 'sweeper');
  }

  get #settings(): SweeperSettings {
    return this.#env.settings.sweeper;
  }

  async runCycle(signal: AbortSignal): Promise<CycleReport> {
    const tally = new Tally<string>(['killed', 'killFailed', 'deleted', 'jobsDeleted', 'sweepFailed', 'errors']);
    const add: Add = (name, n = 1) => tally.add(name, n);
    for (const queue of this.#env.queues) {
      if (signal.aborted) break;
      const log = this.#log.child({ queue: queue.queueName });
      let sweeper: ContractsByKind['sweeper'] | undefined;
      let messenger: ContractsByKind['messenger'] | undefined;
      try {
        sweeper = await this.#env.plugin(queue, 'sweeper');
        messenger = await this.#env.plugin(queue, 'messenger');
      } catch (error) {
        add('errors');
        log.error({ err: error }, 'cannot get the plugins of the queue; skipped this cycle');
        continue;
      }
      if (sweeper === undefined) log.debug('no sweeper plugin: kill requests of the queue wait');
      else await this.#kill(queue, sweeper, signal, log, add);
      for (const status of Object.keys(keepSettingOf)) {
        if (signal.aborted) break;
        await this.#cleanUp(queue, status, sweeper, messenger, signal, log, add);
      }
    }
    return tally.report();
  }

  #claim(queue: QueueConfig, extra: { statuses: readonly string[]; checkIntervalSec: number; killRequested?: boolean; endedBefore?: Date }): Promise<WorkSpec[]> {
    return this.#env.store.claimWorkers({
      purpose: 'sweeper',
      owner: this.#owner,
      queueName: queue.queueName,
      lockIntervalSec: this.#settings.lockInterval,
      limit: this.#settings.maxWorkers,
      now: this.#env.now(),
      ...extra,
    });
  }

  async #kill(queue: QueueConfig, sweeper: ContractsByKind['sweeper'], signal: AbortSignal, log: Logger, add: Add): Promise<void> {
    // A kill is due as soon as it is asked for (killTime <= now), however recently the monitor looked at the
    // worker; a kill that did not happen is put off by moving killTime checkInterval ahead (as harvester does).
    const workers = await this.#claim(queue, { statuses: killableWorkerStatuses, killRequested: true, checkIntervalSec: 0 });
    if (workers.length === 0) return;
    let outcomes: readonly Outcome[] | undefined;
    try {
      outcomes = await callPlugin({
        queue,
        method: 'killWorkers',
        subject: workersSubject(workers.map((w) => w.workerID)),
        log,
        timeout: this.#settings.pluginTimeout,
        signal,
        check: outcomesFor(workers.length),
        locks: this.#locks,
        call: (ctx) => killWorkersOf(sweeper, ctx, workers),
      });
    } catch (error) {
      add('errors');
      logCallError(log, error, 'killWorkers failed; the kills are tried again later');
    }
    const now = this.#env.now();
    const killed: WorkSpec[] = [];
    for (const [i, worker] of workers.entries()) {
      const outcome = outcomes?.[i];
      if (outcome?.kind === 'succeeded') {
        worker.setStatus(WorkSpec.ST_cancelled, now);
        worker.setDialogMessage(outcome.diag === '' ? 'killed on request' : `killed on request: ${outcome.diag}`);
        killed.push(worker);
        add('killed');
      } else {
        worker.killTime = new Date(now.getTime() + this.#settings.checkInterval * 1000);
        if (outcome !== undefined) {
          log.warn({ workerID: worker.workerID, outcome: outcome.kind, diag: outcome.diag }, 'worker not killed; tried again later');
          add('killFailed');
        }
      }
    }
    await jobsFollowWorkers(killed, workers, this.#env.store, now);
    await writeBackWorkers(this.#env.store, workers, { includeJobs: true, lock: { purpose: 'sweeper', owner: this.#owner }, releaseLock: true, now }, log);
  }

  async #cleanUp(
    queue: QueueConfig,
    status: string,
    sweeper: ContractsByKind['sweeper'] | undefined,
    messenger: ContractsByKind['messenger'] | undefined,
    signal: AbortSignal,
    log: Logger,
    add: Add,
  ): Promise<void> {
    const keepHours = this.#settings[keepSettingOf[status]!] as number;
    const endedBefore = new Date(this.#env.now().getTime() - keepHours * HOUR_MS);
    const workers = await this.#claim(queue, { statuses: [status], endedBefore, checkIntervalSec: this.#settings.checkInterval });
    if (workers.length === 0) return;
    // Each sweep is one plugin call about one worker (mostly removing its access point): a few at a time.
    const done = await mapBounded(workers, defaultItemConcurrency, (worker) => this.#sweepOne(queue, worker, sweeper, messenger, signal, log), () => signal.aborted);
    const swept = workers.filter((_, i) => done[i] === true);
    const kept = workers.filter((_, i) => done[i] !== true);
    const store = this.#env.store;
    if (kept.length > 0) {
      add('sweepFailed', kept.length);
      await writeBackWorkers(store, kept, { lock: { purpose: 'sweeper', owner: this.#owner }, releaseLock: true, now: this.#env.now() }, log);
    }
    if (swept.length === 0) return;
    const PandaIDs = [...new Set(swept.flatMap((w) => w.jobSpecs.filter((j) => j.isFinalStatus() && j.propagatorTime === null).map((j) => j.PandaID as number)))];
    add('deleted', await store.deleteWorkers(swept.map((w) => w.workerID as number)));
    // A job still related to another worker (OneToMany, or given to a new worker) stays with it.
    const orphans: number[] = [];
    for (const PandaID of PandaIDs) if ((await store.getWorkerIDsOfJob(PandaID)).length === 0) orphans.push(PandaID);
    if (orphans.length > 0) add('jobsDeleted', await store.deleteJobs(orphans));
    log.info({ status, workerIDs: swept.map((w) => w.workerID), PandaIDs: orphans }, 'workers cleaned up');
  }

  /** The plugin's and the messenger's clean-up of one worker; false when it must be tried again later. */
  async #sweepOne(
    queue: QueueConfig,
    worker: WorkSpec,
    sweeper: ContractsByKind['sweeper'] | undefined,
    messenger: ContractsByKind['messenger'] | undefined,
    signal: AbortSignal,
    log: Logger,
  ): Promise<boolean> {
    const steps: { method: string; call: (ctx: PluginContext) => Promise<Outcome> }[] = [];
    if (sweeper !== undefined) steps.push({ method: 'sweepWorker', call: (ctx) => sweeper.sweepWorker(ctx, worker) });
    if (messenger !== undefined) steps.push({ method: 'cleanUp', call: (ctx) => messenger.cleanUp(ctx, worker) });
    for (const { method, call } of steps) {
      try {
        const outcome = await callPlugin({ queue, method, subject: workersSubject([worker.workerID]), log, timeout: this.#settings.pluginTimeout, signal, check: anOutcome, locks: this.#locks, call });
        if (outcome.kind !== 'succeeded') {
          log.warn({ workerID: worker.workerID, method, outcome: outcome.kind, diag: outcome.diag }, 'clean-up not done; tried again later');
          return false;
        }
      } catch (error) {
        logCallError(log, error, 'clean-up failed; tried again later');
        return false;
      }
    }
    return true;
  }
}

function logCallError(log: Logger, error: unknown, message: string): void {
  if (error instanceof PluginCallError) log.warn({ method: error.method, subject: error.subject, failure: error.failure, callEffect: error.callEffect, err: error }, message);
  else log.error({ err: error }, message);
}
