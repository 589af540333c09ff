// SLURM job states (squeue %T, sacct State; SLURM 22.05) and the worker status each means, next to what
// harvester's SLURM monitors answer for it. Where we differ, `why` says so:
// - TIMEOUT and PREEMPTED: harvester says finished; for a payload run inside the job, being killed at the
//   walltime or by preemption is not finishing, so we say failed (the job goes to a new worker).
// - REQUEUED, REQUEUE_HOLD, REQUEUE_FED, RESV_DEL_HOLD: harvester says failed (not in its lists); the job
//   is back in the queue and runs again, so we say submitted.
// - SIGNALING, STAGE_OUT, RESIZING: harvester says failed; the job is alive, so we say running.
// - REVOKED (federation: a sibling cluster runs the job): harvester says failed; we say cancelled here.
import type { WorkerStatus } from '../../../spec/index.js';

export interface SlurmStateMeaning {
  readonly status: WorkerStatus;
  /** The job is over: its exit code and end time are final. */
  readonly ended: boolean;
  /** What harvester's slurm monitors answer for the state. */
  readonly harvester: WorkerStatus;
  readonly why?: string;
}

const pending = (harvester: WorkerStatus = 'submitted', why?: string): SlurmStateMeaning => ({ status: 'submitted', ended: false, harvester, ...(why === undefined ? {} : { why }) });
const alive = (harvester: WorkerStatus = 'running', why?: string): SlurmStateMeaning => ({ status: 'running', ended: false, harvester, ...(why === undefined ? {} : { why }) });
const over = (status: WorkerStatus, harvester: WorkerStatus, why?: string): SlurmStateMeaning => ({ status, ended: true, harvester, ...(why === undefined ? {} : { why }) });

const requeued = 'the job is queued again and will run again';
const busy = 'the job is alive (being signalled, staging out or resized)';

export const slurmStates: Readonly<Record<string, SlurmStateMeaning>> = Object.freeze({
  PENDING: pending(),
  CONFIGURING: pending(),
  REQUEUED: pending('failed', requeued),
  REQUEUE_HOLD: pending('failed', requeued),
  REQUEUE_FED: pending('failed', requeued),
  RESV_DEL_HOLD: pending('failed', 'held after its reservation was deleted; it runs once released'),
  RUNNING: alive(),
  COMPLETING: alive(),
  SUSPENDED: alive(),
  STOPPED: alive(),
  SIGNALING: alive('failed', busy),
  STAGE_OUT: alive('failed', busy),
  RESIZING: alive('failed', busy),
  COMPLETED: over('finished', 'finished'),
  FAILED: over('failed', 'failed'),
  TIMEOUT: over('failed', 'finished', 'killed at its time limit: the payload did not finish'),
  PREEMPTED: over('failed', 'finished', 'killed by preemption: the payload did not finish'),
  NODE_FAIL: over('failed', 'failed'),
  BOOT_FAIL: over('failed', 'failed'),
  OUT_OF_MEMORY: over('failed', 'failed'),
  DEADLINE: over('failed', 'failed'),
  SPECIAL_EXIT: over('failed', 'failed'),
  CANCELLED: over('cancelled', 'cancelled'),
  REVOKED: over('cancelled', 'failed', 'another cluster of the federation runs the job'),
});

/** The meaning of a (base) state; undefined for a state this table does not know (the caller keeps the worker as it is). */
export function slurmStateMeaning(state: string): SlurmStateMeaning | undefined {
  return Object.hasOwn(slurmStates, state) ? slurmStates[state] : undefined;
}
