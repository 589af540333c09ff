// WorkSpec: one worker (a batch job, a pilot) on a compute resource. Fields, statuses and helper methods
// follow harvester's harvestercore/work_spec.py.
import { columns, type SpecSchema } from './schema.js';
import { registerSpecClass, specBase } from './spec.js';
import { mergedDict } from './dict-fields.js';
import type { JobSpec } from './job-spec.js';

export const workerStatuses = ['submitted', 'running', 'finished', 'failed', 'ready', 'cancelled', 'idle', 'missed', 'pending'] as const;
export type WorkerStatus = (typeof workerStatuses)[number];
export const finalWorkerStatuses: readonly WorkerStatus[] = ['finished', 'failed', 'cancelled', 'missed'];

/** The statuses of workers the monitor looks at. */
export const monitoredWorkerStatuses: readonly WorkerStatus[] = ['submitted', 'running', 'idle', 'pending'];

/** How jobs map onto workers. */
export const mapTypes = ['NoJob', 'OneToOne', 'ManyToOne', 'OneToMany'] as const;
export type MapType = (typeof mapTypes)[number];

/** Where harvester writes each kind of log URL in workAttributes (set_log_file). */
const logAttributeKeys: Readonly<Record<string, string>> = { stdout: 'stdOut', stderr: 'stdErr', jdl: 'jdl' };

export interface WorkSpecFields {
  workerID: number | null;
  batchID: string | null;
  mapType: MapType | null;
  queueName: string | null;
  status: WorkerStatus | null;
  hasJob: number | null;
  workParams: Record<string, unknown> | null;
  workAttributes: Record<string, unknown> | null;
  eventsRequestParams: Record<string, unknown> | null;
  eventsRequest: number | null;
  computingSite: string | null;
  creationTime: Date | null;
  submitTime: Date | null;
  startTime: Date | null;
  endTime: Date | null;
  nCore: number | null;
  walltime: Date | null;
  accessPoint: string | null;
  modificationTime: Date | null;
  lastUpdate: Date | null;
  eventFeedTime: Date | null;
  lockedBy: string | null;
  postProcessed: number | null;
  nodeID: string | null;
  minRamCount: number | null;
  maxDiskCount: number | null;
  maxWalltime: number | null;
  killTime: Date | null;
  computingElement: string | null;
  nJobsToReFill: number | null;
  logFilesToUpload: Record<string, unknown> | null;
  jobType: string | null;
  resourceType: string | null;
  nativeExitCode: number | null;
  nativeStatus: string | null;
  diagMessage: string | null;
  nJobs: number | null;
  submissionHost: string | null;
  configID: number | null;
  syncLevel: number | null;
  checkTime: Date | null;
  ioIntensity: number | null;
  harvesterHost: string | null;
  pilotType: string | null;
  eventFeedLock: string | null;
  errorCode: number | null;
  errorDiag: string | null;
  // Not columns: they travel with the worker to plugins but are not stored.
  /** The jobs of this worker, attached by agents before calling plugins (harvester's jobspec_list). */
  jobSpecs: JobSpec[];
  pandaid_list: number[] | null;
  isNew: boolean;
  nextLookup: boolean;
  new_status: boolean;
  pilot_closed: boolean;
}

export const workSpecSchema: SpecSchema = {
  kind: 'WorkSpec',
  columns: columns(
    'workerID:integer pk',
    'batchID:text',
    'mapType:text',
    'queueName:text',
    'status:text index',
    'hasJob:integer',
    'workParams:dict',
    'workAttributes:dict',
    'eventsRequestParams:dict',
    'eventsRequest:integer',
    'computingSite:text index',
    'creationTime:timestamp',
    'submitTime:timestamp index',
    'startTime:timestamp',
    'endTime:timestamp',
    'nCore:integer',
    'walltime:timestamp',
    'accessPoint:text',
    'modificationTime:timestamp index',
    'lastUpdate:timestamp index',
    'eventFeedTime:timestamp index',
    'lockedBy:text',
    'postProcessed:integer',
    'nodeID:text',
    'minRamCount:integer',
    'maxDiskCount:integer',
    'maxWalltime:integer',
    'killTime:timestamp index',
    'computingElement:text',
    'nJobsToReFill:integer index',
    'logFilesToUpload:dict',
    'jobType:text',
    'resourceType:text',
    'nativeExitCode:integer',
    'nativeStatus:text',
    'diagMessage:text',
    'nJobs:integer',
    'submissionHost:text',
    'configID:integer index',
    'syncLevel:integer',
    'checkTime:timestamp',
    'ioIntensity:integer',
    'harvesterHost:text',
    'pilotType:text',
    'eventFeedLock:text',
    'errorCode:integer',
    'errorDiag:text',
  ),
  nonColumns: [
    { name: 'jobSpecs', kind: 'specs', specKind: 'JobSpec' },
    { name: 'pandaid_list', kind: 'blob' },
    { name: 'isNew', kind: 'flag' },
    { name: 'nextLookup', kind: 'flag' },
    { name: 'new_status', kind: 'flag' },
    { name: 'pilot_closed', kind: 'flag' },
  ],
};

const HOUR_MS = 3600_000;

export class WorkSpec extends specBase<WorkSpecFields>(workSpecSchema) {
  static readonly ST_submitted = 'submitted';
  static readonly ST_running = 'running';
  static readonly ST_finished = 'finished';
  static readonly ST_failed = 'failed';
  static readonly ST_ready = 'ready';
  static readonly ST_cancelled = 'cancelled';
  static readonly ST_idle = 'idle';
  static readonly ST_missed = 'missed';
  static readonly ST_pending = 'pending';
  static readonly ST_LIST: readonly WorkerStatus[] = workerStatuses;

  static readonly MT_NoJob = 'NoJob';
  static readonly MT_OneToOne = 'OneToOne';
  static readonly MT_MultiJobs = 'ManyToOne';
  static readonly MT_MultiWorkers = 'OneToMany';

  static readonly EV_noEvents = 0;
  static readonly EV_useEvents = 1;
  static readonly EV_requestEvents = 2;

  static isWorkerStatus(value: unknown): value is WorkerStatus {
    return typeof value === 'string' && (workerStatuses as readonly string[]).includes(value);
  }

  /** The name the task description used for harvester's errorDiag column. */
  get supplementalDiag(): string | null {
    return this.errorDiag;
  }
  set supplementalDiag(value: string | null) {
    this.errorDiag = value;
  }

  isFinalStatus(status: WorkerStatus | null = this.status): boolean {
    return status !== null && finalWorkerStatuses.includes(status);
  }

  /**
   * Sets the status as harvester does: never back from running/idle to submitted; a new status triggers
   * propagation; running stamps startTime and a final status endTime (each only once).
   */
  setStatus(value: WorkerStatus, now: Date = new Date()): void {
    if (value === WorkSpec.ST_submitted && (this.status === WorkSpec.ST_running || this.status === WorkSpec.ST_idle)) return;
    if (this.status !== value) {
      this.triggerPropagation(now);
      this.new_status = true;
    }
    this.status = value;
    if (value === WorkSpec.ST_running) this.setStartTime(false, now);
    else if (this.isFinalStatus()) this.setEndTime(false, now);
  }

  setStartTime(force = false, now: Date = new Date()): void {
    if (this.startTime === null || force) this.startTime = now;
  }

  setEndTime(force = false, now: Date = new Date()): void {
    if (this.endTime === null || force) this.endTime = now;
  }

  /** Makes the propagator pick the worker up at its next cycle. */
  triggerPropagation(now: Date = new Date()): void {
    this.lastUpdate = new Date(now.getTime() - 24 * HOUR_MS);
  }

  disablePropagation(): void {
    this.lastUpdate = null;
    this.forceUpdate('lastUpdate');
  }

  /** Makes the monitor look at the worker again at its next cycle. */
  triggerNextLookup(now: Date = new Date()): void {
    this.nextLookup = true;
    this.modificationTime = new Date(now.getTime() - HOUR_MS);
  }

  /** The job status and sub-status a worker status implies (harvester's convert_to_job_status). */
  convertToJobStatus(status: WorkerStatus | null = this.status): [jobStatus: string, jobSubStatus: string] {
    switch (status) {
      case 'submitted':
      case 'ready':
        return ['starting', status];
      case 'finished':
      case 'failed':
      case 'cancelled':
        return [status, 'to_transfer'];
      case 'missed':
        return ['missed', status];
      default:
        return ['running', String(status)];
    }
  }

  isPostProcessed(): boolean {
    return this.postProcessed === 1;
  }

  /** harvester's post_processed(): the field of the same name is the flag itself. */
  markPostProcessed(): void {
    this.postProcessed = 1;
  }

  /** Adds the number of attached jobs to nJobs. */
  setNumJobsWithList(): void {
    if (this.jobSpecs.length === 0) return;
    this.nJobs = (this.nJobs ?? 0) + this.jobSpecs.length;
  }

  setWorkParams(data: Record<string, unknown>): void {
    const merged = mergedDict(this.workParams, data);
    if (merged !== null) this.workParams = merged;
  }

  getWorkParam(name: string): unknown {
    return this.workParams?.[name];
  }

  hasWorkParam(name: string): boolean {
    return this.workParams !== null && Object.hasOwn(this.workParams, name);
  }

  setWorkAttributes(data: Record<string, unknown>): void {
    const merged = mergedDict(this.workAttributes, data);
    if (merged !== null) this.workAttributes = merged;
  }

  getWorkAttribute(name: string): unknown {
    return this.workAttributes?.[name];
  }

  hasWorkAttribute(name: string): boolean {
    return this.workAttributes !== null && Object.hasOwn(this.workAttributes, name);
  }

  /**
   * Records where a log of the worker can be read: stdout, stderr, jdl, anything else is the batch log.
   * Unlike harvester, a local path is recorded as given: uploading it to the PanDA cache is the caller's job.
   */
  setLogFile(logType: string, url: string): void {
    this.setWorkAttributes({ [logAttributeKeys[logType] ?? 'batchLog']: url });
  }

  /** Registers (or moves the upload position of) a log file to upload periodically, one per stream type. */
  updateLogFilesToUpload(filePath: string, position: number, remoteName: string | null = null, streamType: string | null = null): void {
    const files = { ...(this.logFilesToUpload ?? {}) } as Record<string, { position: number; remote_name: string | null; stream_type: string | null }>;
    if (streamType !== null) {
      for (const [path, info] of Object.entries(files)) if (info.stream_type === streamType) delete files[path];
    }
    const known = files[filePath];
    if (streamType === null && known !== undefined && known.position === position) return;
    if (known === undefined) files[filePath] = { position, remote_name: remoteName, stream_type: streamType };
    else files[filePath] = { ...known, position };
    this.logFilesToUpload = files;
  }

  /** Sets diagMessage, cut to the column's 500 characters; empty messages are ignored. */
  setDialogMessage(message: string | null): void {
    if (message === null || message === '') return;
    this.diagMessage = message.slice(0, 500);
  }

  setPilotError(errorCode: number, errorDiag: string): void {
    this.setWorkAttributes({ pilotErrorCode: errorCode, pilotErrorDiag: errorDiag });
  }

  hasPilotError(): boolean {
    return this.hasWorkAttribute('pilotErrorCode');
  }

  setSupplementalError(errorCode: number | null, errorDiag: string | null): void {
    if (errorCode !== null) this.errorCode = errorCode;
    if (errorDiag !== null && errorDiag !== '') this.errorDiag = errorDiag;
  }

  setPilotClosed(): void {
    this.pilot_closed = true;
  }

  /** The worker as the propagator reports it to PanDA (harvester's convert_to_propagate). */
  convertToPropagate(): Record<string, unknown> {
    const data: Record<string, unknown> = {};
    for (const name of propagatedFields) {
      const value = this.getField(name);
      if (value === null) continue;
      data[name] = value instanceof Date ? `datetime/${pandaTime(value)}` : value;
    }
    if (this.errorCode !== null && this.errorCode !== 0 && this.errorDiag !== null && this.errorDiag !== '') {
      data['diagMessage'] = this.errorDiag;
    }
    if (this.pandaid_list !== null) data['pandaid_list'] = this.pandaid_list;
    if (this.workAttributes !== null) {
      for (const name of ['stdOut', 'stdErr', 'batchLog', 'jdl']) {
        if (Object.hasOwn(this.workAttributes, name)) data[name] = this.workAttributes[name];
      }
    }
    return data;
  }
}
registerSpecClass(WorkSpec);

const propagatedFields = [
  'workerID', 'batchID', 'queueName', 'status', 'computingSite', 'nCore', 'nodeID', 'submitTime', 'startTime',
  'endTime', 'jobType', 'resourceType', 'nativeExitCode', 'nativeStatus', 'diagMessage', 'nJobs',
  'computingElement', 'syncLevel', 'submissionHost', 'harvesterHost', 'errorCode',
] as const;

/** harvester's '%Y-%m-%d %H:%M:%S.%f' in UTC. */
function pandaTime(date: Date): string {
  return `${date.toISOString().slice(0, 10)} ${date.toISOString().slice(11, 23)}000`;
}
