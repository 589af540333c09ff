// PanDA server API v1 (pandaserver/api/v1/*_api.py, harvester's panda_communicator since 2025): functions at
// <base>/<module>/<function>, each with the HTTP method it declares; POST parameters as a JSON body, GET ones in
// the query string; snake_case parameter names; every answer in the {success, message, data} envelope.
import { AnswerProblem, defined, isRecord, type ApiFunction, type JobAnswer, type PandaDialect } from './panda-api.js';
import { v1JobReport } from './job-report.js';

const post = (path: string): ApiFunction => ({ name: path, path, httpMethod: 'POST', encoding: 'json' });
const get = (path: string): ApiFunction => ({ name: path, path, httpMethod: 'GET', encoding: 'query' });

interface Envelope {
  readonly success: boolean;
  readonly message: string;
  readonly data: unknown;
}

function envelope(body: unknown): Envelope {
  if (!isRecord(body) || typeof body['success'] !== 'boolean') throw new AnswerProblem('malformed', 'not a {success, message, data} answer');
  const message = body['message'];
  return { success: body['success'], message: typeof message === 'string' ? message : JSON.stringify(message ?? ''), data: body['data'] };
}

/** The data of a successful answer; the server's message as a refusal otherwise. */
function dataOf(body: unknown): unknown {
  const answer = envelope(body);
  if (!answer.success) throw new AnswerProblem('refused', answer.message);
  return answer.data;
}

function listOf(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw new AnswerProblem('malformed', `${what} is not a list`);
  return value;
}

const nothing = (body: unknown): void => {
  dataOf(body);
};

/** One entry of update_jobs_bulk's data: update_job's own envelope around {StatusCode, command, ErrorDiag}. */
function jobAnswer(entry: unknown): JobAnswer {
  if (!isRecord(entry)) return { problem: 'unreadable result' };
  const data = entry['data'];
  const message = typeof entry['message'] === 'string' && entry['message'] !== '' ? entry['message'] : null;
  // As harvester: the job's data when there is one (a refusal may carry SC_Invalid), else 999 with the message.
  if (!isRecord(data) || typeof data['StatusCode'] !== 'number') return { problem: message ?? 'no result data' };
  const command = typeof data['command'] === 'string' && data['command'] !== 'NULL' ? data['command'] : null;
  const diag = data['ErrorDiag'] ?? message;
  return { statusCode: data['StatusCode'], command, errorDiag: typeof diag === 'string' ? diag : null, response: data };
}

/** acquire_event_ranges' data: the list itself (the server's getEventRanges with accept_json), or as JSON text. */
function eventRangesOf(data: unknown): unknown[] {
  let ranges = isRecord(data) && 'eventRanges' in data ? data['eventRanges'] : data;
  if (typeof ranges === 'string') {
    try {
      ranges = JSON.parse(ranges) as unknown;
    } catch {
      throw new AnswerProblem('malformed', 'the event ranges are not JSON');
    }
  }
  return listOf(ranges, 'the event ranges');
}

export const apiV1: PandaDialect = {
  name: 'v1',
  endpoints: {
    isAlive: {
      fn: get('system/is_alive'),
      idempotent: true,
      json: true,
      encode: () => ({}),
      decode: (body, text) => ({ alive: envelope(body).success, text: text.trim() }),
    },
    getJobs: {
      fn: post('pilot/acquire_jobs'),
      // Not idempotent: a lost answer means jobs the server has dispatched; sending again would take more.
      idempotent: false,
      json: true,
      encode: (a) =>
        defined({
          site_name: a.siteName,
          node: a.nodeName,
          prod_source_label: a.prodSourceLabel,
          computing_element: a.computingElement,
          n_jobs: a.nJobs,
          scheduler_id: a.schedulerId,
          resource_type: a.resourceType,
          job_type: a.jobType,
          ...a.additionalCriteria,
        }),
      decode: (body) => {
        const answer = envelope(body);
        if (!answer.success) return { none: answer.message === '' ? 'refused without a message' : answer.message };
        const data = answer.data;
        if (!isRecord(data) || typeof data['StatusCode'] !== 'number') throw new AnswerProblem('malformed', 'data has no StatusCode');
        if (data['StatusCode'] !== 0) {
          const dialog = data['errorDialog'];
          return { none: `StatusCode=${data['StatusCode']}${typeof dialog === 'string' ? `: ${dialog}` : ''}` };
        }
        return { jobs: listOf(data['jobs'], '"jobs"') };
      },
    },
    updateJobs: {
      fn: post('pilot/update_jobs_bulk'),
      idempotent: true,
      json: true,
      encode: (a) => ({ job_list: a.jobs.map(v1JobReport), harvester_id: a.harvesterId }),
      decode: (body) => listOf(dataOf(body), 'data').map(jobAnswer),
    },
    updateWorkers: {
      fn: post('harvester/update_workers'),
      idempotent: true,
      json: true,
      encode: (a) => ({ harvester_id: a.harvesterId, workers: a.workers }),
      decode: (body) => listOf(dataOf(body), 'data'),
    },
    heartbeat: {
      fn: post('harvester/heartbeat'),
      idempotent: true,
      json: true,
      encode: (a) => ({ harvester_id: a.harvesterId, data: a.data }),
      decode: (body) => {
        const answer = envelope(body);
        if (!answer.success) throw new AnswerProblem('refused', answer.message);
        return answer.message === '' ? 'succeeded' : answer.message;
      },
    },
    checkJobs: {
      fn: get('job/get_status'),
      idempotent: true,
      json: true,
      encode: (a) => ({ job_ids: a.pandaIDs }),
      decode: (body) => listOf(dataOf(body), 'data'),
    },
    acquireEventRanges: {
      fn: post('event/acquire_event_ranges'),
      idempotent: false,
      json: true,
      encode: (a) => defined({ job_id: a.pandaID, jobset_id: a.jobsetID, task_id: a.taskID, n_ranges: a.nRanges, scattered: a.scattered ? true : undefined }),
      decode: (body) => eventRangesOf(dataOf(body)),
    },
    updateEventRanges: {
      fn: post('event/update_event_ranges'),
      idempotent: true,
      json: true,
      encode: (a) => ({ event_ranges: JSON.stringify(a.updates), version: 1 }),
      decode: (body) => {
        const data = dataOf(body);
        if (!isRecord(data)) throw new AnswerProblem('malformed', 'data is not an object');
        return { returns: listOf(data['Returns'], '"Returns"'), command: data['Commands'] ?? data['Command'] ?? null };
      },
    },
    acquireCommands: {
      fn: post('harvester/acquire_commands'),
      // The server hands commands out once: a lost answer is not asked again.
      idempotent: false,
      json: true,
      encode: (a) => ({ harvester_id: a.harvesterId, n_commands: a.nCommands }),
      decode: (body) => listOf(dataOf(body) ?? [], 'data'),
    },
    acknowledgeCommands: {
      fn: post('harvester/acknowledge_commands'),
      idempotent: true,
      json: true,
      encode: (a) => ({ command_ids: a.commandIds }),
      decode: nothing,
    },
    reportWorkerStats: {
      fn: post('harvester/report_worker_statistics'),
      idempotent: true,
      json: true,
      encode: (a) => ({ harvester_id: a.harvesterId, panda_queue: a.siteName, statistics: JSON.stringify(a.stats) }),
      decode: nothing,
    },
    updateServiceMetrics: {
      fn: post('harvester/update_service_metrics'),
      idempotent: true,
      json: true,
      encode: (a) => ({ harvester_id: a.harvesterId, metrics: a.metrics }),
      decode: nothing,
    },
    addDialogs: {
      fn: post('harvester/add_dialogs'),
      idempotent: true,
      json: true,
      encode: (a) => ({ harvester_id: a.harvesterId, dialogs: a.dialogs }),
      decode: nothing,
    },
  },
};
