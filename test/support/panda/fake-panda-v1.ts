// The fake server's API v1 functions: each takes the parameters request_validation bound (panda-v1-
// signatures.ts) and answers in the server's {success, message, data} envelope with the data shapes of
// pandaserver/api/v1/*_api.py.
import type { FakePandaState } from './fake-panda-state.js';
import { bindParameters, updateJobSignature } from './panda-v1-signatures.js';

export interface Envelope {
  readonly success: boolean;
  readonly message: string;
  readonly data: unknown;
}

export const respond = (success: boolean, message = '', data: unknown = null): Envelope => ({ success, message, data });

type Handler = (params: Record<string, unknown>, state: FakePandaState) => Envelope;

/** pilot/update_job (jobdispatcher Protocol: SC_Success 0, SC_Failed 30, SC_Invalid 50). */
const VALID_JOB_STATES = ['running', 'failed', 'finished', 'holding', 'starting', 'transferring'];
function updateJob(job: Record<string, unknown>, state: FakePandaState): Envelope {
  // update_jobs_bulk calls update_job through its request_validation: a bad key refuses that job alone.
  const bound = bindParameters(updateJobSignature, job, 'POST');
  if ('error' in bound) return respond(false, bound.error);
  const status = String(bound.params['job_status']);
  if (!VALID_JOB_STATES.includes(status)) return respond(false, `Invalid job status: ${status}`, { StatusCode: 50 });
  const command = state.updateJob(Number(bound.params['job_id']), bound.params);
  if (command === null) return respond(true, 'Database error', { StatusCode: 30 });
  return respond(true, '', { StatusCode: 0, command });
}

function jsonOf(text: unknown): unknown {
  return JSON.parse(String(text)) as unknown;
}

export const v1Handlers: Readonly<Record<string, Handler>> = {
  'system/is_alive': () => respond(true),
  'pilot/acquire_jobs': (p, state) => {
    const jobs = state.takeJobs(String(p['site_name']), Number(p['n_jobs'] ?? 1));
    if (jobs.length === 0) return respond(false, 'No jobs in PanDA');
    const list = jobs.map((job) => ({ StatusCode: 0, ...job, nSent: 0 }));
    return respond(true, '', p['n_jobs'] === undefined || p['n_jobs'] === null ? list[0] : { StatusCode: 0, jobs: list });
  },
  'pilot/update_jobs_bulk': (p, state) => respond(true, '', (p['job_list'] as Record<string, unknown>[]).map((job) => updateJob({ ...job }, state))),
  'pilot/update_job': (p, state) => updateJob(p, state),
  'harvester/update_workers': (p, state) => respond(true, '', state.updateWorkers(p['workers'] as Record<string, unknown>[])),
  'harvester/heartbeat': (p, state) => {
    state.heartbeats.push({ harvesterID: String(p['harvester_id']), data: (p['data'] ?? {}) as Record<string, unknown> });
    return respond(true);
  },
  'harvester/report_worker_statistics': (p, state) => {
    state.workerStats.set(String(p['panda_queue']), jsonOf(p['statistics']));
    return respond(true, 'OK');
  },
  'harvester/update_service_metrics': (p, state) => {
    state.serviceMetrics.push(...(p['metrics'] as unknown[]));
    return respond(true, '', true);
  },
  'harvester/add_dialogs': (p, state) => {
    state.dialogs.push(...(p['dialogs'] as unknown[]));
    return respond(true);
  },
  'harvester/acquire_commands': (p, state) => respond(true, '', state.takeCommands(Number(p['n_commands']))),
  'harvester/acknowledge_commands': (p, state) => {
    state.acknowledgeCommands(p['command_ids'] as number[]);
    return respond(true);
  },
  'job/get_status': (p, state) =>
    respond(true, '', (p['job_ids'] as unknown[]).map((id) => ({ job_id: Number(id), status: state.jobStatus(Number(id)) ?? 'unknown', command: null }))),
  'event/acquire_event_ranges': (p, state) => respond(true, '', state.takeEventRanges(Number(p['job_id']), Number(p['n_ranges'] ?? 10))),
  'event/update_event_ranges': (p, state) => {
    const returns = state.updateEvents(jsonOf(p['event_ranges']) as { eventRanges: Record<string, unknown>[] }[]);
    return respond(true, '', { Returns: returns, Commands: {} });
  },
};
