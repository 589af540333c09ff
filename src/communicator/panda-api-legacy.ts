// PanDA's legacy API, for servers before 1.0 (pandacon.api: "legacy"): form-encoded POSTs to <pandaURLSSL>/<method>
// with camelCase names, answered in JobDispatcher's {StatusCode, ...} or the harvester API's [ok, payload] pair.
// Server 1.0 refuses these methods with "403 ... is forbidden".
import { AnswerProblem, defined, isRecord, type ApiFunction, type JobAnswer, type PandaDialect } from './panda-api.js';

/** PanDA's StatusCode for "no jobs": an empty answer, not a failure. */
const SC_NO_JOBS = 20;

const form = (method: string): ApiFunction => ({ name: method, path: method, httpMethod: 'POST', encoding: 'form' });

function statusOf(body: unknown): { status: number; body: Record<string, unknown> } {
  if (!isRecord(body)) throw new AnswerProblem('malformed', 'not a JSON object');
  const raw = body['StatusCode'];
  const status = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
  if (typeof status !== 'number') throw new AnswerProblem('malformed', 'no StatusCode');
  return { status, body };
}

/** A JobDispatcher answer with StatusCode 0, or its refusal. */
function succeeded(answer: unknown): Record<string, unknown> {
  const { status, body } = statusOf(answer);
  if (status !== 0) {
    const dialog = body['errorDialog'] ?? body['ErrorDiag'];
    throw new AnswerProblem('refused', typeof dialog === 'string' ? dialog : '', status);
  }
  return body;
}

/** The harvester API's (ok, payload) pair: the payload when ok, a refusal when not. */
function okPair(body: unknown): unknown {
  if (!Array.isArray(body) || body.length !== 2 || typeof body[0] !== 'boolean') throw new AnswerProblem('malformed', 'not a [status, payload] pair');
  if (!body[0]) throw new AnswerProblem('refused', String(body[1]));
  return body[1];
}

function listOf(value: unknown, what: string): unknown[] {
  let list = value;
  // Without acceptJson the server sends lists as JSON text.
  if (typeof list === 'string') {
    try {
      list = JSON.parse(list) as unknown;
    } catch {
      throw new AnswerProblem('malformed', `${what} is not JSON`);
    }
  }
  if (!Array.isArray(list)) throw new AnswerProblem('malformed', `${what} is not a list`);
  return list;
}

/** One entry of updateJobsInBulk: {"type": "json", "content": "<json>"} (or the content itself). */
function jobAnswer(entry: unknown): JobAnswer {
  let response: unknown = isRecord(entry) && 'content' in entry ? entry['content'] : entry;
  if (typeof response === 'string') {
    try {
      response = JSON.parse(response);
    } catch {
      response = undefined;
    }
  }
  if (!isRecord(response) || typeof response['StatusCode'] !== 'number') return { problem: 'failed to load json' };
  const command = typeof response['command'] === 'string' && response['command'] !== 'NULL' ? response['command'] : null;
  const diag = response['ErrorDiag'] ?? response['errorDialog'];
  return { statusCode: response['StatusCode'], command, errorDiag: typeof diag === 'string' ? diag : null, response };
}

const nothing = (body: unknown): void => {
  okPair(body);
};

export const apiLegacy: PandaDialect = {
  name: 'legacy',
  endpoints: {
    isAlive: {
      fn: form('isAlive'),
      idempotent: true,
      json: false,
      encode: () => ({}),
      decode: (_body, text) => ({ alive: /alive=yes/.test(text), text: text.trim() }),
    },
    getJobs: {
      fn: form('getJob'),
      idempotent: false,
      json: true,
      encode: (a) =>
        defined({
          siteName: a.siteName,
          node: a.nodeName,
          prodSourceLabel: a.prodSourceLabel,
          computingElement: a.computingElement,
          nJobs: a.nJobs,
          schedulerID: a.schedulerId,
          resourceType: a.resourceType,
          jobType: a.jobType,
          ...a.additionalCriteria,
        }),
      decode: (body) => {
        if (statusOf(body).status === SC_NO_JOBS) return { none: 'no jobs in PanDA' };
        return { jobs: listOf(succeeded(body)['jobs'], '"jobs"') };
      },
    },
    updateJobs: {
      fn: form('updateJobsInBulk'),
      idempotent: true,
      json: true,
      encode: (a) => ({ jobList: JSON.stringify(a.jobs), harvester_id: a.harvesterId }),
      decode: (body) => listOf(okPair(body), 'the second element').map(jobAnswer),
    },
    updateWorkers: {
      fn: form('updateWorkers'),
      idempotent: true,
      json: true,
      encode: (a) => ({ harvesterID: a.harvesterId, workers: JSON.stringify(a.workers) }),
      decode: (body) => listOf(okPair(body), 'the second element'),
    },
    heartbeat: {
      fn: form('harvesterIsAlive'),
      idempotent: true,
      json: true,
      encode: (a) => ({ harvesterID: a.harvesterId, data: JSON.stringify(a.data) }),
      decode: (body) => {
        const message = okPair(body);
        return typeof message === 'string' ? message : JSON.stringify(message ?? null);
      },
    },
    checkJobs: {
      fn: form('checkJobStatus'),
      idempotent: true,
      json: true,
      encode: (a) => ({ ids: a.pandaIDs.join(',') }),
      decode: (body) => listOf(isRecord(body) ? body['data'] : undefined, '"data"'),
    },
    acquireEventRanges: {
      fn: form('getEventRanges'),
      idempotent: false,
      json: true,
      encode: (a) => defined({ pandaID: a.pandaID, jobsetID: a.jobsetID, taskID: a.taskID, nRanges: a.nRanges, scattered: a.scattered ? true : undefined }),
      decode: (body) => listOf(succeeded(body)['eventRanges'], '"eventRanges"'),
    },
    updateEventRanges: {
      fn: form('updateEventRanges'),
      idempotent: true,
      json: true,
      encode: (a) => ({ eventRanges: JSON.stringify(a.updates), version: 1 }),
      decode: (body) => {
        const answer = succeeded(body);
        return { returns: listOf(answer['Returns'], '"Returns"'), command: answer['Command'] ?? null };
      },
    },
    acquireCommands: {
      fn: form('getCommands'),
      idempotent: false,
      json: true,
      encode: (a) => ({ harvester_id: a.harvesterId, n_commands: a.nCommands }),
      decode: (body) => listOf(succeeded(body)['Commands'] ?? [], '"Commands"'),
    },
    acknowledgeCommands: {
      fn: form('ackCommands'),
      idempotent: true,
      json: true,
      encode: (a) => ({ command_ids: JSON.stringify(a.commandIds) }),
      decode: (body) => {
        succeeded(body);
      },
    },
    reportWorkerStats: {
      fn: form('reportWorkerStats_jobtype'),
      idempotent: true,
      json: true,
      encode: (a) => ({ harvesterID: a.harvesterId, siteName: a.siteName, paramsList: JSON.stringify(a.stats) }),
      decode: nothing,
    },
    updateServiceMetrics: {
      fn: form('updateServiceMetrics'),
      idempotent: true,
      json: true,
      encode: (a) => ({ harvesterID: a.harvesterId, metrics: JSON.stringify(a.metrics) }),
      decode: nothing,
    },
    addDialogs: {
      fn: form('addHarvesterDialogs'),
      idempotent: true,
      json: true,
      encode: (a) => ({ harvesterID: a.harvesterId, dialogs: JSON.stringify(a.dialogs) }),
      decode: nothing,
    },
  },
};
