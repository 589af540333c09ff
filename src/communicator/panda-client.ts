// The PanDA server as a job source: harvester's PandaCommunicator (get_jobs, update_jobs, update_workers,
// get/update_event_ranges, is_alive, check_panda, get/ack_commands, update_worker_stats, update_service_metrics,
// send_dialog_messages) over HTTP(S). The logic is written once; the dialect (API v1 by default, the legacy API
// when pandacon.api says so) says which server function each call reaches and how its answer reads. Every
// failure of a call is a typed error; per-item outcomes (one job refused, one worker not updated) are results.
import type { JobSpec, WorkSpec } from '../spec/index.js';
import { createLogger, processSecrets, type Logger, type SecretRegistry } from '../logging/index.js';
import type { PandaConfig } from './config.js';
import { BearerToken, TlsCredentials } from './credentials.js';
import { displayUrl, PandaHttpError, PandaResponseError, PandaServerError } from './errors.js';
import { excerpt, PandaTransport, type PostAnswer } from './http-transport.js';
import { JobConversionError, jobSpecFromPanda } from './job-conversion.js';
import { eventUpdateData, jobUpdateData } from './job-report.js';
import { AnswerProblem, isRecord, type Endpoint, type JobAnswer, type PandaCall, type PandaCalls, type PandaDialect } from './panda-api.js';
import { apiLegacy } from './panda-api-legacy.js';
import { apiV1 } from './panda-api-v1.js';
import {
  JobSourceError,
  type EventRange,
  type EventRangeRequest,
  type EventRangesResult,
  type EventRangesUpdateResult,
  type EventRangeUpdate,
  type GetJobsRequest,
  type HarvesterCommands,
  type HarvesterReports,
  type JobSource,
  type JobUpdateResult,
  type SourceStatus,
  type WorkerUpdateResult,
} from './job-source.js';

/** harvester's StatusCode for a job whose answer is missing or unreadable. */
const SC_UNREADABLE = 999;
/** Jobs per bulk update request, as in harvester. */
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


/** harvester's 'datetime/%Y-%m-%d %H:%M:%S.%f' for Date values of a heartbeat. */
function heartbeatValue(value: unknown): unknown {
  if (!(value instanceof Date)) return value;
  const iso = value.toISOString();
  return `datetime/${iso.slice(0, 10)} ${iso.slice(11, 23)}000`;
}

export class PandaClient implements JobSource, HarvesterReports, HarvesterCommands {
  readonly description: string;
  readonly #config: PandaConfig;
  readonly #dialect: PandaDialect;
  readonly #transport: PandaTransport;
  readonly #logger: Logger;
  readonly #secrets: SecretRegistry;
  readonly #now: () => Date;

  constructor(config: PandaConfig, options: PandaClientOptions = {}) {
    this.#config = config;
    this.#dialect = config.api === 'legacy' ? apiLegacy : apiV1;
    this.#secrets = options.secrets ?? processSecrets;
    this.#logger = (options.logger ?? createLogger({ name: 'harvester' })).child({ component: 'panda-communicator' });
    this.#now = options.now ?? (() => new Date());
    const baseUrl = config.api === 'legacy' ? config.pandaURLSSL : config.serverApiUrl;
    this.description = `panda ${displayUrl(baseUrl)}`;
    const token = config.authType === 'oidc' && config.authToken !== undefined ? new BearerToken(config.authToken, this.#secrets) : undefined;
    // harvester sends the client certificate only with x509 authentication (cert=None with a token).
    const tls = new TlsCredentials({
      ...(config.authType === 'x509' && config.certFile !== undefined ? { certFile: config.certFile } : {}),
      ...(config.authType === 'x509' && config.keyFile !== undefined ? { keyFile: config.keyFile } : {}),
      ...(config.caCert === undefined ? {} : { caCert: config.caCert }),
    });
    this.#transport = new PandaTransport({
      baseUrl,
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
    const url = new URL(baseUrl);
    if (config.insecure && url.protocol === 'https:') {
      this.#logger.warn({ url: displayUrl(url) }, 'INSECURE: the PanDA server certificate is NOT verified (pandacon insecure/ca_cert=false); use this only in tests');
    }
    if (token !== undefined && url.protocol === 'http:') {
      this.#logger.warn({ url: displayUrl(url) }, 'INSECURE: the PanDA token is sent over plain http://');
    }
  }

  /** Which API this client speaks ("v1", "legacy"). */
  get api(): PandaDialect['name'] {
    return this.#dialect.name;
  }

  async getJobs(request: GetJobsRequest): Promise<JobSpec[]> {
    const answer = await this.#call('getJobs', {
      siteName: request.siteName,
      nodeName: request.nodeName,
      prodSourceLabel: request.prodSourceLabel,
      computingElement: request.computingElement,
      nJobs: request.nJobs,
      schedulerId: `harvester-${this.#config.harvesterId}`,
      resourceType: request.resourceType,
      jobType: request.jobType,
      additionalCriteria: request.additionalCriteria,
    });
    if ('none' in answer) {
      // As harvester: no jobs this cycle, with the server's reason; asked again next cycle. An empty queue is
      // routine; any other reason (a missing role, a timeout) is something an operator must see.
      const empty = /^no jobs/i.test(answer.none);
      this.#logger[empty ? 'debug' : 'warn'](
        { method: this.#dialect.endpoints.getJobs.fn.name, siteName: request.siteName, nJobs: request.nJobs, reason: excerpt(answer.none, this.#secrets) },
        empty ? 'no jobs from PanDA' : 'PanDA gave no jobs',
      );
      return [];
    }
    const context = {
      queueName: request.queueName ?? request.siteName,
      harvesterId: this.#config.harvesterId,
      ddmEndpointIn: request.ddmEndpointIn ?? null,
      now: this.#now(),
    };
    const specs: JobSpec[] = [];
    for (const job of answer.jobs) {
      try {
        specs.push(jobSpecFromPanda(job, context));
      } catch (error) {
        if (!(error instanceof JobConversionError)) throw error;
        // The other jobs are already dispatched to us: keep them, and say loudly which one cannot be run.
        this.#logger.error(
          { method: this.#dialect.endpoints.getJobs.fn.name, siteName: request.siteName, PandaID: error.pandaID, field: error.field, err: error.message },
          'PanDA sent a job that cannot be converted; it is not taken',
        );
      }
    }
    this.#logger.debug({ siteName: request.siteName, nJobs: request.nJobs, got: specs.length }, 'getJobs done');
    return specs;
  }

  async updateJobs(jobSpecs: readonly JobSpec[]): Promise<JobUpdateResult[]> {
    for (const job of jobSpecs) await this.#updateEventsOf(job);
    const results: JobUpdateResult[] = [];
    for (let start = 0; start < jobSpecs.length; start += JOBS_PER_BULK_UPDATE) {
      const chunk = jobSpecs.slice(start, start + JOBS_PER_BULK_UPDATE);
      const answers = await this.#call('updateJobs', { harvesterId: this.#config.harvesterId, jobs: chunk.map(jobUpdateData) });
      // A job without an answer failed alone: the others' results stand.
      chunk.forEach((job, i) => results.push(this.#jobResult(job, answers[i])));
    }
    return results;
  }

  async updateWorkers(workSpecs: readonly WorkSpec[]): Promise<WorkerUpdateResult[]> {
    if (workSpecs.length === 0) return [];
    const list = await this.#call('updateWorkers', { harvesterId: this.#config.harvesterId, workers: workSpecs.map((w) => w.convertToPropagate()) });
    if (list.length !== workSpecs.length) {
      this.#logger.error({ method: this.#dialect.endpoints.updateWorkers.fn.name, sent: workSpecs.length, results: list.length }, 'PanDA answered for a different number of workers; those without an answer are reported again');
    }
    return workSpecs.map((w, i) => ({ workerID: w.workerID, ok: list[i] === true }));
  }

  async getEventRanges(requests: readonly EventRangeRequest[], options: { scattered?: boolean } = {}): Promise<EventRangesResult[]> {
    const results: EventRangesResult[] = [];
    for (const request of requests) results.push(await this.#eventRangesOf(request, options.scattered === true));
    return results;
  }

  async updateEventRanges(updates: readonly EventRangeUpdate[]): Promise<EventRangesUpdateResult> {
    const answer = await this.#call('updateEventRanges', { updates });
    return { returns: answer.returns.map((r) => (typeof r === 'boolean' ? r : null)), command: answer.command };
  }

  async isAlive(keyValues: Readonly<Record<string, unknown>>): Promise<string> {
    const data = Object.fromEntries(Object.entries(keyValues).map(([k, v]) => [k, heartbeatValue(v)]));
    return this.#call('heartbeat', { harvesterId: this.#config.harvesterId, data });
  }

  async checkPanda(): Promise<SourceStatus> {
    const answer = await this.#call('isAlive', {});
    return { alive: answer.alive, httpStatus: 200, text: answer.text };
  }

  /**
   * Each job's status in PanDA and the command for it (harvester's check_jobs), in chunks of 100; a job the
   * answer does not cover has status null.
   */
  async checkJobs(pandaIDs: readonly number[]): Promise<{ PandaID: number; status: string | null; command: string | null }[]> {
    const results: { PandaID: number; status: string | null; command: string | null }[] = [];
    for (let start = 0; start < pandaIDs.length; start += JOBS_PER_BULK_UPDATE) {
      const chunk = pandaIDs.slice(start, start + JOBS_PER_BULK_UPDATE);
      const answers = await this.#call('checkJobs', { pandaIDs: chunk });
      chunk.forEach((PandaID, i) => {
        const entry = answers[i];
        const text = (key: string): string | null => (isRecord(entry) && typeof entry[key] === 'string' ? entry[key] : null);
        results.push({ PandaID, status: text('status'), command: text('command') });
      });
    }
    return results;
  }

  /** Commands for this harvester instance (harvester's get_commands). Not retried: the server hands them out once. */
  async getCommands(nCommands: number): Promise<Record<string, unknown>[]> {
    const commands = await this.#call('acquireCommands', { harvesterId: this.#config.harvesterId, nCommands });
    if (!commands.every(isRecord)) throw this.#malformed('acquireCommands', 'the commands are not a list of objects');
    return [...commands];
  }

  /** Acknowledges commands by id (harvester's ack_commands). */
  async ackCommands(commandIds: readonly number[]): Promise<void> {
    await this.#call('acknowledgeCommands', { commandIds });
  }

  /** Worker counts of one queue by prodSourceLabel, resource type and status (harvester's update_worker_stats). */
  async reportWorkerStats(siteName: string, stats: Readonly<Record<string, unknown>>): Promise<void> {
    await this.#call('reportWorkerStats', { harvesterId: this.#config.harvesterId, siteName, stats });
  }

  /** [creationTime, host, JSON metrics] triplets (harvester's update_service_metrics). */
  async updateServiceMetrics(metrics: readonly unknown[]): Promise<void> {
    await this.#call('updateServiceMetrics', { harvesterId: this.#config.harvesterId, metrics });
  }

  /** Dialog messages (harvester's send_dialog_messages: DiagSpec.convert_to_propagate dicts). */
  async addDialogs(dialogs: readonly Readonly<Record<string, unknown>>[]): Promise<void> {
    await this.#call('addDialogs', { harvesterId: this.#config.harvesterId, dialogs });
  }

  async close(): Promise<void> {
    // Every request uses its own connection (closed with the answer): nothing is held between calls.
  }

  /** One call through the dialect: encoded, sent, and its answer read; every failure a typed error. */
  async #call<C extends PandaCall>(call: C, args: PandaCalls[C]['args']): Promise<PandaCalls[C]['result']> {
    const endpoint = this.#dialect.endpoints[call] as unknown as Endpoint<PandaCalls[C]['args'], PandaCalls[C]['result']>;
    const answer = await this.#transport
      .send({ ...endpoint.fn, params: endpoint.encode(args) }, { idempotent: endpoint.idempotent })
      .catch((error: unknown) => {
        throw this.#withApiAdvice(error);
      });
    let body: unknown;
    if (endpoint.json) {
      try {
        body = JSON.parse(answer.text) as unknown;
      } catch {
        throw this.#malformedAnswer(endpoint.fn.name, answer, `not JSON (content-type ${answer.contentType || 'none'})`);
      }
    }
    try {
      return endpoint.decode(body, answer.text);
    } catch (error) {
      if (!(error instanceof AnswerProblem)) throw error;
      if (error.kind === 'malformed') throw this.#malformedAnswer(endpoint.fn.name, answer, error.detail);
      throw new PandaServerError(endpoint.fn.name, answer.url, answer.attempts, error.statusCode, excerpt(error.detail, this.#secrets));
    }
  }

  /** A refusal that means the server speaks the other API gets the option to change. */
  #withApiAdvice(error: unknown): unknown {
    if (!(error instanceof PandaHttpError)) return error;
    let advice: string | undefined;
    if (this.#dialect.name === 'legacy' && error.status === 403 && /is forbidden/.test(error.bodyExcerpt)) {
      advice = 'the server no longer takes the legacy API (PanDA server 1.0 or later): remove pandacon.api or set it to "v1"';
    } else if (this.#dialect.name === 'v1' && error.status === 404) {
      advice = 'no API v1 at this URL: check pandacon.server_api_url_ssl (default scheme://host/api/v1 of pandaURLSSL); a server without API v1 needs pandacon.api "legacy"';
    }
    if (advice === undefined) return error;
    return new PandaHttpError(error.method, error.url, error.attempts, error.status, error.bodyExcerpt, advice);
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
    const method = this.#dialect.endpoints.acquireEventRanges.fn.name;
    const ranges: EventRange[] = [];
    let remaining = request.nRanges;
    try {
      while (remaining > 0) {
        // Small chunks keep each request under the server's timeout.
        const chunk = Math.min(this.#config.getEventsChunkSize, remaining);
        const got = await this.#call('acquireEventRanges', { pandaID: request.pandaID, jobsetID: request.jobsetID, taskID: request.taskID, nRanges: chunk, scattered });
        if (!got.every((r) => isRecord(r) && typeof r['eventRangeID'] === 'string')) {
          throw this.#malformed('acquireEventRanges', 'the event ranges are not a list of ranges with an eventRangeID');
        }
        ranges.push(...(got as EventRange[]));
        if (got.length === 0) break;
        remaining -= chunk;
      }
    } catch (error) {
      if (!(error instanceof JobSourceError)) throw error;
      this.#logger.error({ method, PandaID: request.pandaID, kept: ranges.length, err: error.message }, 'getting event ranges failed');
      return { pandaID: request.pandaID, eventRanges: ranges, error };
    }
    return { pandaID: request.pandaID, eventRanges: ranges, error: null };
  }

  #jobResult(job: JobSpec, answer: JobAnswer | undefined): JobUpdateResult {
    if (answer === undefined || 'problem' in answer) {
      const problem = answer === undefined ? 'no result for this job in the answer' : answer.problem;
      this.#logger.error({ PandaID: job.PandaID, method: this.#dialect.endpoints.updateJobs.fn.name, problem: excerpt(problem, this.#secrets) }, 'PanDA did not take the job report');
      return { PandaID: job.PandaID, StatusCode: SC_UNREADABLE, ok: false, command: null, errorDiag: problem, response: {} };
    }
    return { PandaID: job.PandaID, StatusCode: answer.statusCode, ok: answer.statusCode === 0, command: answer.command, errorDiag: answer.errorDiag, response: answer.response };
  }

  #malformed(call: PandaCall, problem: string): PandaResponseError {
    const fn = this.#dialect.endpoints[call].fn;
    return new PandaResponseError(fn.name, displayUrl(this.#transport.urlOf(fn.path)), 1, problem, '');
  }

  #malformedAnswer(method: string, answer: PostAnswer, problem: string): PandaResponseError {
    return new PandaResponseError(method, answer.url, answer.attempts, problem, excerpt(answer.text, this.#secrets));
  }
}
