// The PanDA server as a job source: harvester's PandaCommunicator (get_jobs, update_jobs, update_workers,
// get/update_event_ranges, is_alive, check_panda, get/ack_commands) over HTTP(S), with the request and answer
// formats of PanDA's JobDispatcher and harvester API. Every failure of a call is a typed error; per-item
// outcomes (one job refused, one worker not updated) are results.
import type { JobSpec, WorkSpec } from '../spec/index.js';
import { createLogger, processSecrets, type Logger, type SecretRegistry } from '../logging/index.js';
import type { PandaConfig } from './config.js';
import { BearerToken, TlsCredentials } from './credentials.js';
import { displayUrl, PandaResponseError, PandaServerError, type PandaCommunicatorError } from './errors.js';
import { excerpt, PandaTransport, type FormValue, type PostAnswer } from './http-transport.js';
import { JobConversionError, jobSpecFromPanda } from './job-conversion.js';
import { eventUpdateData, jobUpdateData } from './job-report.js';
import {
  JobSourceError,
  type EventRange,
  type EventRangeRequest,
  type EventRangesResult,
  type EventRangesUpdateResult,
  type EventRangeUpdate,
  type GetJobsRequest,
  type JobSource,
  type JobUpdateResult,
  type SourceStatus,
  type WorkerUpdateResult,
} from './job-source.js';

/** PanDA's StatusCode for "no jobs": an empty answer, not a failure. */
const SC_NO_JOBS = 20;
/** harvester's StatusCode for an answer it could not read. */
const SC_UNREADABLE = 999;
/** Jobs per updateJobsInBulk request, as in harvester. */
const JOBS_PER_BULK_UPDATE = 100;

export interface PandaClientOptions {
  readonly logger?: Logger;
  /** Where tokens read from files are registered for masking; the process-wide registry by default. */
  readonly secrets?: SecretRegistry;
  /** For tests: how to wait between retries. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** For tests: the clock used for fetched jobs' creation times. */
  readonly now?: () => Date;
  readonly maxResponseBytes?: number;
}

type Json = unknown;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** harvester's 'datetime/%Y-%m-%d %H:%M:%S.%f' for Date values of a heartbeat. */
function heartbeatValue(value: unknown): unknown {
  if (!(value instanceof Date)) return value;
  const iso = value.toISOString();
  return `datetime/${iso.slice(0, 10)} ${iso.slice(11, 23)}000`;
}

export class PandaClient implements JobSource {
  readonly description: string;
  readonly #config: PandaConfig;
  readonly #transport: PandaTransport;
  readonly #logger: Logger;
  readonly #secrets: SecretRegistry;
  readonly #now: () => Date;

  constructor(config: PandaConfig, options: PandaClientOptions = {}) {
    this.#config = config;
    this.#secrets = options.secrets ?? processSecrets;
    this.#logger = (options.logger ?? createLogger({ name: 'harvester' })).child({ component: 'panda-communicator' });
    this.#now = options.now ?? (() => new Date());
    this.description = `panda ${displayUrl(config.pandaURLSSL)}`;
    const token = config.authType === 'oidc' && config.authToken !== undefined ? new BearerToken(config.authToken, this.#secrets) : undefined;
    // harvester sends the client certificate only with x509 authentication (cert=None with a token).
    const tls = new TlsCredentials({
      ...(config.authType === 'x509' && config.certFile !== undefined ? { certFile: config.certFile } : {}),
      ...(config.authType === 'x509' && config.keyFile !== undefined ? { keyFile: config.keyFile } : {}),
      ...(config.caCert === undefined ? {} : { caCert: config.caCert }),
    });
    this.#transport = new PandaTransport({
      baseUrl: config.pandaURLSSL,
      timeoutMs: Math.round(config.timeoutSeconds * 1000),
      maxRetries: config.maxRetries,
      retryBackoffMs: Math.round(config.retryBackoffSeconds * 1000),
      headers: () => {
        if (token === undefined) return {};
        return { Authorization: `Bearer ${token.value()}`, ...(config.authOrigin === undefined ? {} : { Origin: config.authOrigin }) };
      },
      tls: () => tls.material(),
      rejectUnauthorized: !config.insecure,
      secrets: this.#secrets,
      logger: this.#logger,
      verbose: config.verbose,
      ...(options.sleep === undefined ? {} : { sleep: options.sleep }),
      ...(options.maxResponseBytes === undefined ? {} : { maxResponseBytes: options.maxResponseBytes }),
    });
    const url = new URL(config.pandaURLSSL);
    if (config.insecure && url.protocol === 'https:') {
      this.#logger.warn({ url: displayUrl(url) }, 'INSECURE: the PanDA server certificate is NOT verified (pandacon insecure/ca_cert=false); use this only in tests');
    }
    if (token !== undefined && url.protocol === 'http:') {
      this.#logger.warn({ url: displayUrl(url) }, 'INSECURE: the PanDA token is sent over plain http://');
    }
  }

  async getJobs(request: GetJobsRequest): Promise<JobSpec[]> {
    const form: Record<string, FormValue> = {
      siteName: request.siteName,
      node: request.nodeName,
      prodSourceLabel: request.prodSourceLabel,
      computingElement: request.computingElement,
      nJobs: request.nJobs,
      schedulerID: `harvester-${this.#config.harvesterId}`,
      resourceType: request.resourceType,
      jobType: request.jobType,
      ...request.additionalCriteria,
    };
    const method = 'getJob';
    // Not idempotent: a lost answer means jobs the server has dispatched; sending again would take more.
    const answer = await this.#transport.post(method, form, { idempotent: false });
    const body = this.#object(method, answer);
    const status = this.#statusCode(method, answer, body);
    if (status === SC_NO_JOBS) return [];
    if (status !== 0) throw this.#refused(method, answer, status, body);
    let jobs: Json = body['jobs'];
    // Without acceptJson the server sends the list as a JSON string.
    if (typeof jobs === 'string') jobs = this.#parse(method, { ...answer, text: jobs });
    if (!Array.isArray(jobs)) throw this.#malformed(method, answer, '"jobs" is not a list');
    const context = {
      queueName: request.queueName ?? request.siteName,
      harvesterId: this.#config.harvesterId,
      ddmEndpointIn: request.ddmEndpointIn ?? null,
      now: this.#now(),
    };
    const specs: JobSpec[] = [];
    for (const job of jobs) {
      try {
        specs.push(jobSpecFromPanda(job, context));
      } catch (error) {
        if (!(error instanceof JobConversionError)) throw error;
        // The other jobs are already dispatched to us: keep them, and say loudly which one cannot be run.
        this.#logger.error({ method, siteName: request.siteName, PandaID: error.pandaID, field: error.field, err: error.message }, 'PanDA sent a job that cannot be converted; it is not taken');
      }
    }
    this.#logger.debug({ siteName: request.siteName, nJobs: request.nJobs, got: specs.length }, 'getJob done');
    return specs;
  }

  async updateJobs(jobSpecs: readonly JobSpec[]): Promise<JobUpdateResult[]> {
    for (const job of jobSpecs) await this.#updateEventsOf(job);
    const results: JobUpdateResult[] = [];
    const method = 'updateJobsInBulk';
    for (let start = 0; start < jobSpecs.length; start += JOBS_PER_BULK_UPDATE) {
      const chunk = jobSpecs.slice(start, start + JOBS_PER_BULK_UPDATE);
      const dataList = chunk.map(jobUpdateData);
      const answer = await this.#transport.post(method, { jobList: JSON.stringify(dataList), harvester_id: this.#config.harvesterId }, { idempotent: true });
      const list = this.#okPair(method, answer);
      if (!Array.isArray(list)) throw this.#malformed(method, answer, 'the second element is not a list');
      if (list.length !== chunk.length) throw this.#malformed(method, answer, `${list.length} results for ${chunk.length} jobs`);
      chunk.forEach((job, i) => results.push(this.#jobResult(job, list[i])));
    }
    return results;
  }

  async updateWorkers(workSpecs: readonly WorkSpec[]): Promise<WorkerUpdateResult[]> {
    if (workSpecs.length === 0) return [];
    const method = 'updateWorkers';
    const workers = workSpecs.map((w) => w.convertToPropagate());
    const answer = await this.#transport.post(method, { harvesterID: this.#config.harvesterId, workers: JSON.stringify(workers) }, { idempotent: true });
    const list = this.#okPair(method, answer);
    if (!Array.isArray(list)) throw this.#malformed(method, answer, 'the second element is not a list');
    if (list.length !== workSpecs.length) throw this.#malformed(method, answer, `${list.length} results for ${workSpecs.length} workers`);
    return workSpecs.map((w, i) => ({ workerID: w.workerID, ok: list[i] === true }));
  }

  async getEventRanges(requests: readonly EventRangeRequest[], options: { scattered?: boolean } = {}): Promise<EventRangesResult[]> {
    const results: EventRangesResult[] = [];
    for (const request of requests) results.push(await this.#eventRangesOf(request, options.scattered === true));
    return results;
  }

  async updateEventRanges(updates: readonly EventRangeUpdate[]): Promise<EventRangesUpdateResult> {
    const method = 'updateEventRanges';
    const answer = await this.#transport.post(method, { eventRanges: JSON.stringify(updates), version: 1 }, { idempotent: true });
    const body = this.#object(method, answer);
    const status = this.#statusCode(method, answer, body);
    if (status !== 0) throw this.#refused(method, answer, status, body);
    const returns = body['Returns'];
    if (!Array.isArray(returns)) throw this.#malformed(method, answer, '"Returns" is not a list');
    return { returns: returns.map((r) => (typeof r === 'boolean' ? r : null)), command: body['Command'] ?? null };
  }

  async isAlive(keyValues: Readonly<Record<string, unknown>>): Promise<string> {
    const method = 'harvesterIsAlive';
    const data = Object.fromEntries(Object.entries(keyValues).map(([k, v]) => [k, heartbeatValue(v)]));
    const answer = await this.#transport.post(method, { harvesterID: this.#config.harvesterId, data: JSON.stringify(data) }, { idempotent: true });
    const message = this.#okPair(method, answer);
    return typeof message === 'string' ? message : JSON.stringify(message ?? null);
  }

  async checkPanda(): Promise<SourceStatus> {
    const answer = await this.#transport.post('isAlive', {}, { idempotent: true });
    return { alive: /alive=yes/.test(answer.text), httpStatus: 200, text: answer.text.trim() };
  }

  /** Commands for this harvester instance (harvester's get_commands). Not retried: the server hands them out once. */
  async getCommands(nCommands: number): Promise<Record<string, unknown>[]> {
    const method = 'getCommands';
    const answer = await this.#transport.post(method, { harvester_id: this.#config.harvesterId, n_commands: nCommands }, { idempotent: false });
    const body = this.#object(method, answer);
    const status = this.#statusCode(method, answer, body);
    if (status !== 0) throw this.#refused(method, answer, status, body);
    const commands = body['Commands'] ?? [];
    if (!Array.isArray(commands) || !commands.every(isRecord)) throw this.#malformed(method, answer, '"Commands" is not a list of objects');
    return commands;
  }

  /** Acknowledges commands by id (harvester's ack_commands). */
  async ackCommands(commandIds: readonly number[]): Promise<void> {
    const method = 'ackCommands';
    const answer = await this.#transport.post(method, { command_ids: JSON.stringify(commandIds) }, { idempotent: true });
    const body = this.#object(method, answer);
    const status = this.#statusCode(method, answer, body);
    if (status !== 0) throw this.#refused(method, answer, status, body);
  }

  async close(): Promise<void> {
    // Every request uses its own connection (closed with the answer): nothing is held between calls.
  }

  /** Sends the job's events first, as harvester's update_jobs does; final events taken by PanDA become done. */
  async #updateEventsOf(job: JobSpec): Promise<void> {
    const { updates, events } = eventUpdateData(job);
    if (events.length === 0) return;
    const result = await this.updateEventRanges(updates);
    events.forEach((event, i) => {
      const taken = result.returns[i];
      if (typeof taken === 'boolean' && event.isFinalStatus()) event.subStatus = 'done';
    });
  }

  async #eventRangesOf(request: EventRangeRequest, scattered: boolean): Promise<EventRangesResult> {
    const method = 'getEventRanges';
    const ranges: EventRange[] = [];
    let remaining = request.nRanges;
    try {
      while (remaining > 0) {
        // Small chunks keep each request under the server's timeout.
        const chunk = Math.min(this.#config.getEventsChunkSize, remaining);
        const form: Record<string, FormValue> = {
          pandaID: request.pandaID,
          jobsetID: request.jobsetID,
          taskID: request.taskID,
          nRanges: chunk,
          ...(scattered ? { scattered: true } : {}),
        };
        const answer = await this.#transport.post(method, form, { idempotent: false });
        const body = this.#object(method, answer);
        const status = this.#statusCode(method, answer, body);
        if (status !== 0) throw this.#refused(method, answer, status, body);
        let got: Json = body['eventRanges'];
        if (typeof got === 'string') got = this.#parse(method, { ...answer, text: got });
        if (!Array.isArray(got) || !got.every((r) => isRecord(r) && typeof r['eventRangeID'] === 'string')) {
          throw this.#malformed(method, answer, '"eventRanges" is not a list of ranges with an eventRangeID');
        }
        ranges.push(...(got as EventRange[]));
        if (got.length === 0) break;
        remaining -= chunk;
      }
    } catch (error) {
      if (!(error instanceof JobSourceError)) throw error;
      this.#logger.error({ method, PandaID: request.pandaID, kept: ranges.length, err: error.message }, 'getEventRanges failed');
      return { pandaID: request.pandaID, eventRanges: ranges, error };
    }
    return { pandaID: request.pandaID, eventRanges: ranges, error: null };
  }

  /** One job's entry of updateJobsInBulk: {"type": "json", "content": "<json>"} (or the content itself). */
  #jobResult(job: JobSpec, entry: unknown): JobUpdateResult {
    let response: unknown = isRecord(entry) && 'content' in entry ? entry['content'] : entry;
    if (typeof response === 'string') {
      try {
        response = JSON.parse(response);
      } catch {
        response = undefined;
      }
    }
    if (!isRecord(response) || typeof response['StatusCode'] !== 'number') {
      this.#logger.error({ PandaID: job.PandaID, answer: excerpt(JSON.stringify(entry) ?? '', this.#secrets) }, 'updateJobsInBulk: unreadable result for a job');
      return { PandaID: job.PandaID, StatusCode: SC_UNREADABLE, ok: false, command: null, errorDiag: 'failed to load json', response: {} };
    }
    const statusCode = response['StatusCode'];
    const command = typeof response['command'] === 'string' && response['command'] !== 'NULL' ? response['command'] : null;
    const diag = response['ErrorDiag'] ?? response['errorDialog'];
    return { PandaID: job.PandaID, StatusCode: statusCode, ok: statusCode === 0, command, errorDiag: typeof diag === 'string' ? diag : null, response };
  }

  #parse(method: string, answer: PostAnswer): Json {
    try {
      return JSON.parse(answer.text) as Json;
    } catch {
      throw this.#malformed(method, answer, `not JSON (content-type ${answer.contentType || 'none'})`);
    }
  }

  #object(method: string, answer: PostAnswer): Record<string, unknown> {
    const body = this.#parse(method, answer);
    if (!isRecord(body)) throw this.#malformed(method, answer, 'not a JSON object');
    return body;
  }

  #statusCode(method: string, answer: PostAnswer, body: Record<string, unknown>): number {
    const status = body['StatusCode'];
    const number = typeof status === 'string' && /^\d+$/.test(status) ? Number(status) : status;
    if (typeof number !== 'number') throw this.#malformed(method, answer, 'no StatusCode');
    return number;
  }

  /** The harvester API's (ok, payload) pair: the payload when ok, a PandaServerError when not. */
  #okPair(method: string, answer: PostAnswer): Json {
    const body = this.#parse(method, answer);
    if (!Array.isArray(body) || body.length !== 2 || typeof body[0] !== 'boolean') {
      throw this.#malformed(method, answer, 'not a [status, payload] pair');
    }
    if (!body[0]) throw new PandaServerError(method, answer.url, answer.attempts, null, excerpt(String(body[1]), this.#secrets));
    return body[1] as Json;
  }

  #refused(method: string, answer: PostAnswer, status: number, body: Record<string, unknown>): PandaCommunicatorError {
    const dialog = body['errorDialog'] ?? body['ErrorDiag'];
    return new PandaServerError(method, answer.url, answer.attempts, status, typeof dialog === 'string' ? excerpt(dialog, this.#secrets) : '');
  }

  #malformed(method: string, answer: PostAnswer, problem: string): PandaResponseError {
    return new PandaResponseError(method, answer.url, answer.attempts, problem, excerpt(answer.text, this.#secrets));
  }
}
