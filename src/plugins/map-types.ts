// How jobs map onto workers (harvester's WorkSpec.MT_* map types), as pure functions: how many jobs one worker
// takes, how many workers one job gets, and how a list of jobs is cut into one job list per worker. The worker
// maker and the submitter agent share these, so the same queue setting means the same thing in both.
import type { MapType } from '../config/index.js';

/** harvester spells two of the map types differently in WorkSpec (MT_MultiJobs, MT_MultiWorkers). */
const aliases: Readonly<Record<string, MapType>> = {
  NoJob: 'NoJob',
  OneToOne: 'OneToOne',
  ManyToOne: 'ManyToOne',
  MultiJobs: 'ManyToOne',
  OneToMany: 'OneToMany',
  MultiWorkers: 'OneToMany',
};

export class UnknownMapTypeError extends Error {
  constructor(readonly mapType: string) {
    super(`unknown mapType '${mapType}' (known: ${Object.keys(aliases).join(', ')})`);
    this.name = 'UnknownMapTypeError';
  }
}

/** Our name of a map type given either spelling ("MultiJobs" -> "ManyToOne"). */
export function normalizeMapType(mapType: string): MapType {
  const known = aliases[mapType];
  if (known === undefined) throw new UnknownMapTypeError(mapType);
  return known;
}

export interface MapTypeSizes {
  /** Jobs per worker for ManyToOne (harvester's nJobsPerWorker). */
  readonly nJobsPerWorker?: number;
  /** Workers per job for OneToMany (harvester's nWorkersPerJob). */
  readonly nWorkersPerJob?: number;
}

function positive(value: number | undefined, what: string): number {
  const n = value ?? 1;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${what} must be a whole number >= 1, got ${String(value)}`);
  return n;
}

/** How many jobs one worker takes: 0 for NoJob (pilots pull their own), 1 except for ManyToOne. */
export function jobsPerWorker(mapType: MapType, sizes: MapTypeSizes = {}): number {
  switch (mapType) {
    case 'NoJob':
      return 0;
    case 'OneToOne':
    case 'OneToMany':
      return 1;
    case 'ManyToOne':
      return positive(sizes.nJobsPerWorker, 'nJobsPerWorker');
  }
}

/** How many workers one job gets: 0 for NoJob, 1 except for OneToMany. */
export function workersPerJob(mapType: MapType, sizes: MapTypeSizes = {}): number {
  switch (mapType) {
    case 'NoJob':
      return 0;
    case 'OneToOne':
    case 'ManyToOne':
      return 1;
    case 'OneToMany':
      return positive(sizes.nWorkersPerJob, 'nWorkersPerJob');
  }
}

/** How many jobs to fetch to make nWorkers workers (harvester's maxJobs in get_job_chunks_for_workers). */
export function jobsNeededFor(mapType: MapType, nWorkers: number, sizes: MapTypeSizes = {}): number {
  if (mapType === 'NoJob') return 0;
  if (mapType === 'OneToMany') return Math.ceil(nWorkers / workersPerJob(mapType, sizes));
  return nWorkers * jobsPerWorker(mapType, sizes);
}

/** What chunking needs to know about a job. */
export interface ChunkableJob {
  readonly taskID?: number | null;
}

export interface ChunkOptions extends MapTypeSizes {
  /** Put jobs of different tasks in one worker (queue's allowJobMixture); harvester cuts chunks at task changes. */
  readonly allowJobMixture?: boolean;
}

/**
 * Cuts jobs (in priority order) into one job list per worker, at most nWorkers lists, as harvester's
 * get_job_chunks_for_workers does: OneToOne one job each; ManyToOne full chunks of nJobsPerWorker (a partial
 * chunk is left for a later cycle, when more jobs of the task may have arrived); OneToMany the same single job
 * repeated for nWorkersPerJob workers; NoJob no lists (pilots pull their jobs). Jobs left out are not consumed.
 */
export function chunkJobsForWorkers<J extends ChunkableJob>(
  mapType: MapType,
  jobs: readonly J[],
  nWorkers: number,
  options: ChunkOptions = {},
): J[][] {
  const chunks: J[][] = [];
  if (mapType === 'NoJob' || nWorkers <= 0) return chunks;
  const perWorker = jobsPerWorker(mapType, options);
  const perJob = workersPerJob(mapType, options);
  let chunk: J[] = [];
  for (const job of jobs) {
    if (chunks.length >= nWorkers) break;
    const first = chunk[0];
    if (first !== undefined && !options.allowJobMixture && first.taskID !== job.taskID) {
      // A partial chunk of another task: harvester drops it at the task boundary and starts over.
      chunk = [];
    }
    chunk.push(job);
    if (mapType === 'OneToMany') {
      for (let i = 0; i < perJob && chunks.length < nWorkers; i++) chunks.push(chunk);
      chunk = [];
    } else if (chunk.length >= perWorker) {
      chunks.push(chunk);
      chunk = [];
    }
  }
  return chunks;
}
