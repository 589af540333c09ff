// Where jobs come from and where their progress goes, in harvester's terms (its communicator's calls), so the
// agents work the same against the embedded job queue in the store or against a PanDA server.
import type { JobSpec, WorkSpec } from '../spec/index.js';

/** What the job fetcher asks for (harvester's get_jobs arguments). */
export interface GetJobsRequest {
  /** PanDA's siteName: the queue's siteName (harvester's queueConfig.siteName). */
  readonly siteName: string;
  /** The host asking (harvester sends its own node name). */
  readonly nodeName: string;
  readonly prodSourceLabel: string;
  readonly computingElement: string;
  readonly nJobs: number;
  readonly resourceType?: string;
  readonly jobType?: string;
  /** Further criteria sent as they are (harvester's additional_criteria). */
  readonly additionalCriteria?: Readonly<Record<string, string | number | boolean>>;
  /** The queue the jobs are for: set as each JobSpec's computingSite. Defaults to siteName. */
  readonly queueName?: string;
  /** The queue's ddmEndpointIn, set as the endpoint of input FileSpecs (harvester does the same). */
  readonly ddmEndpointIn?: string | null;
}

/** The source's answer for one job of updateJobs (harvester's per-job return map). */
export interface JobUpdateResult {
  readonly PandaID: number | null;
  /** 0 when the update was taken. */
  readonly StatusCode: number;
  readonly ok: boolean;
  /** What the source wants done with the job ("tobekilled", "softkill"...), null for none. */
  readonly command: string | null;
  readonly errorDiag: string | null;
  /** The whole answer for this job, as received. */
  readonly response: Readonly<Record<string, unknown>>;
}

export interface WorkerUpdateResult {
  readonly workerID: number | null;
  readonly ok: boolean;
}

/** A request for event ranges of one job (harvester's get_event_ranges data_map entries). */
export interface EventRangeRequest {
  readonly pandaID: number;
  readonly taskID: number | null;
  readonly jobsetID: number | null;
  readonly nRanges: number;
}

/** One event range as PanDA hands it out; the keys beyond eventRangeID depend on the job. */
export interface EventRange {
  readonly eventRangeID: string;
  readonly [key: string]: unknown;
}

/**
 * The ranges received for one job. Ranges handed out before a failure are kept (the server has assigned
 * them), and the failure is given alongside, never dropped.
 */
export interface EventRangesResult {
  readonly pandaID: number;
  readonly eventRanges: readonly EventRange[];
  readonly error: JobSourceError | null;
}

/** One entry of an event update (harvester's JobSpec.to_event_data): events, optionally of one zip file. */
export interface EventRangeUpdate {
  readonly eventRanges: readonly Readonly<Record<string, unknown>>[];
  readonly sourceURL?: string;
  readonly zipFile?: Readonly<Record<string, unknown>>;
}

export interface EventRangesUpdateResult {
  /** One entry per event, in the order sent: true/false once the source took it, null when it did not. */
  readonly returns: readonly (boolean | null)[];
  /** Commands for the events, as the source gives them. */
  readonly command: unknown;
}

/** The answer of the source's liveness check (harvester's check_panda). */
export interface SourceStatus {
  readonly alive: boolean;
  readonly httpStatus: number;
  readonly text: string;
}

/**
 * A job source. Every method either resolves with typed results or rejects with a JobSourceError naming
 * what failed; a result never stands for a failure of the call itself.
 */
export interface JobSource {
  /** For logs: "panda https://host/server/panda", "embedded". */
  readonly description: string;
  /** Jobs for one queue, as JobSpecs with their input FileSpecs (status to_prepare). */
  getJobs(request: GetJobsRequest): Promise<JobSpec[]>;
  /**
   * Reports job states (and, first, the events attached to the jobs, marking the final ones done as
   * harvester does). One result per job, in order.
   */
  updateJobs(jobSpecs: readonly JobSpec[]): Promise<JobUpdateResult[]>;
  /** Reports workers (WorkSpec.convertToPropagate). One result per worker, in order. */
  updateWorkers(workSpecs: readonly WorkSpec[]): Promise<WorkerUpdateResult[]>;
  getEventRanges(requests: readonly EventRangeRequest[], options?: { scattered?: boolean }): Promise<EventRangesResult[]>;
  updateEventRanges(updates: readonly EventRangeUpdate[]): Promise<EventRangesUpdateResult>;
  /** Heartbeat of this harvester instance (harvester's is_alive); resolves with the source's message. */
  isAlive(keyValues: Readonly<Record<string, unknown>>): Promise<string>;
  /** Whether the source answers at all (harvester's check_panda). */
  checkPanda(): Promise<SourceStatus>;
  /** Releases what the source holds; safe to call twice. */
  close(): Promise<void>;
}

/**
 * What harvester reports about itself beyond jobs and workers (PanDA's harvester API). A source that has no
 * use for them (the embedded queue) does not implement it.
 */
export interface HarvesterReports {
  /** Active worker counts of a queue: {jobType: {resourceType: {status: n}}} (harvester's update_worker_stats). */
  reportWorkerStats(siteName: string, stats: Readonly<Record<string, unknown>>): Promise<void>;
  /** [creationTime, host, JSON metrics] triplets (harvester's update_service_metrics). */
  updateServiceMetrics(metrics: readonly unknown[]): Promise<void>;
}

export function hasHarvesterReports(source: JobSource): source is JobSource & HarvesterReports {
  const candidate = source as Partial<HarvesterReports>;
  return typeof candidate.reportWorkerStats === 'function' && typeof candidate.updateServiceMetrics === 'function';
}

/** Messages of harvester's agents for PanDA's operators (harvester's send_dialog_messages). */
export interface HarvesterDialogs {
  /** DiagSpec.convert_to_propagate dicts: diagID, moduleName, identifier, creationTime, messageLevel, diagMessage. */
  addDialogs(dialogs: readonly Readonly<Record<string, unknown>>[]): Promise<void>;
}

export function hasHarvesterDialogs(source: JobSource): source is JobSource & HarvesterDialogs {
  return typeof (source as Partial<HarvesterDialogs>).addDialogs === 'function';
}

/** Commands for this harvester instance, handed out once and acknowledged (PanDA's harvester commands). */
export interface HarvesterCommands {
  getCommands(nCommands: number): Promise<Record<string, unknown>[]>;
  ackCommands(commandIds: readonly number[]): Promise<void>;
}

export function hasHarvesterCommands(source: JobSource): source is JobSource & HarvesterCommands {
  const candidate = source as Partial<HarvesterCommands>;
  return typeof candidate.getCommands === 'function' && typeof candidate.ackCommands === 'function';
}

/** The base of every error a job source throws, so agents can catch "the source failed" in one place. */
export class JobSourceError extends Error {
  constructor(
    /** The call that failed, as the server names it: "pilot/acquire_jobs" (API v1), "getJob" (legacy)... */
    readonly method: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'JobSourceError';
  }
}
