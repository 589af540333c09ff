// The embedded job source: jobs come from the job queue in the store (`harvester jobs add`), not from a PanDA
// server. The store already holds every job's state, so reports are answered "taken" without going anywhere.
//
// Crash safety comes from the store: getJobs only marks entries as taken; an entry leaves the queue when
// insertJobs stores its job, and one taken but never stored is handed out again after the lock interval.
import type {
  EventRangeRequest,
  EventRangesResult,
  EventRangesUpdateResult,
  EventRangeUpdate,
  GetJobsRequest,
  JobSource,
  JobUpdateResult,
  SourceStatus,
  WorkerUpdateResult,
} from '../communicator/index.js';
import { JobSourceError } from '../communicator/index.js';
import type { Logger } from '../logging/index.js';
import { JobSpec, type WorkSpec } from '../spec/index.js';
import type { QueuedJob, Store } from '../store/index.js';

export interface EmbeddedJobSourceOptions {
  readonly store: Store;
  readonly log: Logger;
  /** How long an entry handed out to a fetcher is withheld from others before it counts as lost; default 600 s. */
  readonly lockIntervalSec?: number;
  /** The clock (tests move it instead of sleeping); default: the current time. */
  readonly now?: () => Date;
}

export const DEFAULT_EMBEDDED_LOCK_INTERVAL_SEC = 600;

export class EmbeddedJobSource implements JobSource {
  readonly description = 'embedded job queue';
  readonly #store: Store;
  readonly #log: Logger;
  readonly #lockIntervalSec: number;
  readonly #now: () => Date;

  constructor(opts: EmbeddedJobSourceOptions) {
    this.#store = opts.store;
    this.#log = opts.log.child({ component: 'embedded-job-source' });
    this.#lockIntervalSec = opts.lockIntervalSec ?? DEFAULT_EMBEDDED_LOCK_INTERVAL_SEC;
    this.#now = opts.now ?? (() => new Date());
  }

  /** Takes up to nJobs entries of the request's queue and gives them as new jobs (starting/fetched). */
  async getJobs(request: GetJobsRequest): Promise<JobSpec[]> {
    const queueName = request.queueName ?? request.siteName;
    // Nothing asked for: no store call (the store refuses a limit below 1).
    if (request.nJobs < 1) return [];
    const now = this.#now();
    let taken: QueuedJob[];
    try {
      taken = await this.#store.takeQueuedJobs({ queueName, limit: request.nJobs, owner: request.nodeName, lockIntervalSec: this.#lockIntervalSec, now });
    } catch (error) {
      throw new JobSourceError('getJobs', `embedded job queue: taking up to ${request.nJobs} jobs of queue ${queueName} for ${request.nodeName} failed: ${(error as Error).message}`, { cause: error });
    }
    if (taken.length > 0) this.#log.debug({ queueName, node: request.nodeName, PandaIDs: taken.map((q) => q.PandaID) }, 'jobs taken from the embedded queue');
    return taken.map((entry) => jobSpecOf(entry, now));
  }

  async updateJobs(jobSpecs: readonly JobSpec[]): Promise<JobUpdateResult[]> {
    return jobSpecs.map((job) => ({ PandaID: job.PandaID, StatusCode: 0, ok: true, command: null, errorDiag: null, response: { StatusCode: 0 } }));
  }

  async updateWorkers(workSpecs: readonly WorkSpec[]): Promise<WorkerUpdateResult[]> {
    return workSpecs.map((worker) => ({ workerID: worker.workerID, ok: true }));
  }

  /** Embedded jobs have no event service: every job gets no ranges, which is not an error. */
  async getEventRanges(requests: readonly EventRangeRequest[]): Promise<EventRangesResult[]> {
    return requests.map((r) => ({ pandaID: r.pandaID, eventRanges: [], error: null }));
  }

  async updateEventRanges(updates: readonly EventRangeUpdate[]): Promise<EventRangesUpdateResult> {
    return { returns: updates.flatMap((u) => u.eventRanges.map(() => true)), command: null };
  }

  async isAlive(_keyValues: Readonly<Record<string, unknown>>): Promise<string> {
    return 'OK';
  }

  async checkPanda(): Promise<SourceStatus> {
    return { alive: true, httpStatus: 200, text: this.description };
  }

  async close(): Promise<void> {
    // Nothing held: the store belongs to the caller.
  }
}

/**
 * A queue entry as a fetched job, the way a PanDA job is made into one (status starting/fetched,
 * stateChangeTime now, propagation triggered), so the agents cannot tell the sources apart.
 */
function jobSpecOf(entry: QueuedJob, now: Date): JobSpec {
  const job = new JobSpec({
    PandaID: entry.PandaID,
    taskID: entry.taskID,
    currentPriority: entry.currentPriority,
    nCore: entry.nCore,
    jobParams: { ...entry.jobParams },
    computingSite: entry.queueName,
    status: 'starting',
    subStatus: 'fetched',
    creationTime: entry.creationTime,
    stateChangeTime: now,
  });
  job.triggerPropagation(now);
  return job;
}
