// A worker's jobs take the state its status implies (harvester's convert_to_job_status), as the submitter,
// the monitor and the sweeper change workers. A job already final (e.g. shared with another worker that
// ended first) keeps its state. A job run by several workers (OneToMany, harvester's MultiWorkers) follows
// all of them, as harvester's update_job_attributes_with_workers does, not whichever changed last.
import { finalWorkerStatuses, type JobSpec, type JobStatus, type JobSubStatus, type WorkerStatus, type WorkSpec } from '../spec/index.js';
import type { Store } from '../store/index.js';

/** Sets the status and sub-status of the worker's jobs from the worker's status; returns the jobs changed. */
export function jobsFollowWorker(worker: WorkSpec, now: Date): number {
  const state = jobStateOf(worker, worker.status);
  let changed = 0;
  for (const job of worker.jobSpecs) if (moveJob(job, state, now)) changed++;
  return changed;
}

/**
 * After a cycle changed the status of `changed` (a subset of the claimed `claimed`): the jobs of each follow.
 * A job of a OneToMany worker follows all the workers it has, read from the store where they were not claimed.
 */
export async function jobsFollowWorkers(changed: readonly WorkSpec[], claimed: readonly WorkSpec[], store: Pick<Store, 'getWorkerIDsOfJob' | 'listWorkers'>, now: Date): Promise<void> {
  const shared = new Map<JobSpec, WorkSpec>();
  for (const worker of changed) {
    if (worker.mapType !== 'OneToMany') jobsFollowWorker(worker, now);
    else for (const job of worker.jobSpecs) shared.set(job, worker);
  }
  if (shared.size === 0) return;
  const claimedByID = new Map(claimed.map((w) => [w.workerID, w]));
  const open = [...shared].filter(([job]) => !job.isFinalStatus());
  const workerIDs = new Map<JobSpec, number[]>();
  for (const [job] of open) workerIDs.set(job, await store.getWorkerIDsOfJob(job.PandaID as number));
  // The workers not claimed this cycle, read once for all the jobs.
  const unclaimed = [...new Set([...workerIDs.values()].flat())].filter((id) => !claimedByID.has(id));
  const stored = new Map((unclaimed.length === 0 ? [] : await store.listWorkers({ workerIDs: unclaimed })).map((w) => [w.workerID, w.status]));
  for (const [job, worker] of open) {
    const statuses = workerIDs.get(job)!.map((id) => claimedByID.get(id)?.status ?? stored.get(id) ?? null).filter((s): s is WorkerStatus => s !== null);
    moveJob(job, jobStateOf(worker, multiWorkerJobStatus(statuses, job.status === 'running')), now);
  }
}

/**
 * The worker status a job of several workers takes: while one is alive, running (once any ran) or submitted;
 * when all are done, finished if one finished, else failed if one failed, else cancelled.
 */
export function multiWorkerJobStatus(statuses: readonly WorkerStatus[], jobRan: boolean): WorkerStatus {
  if (statuses.every((s) => finalWorkerStatuses.includes(s))) {
    return statuses.includes('finished') ? 'finished' : statuses.includes('failed') ? 'failed' : 'cancelled';
  }
  return statuses.includes('running') || jobRan ? 'running' : 'submitted';
}

/** The job status and sub-status a worker status implies (harvester's convert_to_job_status). */
function jobStateOf(worker: WorkSpec, status: WorkerStatus | null): [JobStatus, JobSubStatus] {
  return worker.convertToJobStatus(status) as [JobStatus, JobSubStatus];
}

function moveJob(job: JobSpec, [status, subStatus]: [JobStatus, JobSubStatus], now: Date): boolean {
  if (job.isFinalStatus()) return false;
  if (job.status === status && job.subStatus === subStatus) return false;
  job.status = status;
  job.subStatus = subStatus;
  if (status === 'running') job.setStartTime(false, now);
  if (job.isFinalStatus()) job.setEndTime(false, now);
  job.triggerPropagation(now);
  return true;
}
