// How many new workers the submitter makes for a queue this cycle (harvester's WorkerAdjuster, simplified):
// room under the queue's limits, the per-cycle caps, nothing while throttled, and for queues that run jobs
// no more workers than the prepared jobs can fill. A pure function: the agent gathers the inputs.
import type { QueueConfig } from '../config/index.js';
import { jobsPerWorker, workersPerJob, type MapTypeSizes } from '../plugins/index.js';
import type { WorkerCounts } from '../store/index.js';

/** Statuses harvester counts as "queued" against nQueueLimitWorker: made or submitted but not yet running. */
export const queuedWorkerStatuses = ['submitted', 'ready', 'pending'] as const;
/** Statuses that count against maxWorkers: queued, or running on the resource. */
export const liveWorkerStatuses = [...queuedWorkerStatuses, 'running', 'idle'] as const;

export interface WorkerAdjusterInput {
  readonly queue: Pick<QueueConfig, 'nQueueLimitWorker' | 'maxWorkers' | 'maxNewWorkersPerCycle' | 'mapType'>;
  /** settings.submitter.maxNewWorkers. */
  readonly maxNewWorkers: number;
  /** The queue's workers by status (store.getWorkerStats). */
  readonly counts: WorkerCounts;
  /** The queue's throttler said succeeded(true). */
  readonly throttled?: boolean;
  /** Prepared jobs available; undefined = not bounded by jobs (not counted yet, or a NoJob queue). */
  readonly preparedJobs?: number;
  /** Jobs per worker / workers per job of the queue's worker maker. */
  readonly sizes?: MapTypeSizes;
}

/** Which bound decided the number (for the agent's log). */
export type WorkerLimit = 'throttled' | 'nQueueLimitWorker' | 'maxWorkers' | 'maxNewWorkersPerCycle' | 'maxNewWorkers' | 'preparedJobs';

export interface WorkerAdjustment {
  readonly nNewWorkers: number;
  readonly limitedBy: WorkerLimit;
  readonly queued: number;
  readonly live: number;
}

function sum(counts: WorkerCounts, statuses: readonly string[]): number {
  return statuses.reduce((n, status) => n + (counts[status] ?? 0), 0);
}

/** How many workers n prepared jobs can fill: whole chunks for ManyToOne, nWorkersPerJob each for OneToMany. */
export function workersForJobs(mapType: QueueConfig['mapType'], nJobs: number, sizes: MapTypeSizes = {}): number {
  switch (mapType) {
    case 'NoJob':
      return Number.POSITIVE_INFINITY;
    case 'OneToOne':
      return nJobs;
    case 'ManyToOne':
      return Math.floor(nJobs / jobsPerWorker(mapType, sizes));
    case 'OneToMany':
      return nJobs * workersPerJob(mapType, sizes);
  }
}

/**
 * n = max(0, min(nQueueLimitWorker - queued, maxWorkers - live, maxNewWorkersPerCycle, maxNewWorkers[, what
 * the prepared jobs fill])), 0 when throttled. maxNewWorkersPerCycle 0 means "no per-cycle cap", as in
 * harvester's queue configuration.
 */
export function adjustWorkers(input: WorkerAdjusterInput): WorkerAdjustment {
  const queued = sum(input.counts, queuedWorkerStatuses);
  const live = sum(input.counts, liveWorkerStatuses);
  if (input.throttled === true) return { nNewWorkers: 0, limitedBy: 'throttled', queued, live };
  const bounds: [WorkerLimit, number][] = [
    ['nQueueLimitWorker', input.queue.nQueueLimitWorker - queued],
    ['maxWorkers', input.queue.maxWorkers - live],
    ['maxNewWorkers', input.maxNewWorkers],
  ];
  if (input.queue.maxNewWorkersPerCycle > 0) bounds.push(['maxNewWorkersPerCycle', input.queue.maxNewWorkersPerCycle]);
  if (input.preparedJobs !== undefined && input.queue.mapType !== 'NoJob') {
    bounds.push(['preparedJobs', workersForJobs(input.queue.mapType, input.preparedJobs, input.sizes)]);
  }
  let [limitedBy, n] = bounds[0]!;
  for (const [name, bound] of bounds.slice(1)) {
    if (bound < n) [limitedBy, n] = [name, bound];
  }
  return { nNewWorkers: Math.max(0, n), limitedBy, queued, live };
}
