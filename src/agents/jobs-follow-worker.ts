// A worker's jobs take the state its status implies (harvester's convert_to_job_status), as the submitter,
// the monitor and the sweeper change workers. A job already final (e.g. shared with another worker that
// ended first) keeps its state.
import type { JobStatus, JobSubStatus, WorkSpec } from '../spec/index.js';

/** Sets the status and sub-status of the worker's jobs from the worker's status; returns the jobs changed. */
export function jobsFollowWorker(worker: WorkSpec, now: Date): number {
  const [status, subStatus] = worker.convertToJobStatus() as [JobStatus, JobSubStatus];
  let changed = 0;
  for (const job of worker.jobSpecs) {
    if (job.isFinalStatus()) continue;
    if (job.status === status && job.subStatus === subStatus) continue;
    job.status = status;
    job.subStatus = subStatus;
    if (status === 'running') job.setStartTime(false, now);
    if (job.isFinalStatus()) job.setEndTime(false, now);
    job.triggerPropagation(now);
    changed++;
  }
  return changed;
}
