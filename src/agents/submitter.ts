// The submitter agent: per queue (one process at a time, by the store's queue claim), it submits again the
// workers a dead process or a "retry" answer left 'ready', then makes new workers as the worker adjuster
// allows: jobs claimed, workers made and recorded as 'ready' BEFORE anything reaches the resource, access
// points set up, jobs fed, workers submitted. Recording first means a crash never loses a worker that may be
// running: it is found 'ready' and submitted again with the same workerID and access point, and the built-in
// submitters answer such a repeat with the batch job they already started. A submission whose error says it
// may have run (the link dropped after the call was sent, the deadline passed, the plugin threw half-way, the
// answer was malformed, the agent stopped mid-call) is never repeated: the worker becomes 'submitted' with
// the diag submissionOutcomeUnknownDiag and the monitor asks the resource what happened. Only an error that
// says the call did not run (never sent, refused before running) leaves the workers 'ready'.
import { hostname } from 'node:os';
import type { QueueConfig } from '../config/index.js';
import type { Logger } from '../logging/index.js';
import {
  AccessPointError,
  chunkJobsForWorkers,
  createLocalAccessPoints,
  isOutcome,
  jobsNeededFor,
  workerAccessPoint,
  type ContractsByKind,
  type MapTypeSizes,
  type Outcome,
  type PluginContext,
} from '../plugins/index.js';
import { JobSpec, WorkSpec, type JobSubStatus } from '../spec/index.js';
import type { Agent, CycleReport } from './agent-loop.js';
import { lockOwner, type AgentEnvironment } from './environment.js';
import { Tally as ClaimedTally } from './claimed-rows.js';
import { writeBackJobs, writeBackWorkers } from './claimed-rows.js';
import { jobsFollowWorker } from './jobs-follow-worker.js';
import { lockKeeperFor, type LockKeeper } from './lock-keeper.js';
import { maxSubmissionAttemptsOf } from './submission-attempts.js';
import { anOutcome, callPlugin, jobsSubject, mayHaveTakenEffect, outcomesFor, PluginCallError, workersSubject } from './plugin-call.js';
import { adjustWorkers } from './worker-adjuster.js';

/** The diagMessage of a worker whose submission may or may not have happened. */
export const submissionOutcomeUnknownDiag = 'submission outcome unknown; the monitor reconciles';
/** The resource type asked of the worker maker: none in particular (it takes the queue's or the jobs'). */
const anyResourceType = 'ANY';

type Verdict = { kind: 'submitted'; diag: string } | { kind: 'unknown'; diag: string } | { kind: 'failed'; diag: string } | { kind: 'retry'; diag: string };

interface QueuePlugins {
  readonly submitter: ContractsByKind['submitter'];
  readonly workerMaker: ContractsByKind['workerMaker'] | undefined;
  readonly messenger: ContractsByKind['messenger'] | undefined;
  readonly throttler: ContractsByKind['throttler'] | undefined;
}

const reportNames = ['submitted', 'failed', 'retry', 'outcomeUnknown', 'resubmitted', 'throttled', 'failedToMake', 'errors'] as const;
type Tally = ClaimedTally<(typeof reportNames)[number]>;

export class Submitter implements Agent {
  readonly name = 'submitter';
  readonly #env: AgentEnvironment;
  readonly #owner: string;
  readonly #log: Logger;
  readonly #locks: LockKeeper;

  constructor(env: AgentEnvironment) {
    this.#env = env;
    this.#owner = lockOwner(env, 'submitter');
    this.#log = env.log.child({ agent: 'submitter' });
    // The queue's claim must hold as long as the workers' and jobs' locks.
    const { lockInterval, queueLockInterval } = env.settings.submitter;
    this.#locks = lockKeeperFor(env, 'submitter', Math.min(lockInterval, queueLockInterval));
  }

  get #settings(): AgentEnvironment['settings']['submitter'] {
    return this.#env.settings.submitter;
  }

  async runCycle(signal: AbortSignal): Promise<CycleReport> {
    const tally: Tally = new ClaimedTally(reportNames);
    const ready: { queue: QueueConfig; plugins: QueuePlugins }[] = [];
    for (const queue of this.#env.queues) {
      try {
        const plugins = await this.#pluginsOf(queue);
        if (plugins === undefined) this.#log.debug({ queue: queue.queueName }, 'no submitter plugin: queue skipped');
        else ready.push({ queue, plugins });
      } catch (error) {
        tally.add('errors');
        this.#log.error({ queue: queue.queueName, err: error }, 'cannot get the plugins of the queue; skipped this cycle');
      }
    }
    if (ready.length === 0) return tally.report();
    const claimed = await this.#env.store.claimQueues({
      queueNames: ready.map((r) => r.queue.queueName),
      owner: this.#owner,
      lockIntervalSec: this.#settings.queueLockInterval,
      checkIntervalSec: this.#settings.checkInterval,
      now: this.#env.now(),
    });
    try {
      for (const { queue, plugins } of ready) {
        if (signal.aborted) break;
        if (!claimed.includes(queue.queueName)) continue;
        await this.#submitForQueue(queue, plugins, signal, tally);
      }
    } finally {
      if (claimed.length > 0) await this.#env.store.releaseQueues(claimed, this.#owner);
    }
    return tally.report();
  }

  async #pluginsOf(queue: QueueConfig): Promise<QueuePlugins | undefined> {
    const submitter = await this.#env.plugin(queue, 'submitter');
    if (submitter === undefined) return undefined;
    return {
      submitter,
      workerMaker: await this.#env.plugin(queue, 'workerMaker'),
      messenger: await this.#env.plugin(queue, 'messenger'),
      throttler: await this.#env.plugin(queue, 'throttler'),
    };
  }

  async #submitForQueue(queue: QueueConfig, plugins: QueuePlugins, signal: AbortSignal, tally: Tally): Promise<void> {
    const log = this.#log.child({ queue: queue.queueName });
    const leftovers = await this.#env.store.claimWorkers({
      purpose: 'submitter',
      owner: this.#owner,
      statuses: [WorkSpec.ST_ready],
      queueName: queue.queueName,
      lockIntervalSec: this.#settings.lockInterval,
      checkIntervalSec: this.#settings.checkInterval,
      limit: this.#settings.maxNewWorkers,
      now: this.#env.now(),
    });
    if (leftovers.length > 0) {
      log.info({ workerIDs: leftovers.map((w) => w.workerID) }, "submitting again workers left 'ready'");
      for (const worker of leftovers) {
        // Not new: a messenger must keep what is in the access point (a payload may already have claimed it).
        worker.isNew = false;
        worker.accessPoint ??= workerAccessPoint(queue, worker, this.#env.home);
      }
      tally.add('resubmitted', leftovers.length);
      await this.#launch(queue, plugins, leftovers, signal, tally, log);
    }
    if (signal.aborted) return;
    const made = await this.#makeNewWorkers(queue, plugins, signal, tally, log);
    if (made.length > 0) await this.#launch(queue, plugins, made, signal, tally, log);
  }

  #call<T>(queue: QueueConfig, log: Logger, signal: AbortSignal, method: string, subject: string, check: (v: unknown) => string | undefined, call: (ctx: PluginContext) => Promise<T>): Promise<T> {
    return callPlugin({ queue, method, subject, log, timeout: this.#settings.pluginTimeout, signal, check, locks: this.#locks, call });
  }

  /** Whether the throttler lets new workers be made; a throttler that cannot tell holds them back this cycle. */
  async #mayMakeWorkers(queue: QueueConfig, plugins: QueuePlugins, signal: AbortSignal, tally: Tally, log: Logger): Promise<boolean> {
    if (plugins.throttler === undefined) return true;
    const throttler = plugins.throttler;
    try {
      const outcome = await this.#call(queue, log, signal, 'toBeThrottled', `queue ${queue.queueName}`, booleanOutcome, (ctx) => throttler.toBeThrottled(ctx));
      if (outcome.kind === 'succeeded') {
        if (outcome.value) log.info({ diag: outcome.diag }, 'throttled: no new workers this cycle');
        return !outcome.value;
      }
      log.warn({ outcome: outcome.kind, diag: outcome.diag }, 'the throttler could not decide: no new workers this cycle');
    } catch (error) {
      tally.add('errors');
      this.#logCallError(log, error, 'the throttler failed: no new workers this cycle');
    }
    return false;
  }

  async #makeNewWorkers(queue: QueueConfig, plugins: QueuePlugins, signal: AbortSignal, tally: Tally, log: Logger): Promise<WorkSpec[]> {
    const store = this.#env.store;
    if (!(await this.#mayMakeWorkers(queue, plugins, signal, tally, log))) {
      tally.add('throttled');
      return [];
    }
    const counts = await store.getWorkerStats(queue.queueName);
    const base = { queue, maxNewWorkers: this.#settings.maxNewWorkers, counts };
    const room = adjustWorkers(base);
    if (room.nNewWorkers === 0) {
      log.debug({ limitedBy: room.limitedBy, queued: room.queued, live: room.live }, 'no room for new workers');
      return [];
    }
    let sizes: MapTypeSizes;
    try {
      sizes = await this.#sizesOf(queue, plugins, room.nNewWorkers, signal, log);
    } catch (error) {
      tally.add('errors');
      this.#logCallError(log, error, 'cannot learn how jobs map onto workers; no new workers this cycle');
      return [];
    }
    const jobLock = { purpose: 'submitter', owner: this.#owner } as const;
    const jobs =
      queue.mapType === 'NoJob'
        ? []
        : await store.claimJobs({
            for: 'submitter',
            owner: this.#owner,
            // A job PanDA cancelled while it was being prepared keeps subStatus 'prepared': not for a worker.
            status: ['starting'],
            subStatus: ['prepared'],
            queueName: queue.queueName,
            lockIntervalSec: this.#settings.lockInterval,
            limit: Math.max(1, jobsNeededFor(queue.mapType, room.nNewWorkers, sizes)),
            now: this.#env.now(),
          });
    const adjustment = queue.mapType === 'NoJob' ? room : adjustWorkers({ ...base, preparedJobs: jobs.length, sizes });
    const chunks: JobSpec[][] =
      queue.mapType === 'NoJob'
        ? Array.from({ length: adjustment.nNewWorkers }, () => [])
        : chunkJobsForWorkers(queue.mapType, jobs, adjustment.nNewWorkers, { ...sizes, allowJobMixture: queue.allowJobMixture });
    log.debug({ nNewWorkers: chunks.length, limitedBy: adjustment.limitedBy, preparedJobs: jobs.length }, 'making workers');

    const workers: WorkSpec[] = [];
    const failedJobs: JobSpec[] = [];
    let stopped = false;
    for (const chunk of chunks) {
      if (stopped || signal.aborted) break;
      const made = await this.#makeWorker(queue, plugins, chunk, signal, log).catch((error: unknown) => {
        tally.add('errors');
        this.#logCallError(log, error, 'makeWorker failed; the jobs wait for the next cycle');
        stopped = true;
        return undefined;
      });
      if (made === undefined) continue;
      if (made.kind === 'succeeded') {
        workers.push(this.#newWorker(queue, made.value, chunk));
      } else if (made.kind === 'failed') {
        tally.add('failedToMake');
        log.warn({ PandaIDs: chunk.map((j) => j.PandaID), diag: made.diag }, 'the worker maker refused the jobs');
        for (const job of chunk) failJob(job, 'failed_to_make', this.#env.now());
        failedJobs.push(...chunk);
      } else {
        log.info({ PandaIDs: chunk.map((j) => j.PandaID), diag: made.diag }, 'the worker maker asks to retry later');
        stopped = true;
      }
    }
    // A job of several workers (OneToMany) is one submission attempt.
    const used = new Set(workers.flatMap((w) => w.jobSpecs));
    for (const job of used) {
      job.subStatus = 'queued';
      job.submissionAttempts = (job.submissionAttempts ?? 0) + 1;
    }
    const unused = jobs.filter((job) => !used.has(job) && !failedJobs.includes(job));
    const now = this.#env.now();
    if (unused.length + failedJobs.length > 0) {
      await writeBackJobs(store, [...failedJobs, ...unused], { lock: jobLock, releaseLock: true, now }, log);
    }
    if (workers.length === 0) return [];
    // Recorded before anything reaches the resource; the jobs become 'queued' in the same transaction.
    await store.insertWorkers(workers, { jobs: { lock: jobLock, now } });
    // Relative to the core's home, or left relative for the bot's home when the queue's access point owner is remote.
    for (const worker of workers) worker.accessPoint = workerAccessPoint(queue, worker, this.#env.home);
    return (await writeBackWorkers(store, workers, { lock: { purpose: 'submitter', owner: this.#owner }, now }, log)).written.slice();
  }

  async #sizesOf(queue: QueueConfig, plugins: QueuePlugins, nWorkers: number, signal: AbortSignal, log: Logger): Promise<MapTypeSizes> {
    const maker = plugins.workerMaker;
    if (maker === undefined) return {};
    const subject = `queue ${queue.queueName}`;
    if (queue.mapType === 'ManyToOne') {
      return { nJobsPerWorker: await this.#call(queue, log, signal, 'getNumJobsPerWorker', subject, positiveInteger, (ctx) => maker.getNumJobsPerWorker(ctx, nWorkers)) };
    }
    if (queue.mapType === 'OneToMany') {
      return { nWorkersPerJob: await this.#call(queue, log, signal, 'getNumWorkersPerJob', subject, positiveInteger, (ctx) => maker.getNumWorkersPerJob(ctx, nWorkers)) };
    }
    return {};
  }

  async #makeWorker(queue: QueueConfig, plugins: QueuePlugins, jobs: JobSpec[], signal: AbortSignal, log: Logger): Promise<Outcome<WorkSpec>> {
    const maker = plugins.workerMaker;
    // Without a worker maker, a plain worker carries the jobs (the submitter plugin decides the rest).
    if (maker === undefined) return { kind: 'succeeded', value: new WorkSpec({}), diag: '' };
    const jobType = jobs[0]?.jobParams?.['prodSourceLabel'];
    return this.#call(queue, log, signal, 'makeWorker', jobs.length === 0 ? `queue ${queue.queueName}` : jobsSubject(jobs.map((j) => j.PandaID)), madeWorker, (ctx) =>
      maker.makeWorker(ctx, jobs, typeof jobType === 'string' ? jobType : queue.prodSourceLabel, anyResourceType),
    );
  }

  #newWorker(queue: QueueConfig, worker: WorkSpec, jobs: JobSpec[]): WorkSpec {
    const now = this.#env.now();
    worker.workerID = null;
    worker.queueName = queue.queueName;
    // The store keys a worker's queue on computingSite, as it does a job's.
    worker.computingSite = queue.queueName;
    worker.mapType = queue.mapType;
    worker.creationTime ??= now;
    worker.setStatus(WorkSpec.ST_ready, now);
    worker.lockedBy = this.#owner;
    worker.modificationTime = now;
    worker.harvesterHost ??= hostname();
    worker.jobSpecs = jobs;
    worker.hasJob = jobs.length > 0 ? 1 : 0;
    worker.nJobs = jobs.length;
    worker.isNew = true;
    return worker;
  }

  /** Access points, jobs, submission, then one write of every worker and its jobs (the lock released). */
  async #launch(queue: QueueConfig, plugins: QueuePlugins, workers: WorkSpec[], signal: AbortSignal, tally: Tally, log: Logger): Promise<void> {
    const verdicts = new Map<WorkSpec, Verdict>();
    const pending = (): WorkSpec[] => workers.filter((w) => !verdicts.has(w));
    const decideAll = (targets: readonly WorkSpec[], verdict: Verdict): void => {
      for (const w of targets) verdicts.set(w, verdict);
    };

    // harvester's submitTime: taken once the workers are made, before anything reaches the resource, so a
    // batch job that starts while the submit call is still running never has startTime before submitTime.
    const submitTime = this.#env.now();
    await this.#setUpAccessPoints(queue, plugins, workers, signal, tally, log, decideAll);
    if (plugins.messenger !== undefined) await this.#feedJobs(queue, plugins.messenger, pending(), signal, tally, log, verdicts);

    const toSubmit = signal.aborted ? [] : pending();
    if (toSubmit.length > 0) {
      const submitter = plugins.submitter;
      const subject = workersSubject(toSubmit.map((w) => w.workerID));
      try {
        const outcomes = await this.#call(queue, log, signal, 'submitWorkers', subject, outcomesFor(toSubmit.length), (ctx) => submitter.submitWorkers(ctx, toSubmit));
        toSubmit.forEach((w, i) => {
          const outcome = outcomes[i]!;
          verdicts.set(w, outcome.kind === 'succeeded' ? { kind: 'submitted', diag: outcome.diag } : { kind: outcome.kind, diag: outcome.diag });
        });
      } catch (error) {
        tally.add('errors');
        this.#logCallError(log, error, 'submitWorkers failed');
        // The error says whether the submission may have happened: if so, never again blindly (the monitor
        // asks the resource); if it certainly did not, the workers stay 'ready' for the next cycle.
        const detail = error instanceof Error ? error.message : String(error);
        decideAll(toSubmit, mayHaveTakenEffect(error) ? { kind: 'unknown', diag: `${submissionOutcomeUnknownDiag} (${detail})` } : { kind: 'retry', diag: detail });
      }
    }

    const now = this.#env.now();
    const verdictOf = (worker: WorkSpec): Verdict => verdicts.get(worker) ?? { kind: 'retry', diag: 'not submitted: the agent is stopping' };
    // A job shared by several workers (OneToMany) follows a live one: a failed sibling must not requeue it.
    const carriedByLiveWorker = new Set(workers.filter((w) => ['submitted', 'unknown'].includes(verdictOf(w).kind)).flatMap((w) => w.jobSpecs));
    const maxAttempts = maxSubmissionAttemptsOf(queue, this.#env.settings);
    for (const worker of workers) {
      const verdict = verdictOf(worker);
      this.#apply(worker, verdict, { now, submitTime }, carriedByLiveWorker, maxAttempts);
      tally.add(verdict.kind === 'unknown' ? 'outcomeUnknown' : verdict.kind);
      if (verdict.kind !== 'submitted') log.info({ workerID: worker.workerID, verdict: verdict.kind, diag: verdict.diag }, 'worker not submitted');
    }
    const { written } = await writeBackWorkers(this.#env.store, workers, { includeJobs: true, lock: { purpose: 'submitter', owner: this.#owner }, releaseLock: true, now }, log);
    const submitted = written.filter((w) => w.status === WorkSpec.ST_submitted);
    if (submitted.length > 0) log.info({ workerIDs: submitted.map((w) => w.workerID), batchIDs: submitted.map((w) => w.batchID) }, 'workers submitted');
  }

  async #setUpAccessPoints(
    queue: QueueConfig,
    plugins: QueuePlugins,
    workers: WorkSpec[],
    signal: AbortSignal,
    tally: Tally,
    log: Logger,
    decideAll: (targets: readonly WorkSpec[], verdict: Verdict) => void,
  ): Promise<void> {
    const messenger = plugins.messenger;
    if (messenger === undefined) {
      try {
        await createLocalAccessPoints(queue, workers);
      } catch (error) {
        if (!(error instanceof AccessPointError)) throw error;
        tally.add('errors');
        log.warn({ workerIDs: workers.map((w) => w.workerID), err: error }, 'cannot create the access points; submission retried later');
        decideAll(workers, { kind: 'retry', diag: error.message });
      }
      return;
    }
    try {
      const outcome = await this.#call(queue, log, signal, 'setupAccessPoints', workersSubject(workers.map((w) => w.workerID)), anOutcome, (ctx) => messenger.setupAccessPoints(ctx, workers));
      if (outcome.kind === 'failed') decideAll(workers, { kind: 'failed', diag: `setupAccessPoints: ${outcome.diag}` });
      else if (outcome.kind === 'retry') decideAll(workers, { kind: 'retry', diag: `setupAccessPoints: ${outcome.diag}` });
    } catch (error) {
      tally.add('errors');
      this.#logCallError(log, error, 'setupAccessPoints failed; submission retried later');
      decideAll(workers, { kind: 'retry', diag: error instanceof Error ? error.message : String(error) });
    }
  }

  async #feedJobs(queue: QueueConfig, messenger: ContractsByKind['messenger'], workers: WorkSpec[], signal: AbortSignal, tally: Tally, log: Logger, verdicts: Map<WorkSpec, Verdict>): Promise<void> {
    for (const worker of workers) {
      if (worker.jobSpecs.length === 0) continue;
      if (signal.aborted) return;
      try {
        const outcome = await this.#call(queue, log, signal, 'feedJobs', workersSubject([worker.workerID]), anOutcome, (ctx) => messenger.feedJobs(ctx, worker, worker.jobSpecs));
        if (outcome.kind !== 'succeeded') verdicts.set(worker, { kind: outcome.kind, diag: `feedJobs: ${outcome.diag}` });
      } catch (error) {
        tally.add('errors');
        this.#logCallError(log, error, 'feedJobs failed; submission retried later');
        verdicts.set(worker, { kind: 'retry', diag: error instanceof Error ? error.message : String(error) });
      }
    }
  }

  #apply(worker: WorkSpec, verdict: Verdict, times: { now: Date; submitTime: Date }, carriedByLiveWorker: ReadonlySet<JobSpec>, maxAttempts: number): void {
    const { now } = times;
    worker.setDialogMessage(verdict.diag);
    for (const job of worker.jobSpecs) {
      job.lockedBy = null;
      job.modificationTime = now;
    }
    switch (verdict.kind) {
      case 'submitted':
      case 'unknown':
        worker.setStatus(WorkSpec.ST_submitted, now);
        worker.submitTime = times.submitTime;
        jobsFollowWorker(worker, now);
        return;
      case 'failed':
        worker.setStatus(WorkSpec.ST_failed, now);
        for (const job of worker.jobSpecs) {
          if (carriedByLiveWorker.has(job)) continue;
          // harvester gives the jobs to a new worker, unless they have been through too many.
          if ((job.submissionAttempts ?? 0) < maxAttempts) job.subStatus = 'prepared';
          else failJob(job, worker.convertToJobStatus()[1] as JobSubStatus, now);
        }
        return;
      case 'retry':
        // Stays 'ready', released: submitted again with the same workerID and access point.
        return;
    }
  }

  #logCallError(log: Logger, error: unknown, message: string): void {
    if (error instanceof PluginCallError) {
      log.warn({ method: error.method, subject: error.subject, failure: error.failure, callEffect: error.callEffect, err: error }, message);
    } else {
      log.error({ err: error }, message);
    }
  }
}

function failJob(job: JobSpec, subStatus: JobSubStatus, now: Date): void {
  job.status = 'failed';
  job.subStatus = subStatus;
  job.lockedBy = null;
  job.setEndTime(false, now);
  job.triggerPropagation(now);
}

function booleanOutcome(value: unknown): string | undefined {
  const problem = anOutcome(value);
  if (problem !== undefined) return problem;
  const outcome = value as Outcome<unknown>;
  return outcome.kind !== 'succeeded' || typeof outcome.value === 'boolean' ? undefined : 'expected succeeded(true|false)';
}

function madeWorker(value: unknown): string | undefined {
  if (!isOutcome(value)) return 'expected an Outcome ({kind, diag})';
  return value.kind !== 'succeeded' || value.value instanceof WorkSpec ? undefined : 'a succeeded makeWorker must carry a WorkSpec';
}

function positiveInteger(value: unknown): string | undefined {
  return Number.isSafeInteger(value) && (value as number) >= 1 ? undefined : `expected a whole number >= 1, got ${JSON.stringify(value)}`;
}
