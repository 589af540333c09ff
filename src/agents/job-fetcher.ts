// The job fetcher (harvester's job_fetcher agent): asks the job source for jobs for each queue that runs jobs
// (mapType other than NoJob), as many as the queue has room for (nQueueLimitJob minus its jobs not yet
// submitted, at most jobfetcher.maxJobs per cycle), and records them as 'starting'/'fetched' for the
// preparator. A job the store already holds is skipped: an embedded source hands a job out again when the
// process that fetched it died before it knew the source had done so.
import type { QueueConfig } from '../config/index.js';
import type { Logger } from '../logging/index.js';
import { JobSourceError } from '../communicator/index.js';
import type { JobSpec } from '../spec/index.js';
import { StoreDuplicateError } from '../store/index.js';
import type { Agent, CycleReport } from './agent-loop.js';
import { Tally } from './claimed-rows.js';
import type { AgentEnvironment } from './environment.js';

/** Sub-statuses of a queue's jobs that still wait for a worker: they count against nQueueLimitJob. */
export const waitingSubStatuses = ['fetched', 'preparing', 'prepared'] as const;

const counted = ['fetched', 'duplicates', 'errors'] as const;
type Counted = (typeof counted)[number];

export class JobFetcher implements Agent {
  readonly name = 'jobfetcher';
  readonly #env: AgentEnvironment;
  readonly #log: Logger;

  constructor(env: AgentEnvironment) {
    this.#env = env;
    this.#log = env.log.child({ agent: 'jobfetcher' });
  }

  async runCycle(signal: AbortSignal): Promise<CycleReport> {
    const tally = new Tally(counted);
    for (const queue of this.#env.queues) {
      if (signal.aborted) break;
      if (queue.mapType === 'NoJob') continue;
      await this.#fetchFor(queue, tally);
    }
    return tally.report();
  }

  async #fetchFor(queue: QueueConfig, tally: Tally<Counted>): Promise<void> {
    const log = this.#log.child({ queue: queue.queueName });
    const waiting = await this.#env.store.listJobs({ queueName: queue.queueName, subStatus: waitingSubStatuses, limit: queue.nQueueLimitJob });
    const nJobs = Math.min(this.#env.settings.jobfetcher.maxJobs, queue.nQueueLimitJob - waiting.length);
    if (nJobs <= 0) {
      log.debug({ waiting: waiting.length, nQueueLimitJob: queue.nQueueLimitJob }, 'the queue has enough jobs; none fetched');
      return;
    }
    let jobs: JobSpec[];
    try {
      jobs = await this.#env.jobSource.getJobs({
        siteName: queue.siteName,
        queueName: queue.queueName,
        nodeName: this.#env.instance,
        prodSourceLabel: queue.prodSourceLabel,
        computingElement: queue.queueName,
        nJobs,
        ddmEndpointIn: ddmEndpointInOf(queue),
      });
    } catch (error) {
      // The source is down or refused: nothing was handed out, the next cycle asks again.
      const known = error instanceof JobSourceError;
      log[known ? 'warn' : 'error']({ err: error, nJobs, source: this.#env.jobSource.description }, 'getting jobs failed; asked again next cycle');
      tally.add('errors');
      return;
    }
    if (jobs.length === 0) {
      log.debug({ nJobs }, 'no jobs from the source');
      return;
    }
    if (jobs.length > nJobs) {
      // Kept all the same: the source has handed them out to us, dropping them would lose them.
      log.warn({ nJobs, got: jobs.length }, 'the source handed out more jobs than asked for; all are kept');
    }
    const now = this.#env.now();
    for (const job of jobs) {
      job.computingSite = queue.queueName;
      job.status = 'starting';
      job.subStatus = 'fetched';
      job.creationTime = now;
      job.modificationTime = now;
      job.stateChangeTime = now;
      // PanDA learns at once that harvester has the job ("starting").
      job.triggerPropagation(now);
    }
    const inserted = await this.#insertNew(jobs, log);
    tally.add('fetched', inserted.length);
    tally.add('duplicates', jobs.length - inserted.length);
    log.info({ PandaIDs: inserted.map((j) => j.PandaID), nJobs }, `fetched ${inserted.length} jobs`);
  }

  /** Inserts the jobs the store does not hold yet (and each PandaID once); returns those inserted. */
  async #insertNew(jobs: readonly JobSpec[], log: Logger): Promise<JobSpec[]> {
    const seen = new Set<number>();
    let pending = jobs.filter((job) => job.PandaID === null || (seen.has(job.PandaID) ? false : (seen.add(job.PandaID), true)));
    if (pending.length < jobs.length) log.warn({ repeated: jobs.length - pending.length }, 'the source handed out the same PandaID twice in one answer; inserted once');
    while (pending.length > 0) {
      try {
        await this.#env.store.insertJobs(pending);
        return pending;
      } catch (error) {
        if (!(error instanceof StoreDuplicateError)) throw error;
        const present = new Set(error.ids);
        const rest = pending.filter((job) => job.PandaID === null || !present.has(job.PandaID));
        if (rest.length === pending.length) throw error;
        log.warn({ PandaIDs: [...present] }, 'jobs handed out again are already in the store; skipped');
        pending = rest;
      }
    }
    return [];
  }
}

/** harvester's queue key ddmEndpointIn (kept among the queue's extra keys), set on the input files. */
function ddmEndpointInOf(queue: QueueConfig): string | null {
  const value = queue.extra['ddmEndpointIn'];
  return typeof value === 'string' ? value : null;
}
