// JobSpec: one PanDA job held by harvester. Fields, statuses and helpers follow harvester's
// harvestercore/job_spec.py.
import { SpecStateError } from './errors.js';
import { columns, type SpecSchema } from './schema.js';
import { registerSpecClass, specBase } from './spec.js';
import { mergedDict } from './dict-fields.js';
import type { EventSpec } from './event-spec.js';
import type { FileSpec } from './file-spec.js';

/** Job statuses harvester keeps ('transferring' is only reported, see getStatus). */
export const jobStatuses = ['starting', 'running', 'finished', 'failed', 'cancelled', 'missed', 'transferring'] as const;
export type JobStatus = (typeof jobStatuses)[number];
const finalJobStatuses: readonly string[] = ['finished', 'failed', 'cancelled', 'missed'];

/** Where the agents have got with a job (fetched -> prepared -> submitted/running -> to_transfer -> done). */
export const jobSubStatuses = [
  'fetched', 'preparing', 'prepared', 'failed_to_prepare', 'failed_to_make', 'submitted', 'ready', 'queued',
  'pending', 'running', 'idle', 'to_transfer', 'transferring', 'done', 'killed', 'missed', 'cancelled',
] as const;
export type JobSubStatus = (typeof jobSubStatuses)[number];

/** One input file as harvester's get_input_file_attributes describes it, keyed by LFN. */
export interface InputFileAttributes {
  fsize: number | null;
  guid: string;
  checksum: string;
  scope: string;
  dataset: string;
  endpoint: string;
  attemptNr: number | null;
  path?: string | null;
}

export interface JobSpecFields {
  PandaID: number | null;
  taskID: number | null;
  attemptNr: number | null;
  status: JobStatus | null;
  subStatus: JobSubStatus | null;
  currentPriority: number | null;
  computingSite: string | null;
  creationTime: Date | null;
  modificationTime: Date | null;
  stateChangeTime: Date | null;
  startTime: Date | null;
  endTime: Date | null;
  nCore: number | null;
  jobParams: Record<string, unknown> | null;
  jobAttributes: Record<string, unknown> | null;
  hasOutFile: number | null;
  metaData: unknown;
  outputFilesToReport: unknown;
  lockedBy: string | null;
  propagatorLock: string | null;
  propagatorTime: Date | null;
  preparatorTime: Date | null;
  submitterTime: Date | null;
  stagerLock: string | null;
  stagerTime: Date | null;
  zipPerMB: number | null;
  nWorkers: number | null;
  nWorkersLimit: number | null;
  submissionAttempts: number | null;
  jobsetID: number | null;
  pilotClosed: number | null;
  configID: number | null;
  nRemainingEvents: number | null;
  moreWorkers: number | null;
  maxWorkersInTotal: number | null;
  nWorkersInTotal: number | null;
  jobParamsExtForOutput: Record<string, unknown> | null;
  jobParamsExtForLog: Record<string, unknown> | null;
  auxInput: number | null;
  // Not columns: the job's files and events travel with it to plugins.
  inFiles: FileSpec[];
  outFiles: FileSpec[];
  events: EventSpec[];
}

export const jobSpecSchema: SpecSchema = {
  kind: 'JobSpec',
  columns: columns(
    'PandaID:integer pk',
    'taskID:integer index',
    'attemptNr:integer',
    'status:text',
    'subStatus:text index',
    'currentPriority:integer index',
    'computingSite:text index',
    'creationTime:timestamp',
    'modificationTime:timestamp index',
    'stateChangeTime:timestamp',
    'startTime:timestamp',
    'endTime:timestamp',
    'nCore:integer',
    'jobParams:dict',
    'jobAttributes:dict',
    'hasOutFile:integer',
    'metaData:blob',
    'outputFilesToReport:blob',
    'lockedBy:text',
    'propagatorLock:text',
    'propagatorTime:timestamp index',
    'preparatorTime:timestamp index',
    'submitterTime:timestamp',
    'stagerLock:text',
    'stagerTime:timestamp index',
    'zipPerMB:integer',
    'nWorkers:integer =0',
    'nWorkersLimit:integer',
    'submissionAttempts:integer =0',
    'jobsetID:integer',
    'pilotClosed:integer',
    'configID:integer index',
    'nRemainingEvents:integer',
    'moreWorkers:integer',
    'maxWorkersInTotal:integer',
    'nWorkersInTotal:integer =0',
    'jobParamsExtForOutput:dict',
    'jobParamsExtForLog:dict',
    'auxInput:integer',
  ),
  nonColumns: [
    { name: 'inFiles', kind: 'specs', specKind: 'FileSpec' },
    { name: 'outFiles', kind: 'specs', specKind: 'FileSpec' },
    { name: 'events', kind: 'specs', specKind: 'EventSpec' },
  ],
};

const HOUR_MS = 3600_000;

export class JobSpec extends specBase<JobSpecFields>(jobSpecSchema) {
  static readonly HO_noOutput = 0;
  static readonly HO_hasOutput = 1;
  static readonly HO_hasZipOutput = 2;
  static readonly HO_hasTransfer = 3;
  static readonly HO_hasPostZipOutput = 4;

  static readonly AUX_hasAuxInput = 0;
  static readonly AUX_inTriggered = 1;
  static readonly AUX_allTriggered = 2;
  static readonly AUX_inReady = 3;
  static readonly AUX_allReady = 4;

  /** Adds an input file, or an output file for any other fileType. */
  addFile(fileSpec: FileSpec): void {
    if (fileSpec.fileType === 'input') this.addInFile(fileSpec);
    else this.addOutFile(fileSpec);
  }

  /** Adds an input file (once). A new list is set, so the change is recorded and travels back over RPC. */
  addInFile(fileSpec: FileSpec): void {
    if (!this.inFiles.includes(fileSpec)) this.inFiles = [...this.inFiles, fileSpec];
  }

  addOutFile(fileSpec: FileSpec): void {
    if (!this.outFiles.includes(fileSpec)) this.outFiles = [...this.outFiles, fileSpec];
  }

  resetOutFile(): void {
    this.outFiles = [];
  }

  addEvent(eventSpec: EventSpec): void {
    if (!this.events.includes(eventSpec)) this.events = [...this.events, eventSpec];
  }

  getFilesToDelete(): FileSpec[] {
    return [...this.inFiles, ...this.outFiles].filter((f) => f.todelete === 1);
  }

  isFinalStatus(status: string | null = this.status): boolean {
    return status !== null && finalJobStatuses.includes(status);
  }

  /** The status to report: a final job still staging out (or with events not done) reads "transferring". */
  getStatus(): JobStatus | null {
    if (this.isFinalStatus() && this.subStatus !== 'killed' && (this.subStatus === 'to_transfer' || this.subStatus === 'transferring' || !this.allEventsDone())) {
      return 'transferring';
    }
    return this.status;
  }

  allEventsDone(): boolean {
    return this.events.every((e) => e.subStatus === 'done');
  }

  setStartTime(force = false, now: Date = new Date()): void {
    if (this.startTime === null || force) this.startTime = now;
  }

  setEndTime(force = false, now: Date = new Date()): void {
    if (this.endTime === null || force) this.endTime = now;
  }

  triggerPropagation(now: Date = new Date()): void {
    this.propagatorTime = new Date(now.getTime() - HOUR_MS);
  }

  triggerPreparation(now: Date = new Date()): void {
    this.preparatorTime = new Date(now.getTime() - HOUR_MS);
  }

  triggerStageOut(now: Date = new Date()): void {
    this.stagerTime = new Date(now.getTime() - HOUR_MS);
  }

  setOneAttribute(name: string, value: unknown): void {
    const merged = mergedDict(this.jobAttributes, { [name]: value });
    if (merged !== null) this.jobAttributes = merged;
  }

  hasAttribute(name: string): boolean {
    return this.jobAttributes !== null && Object.hasOwn(this.jobAttributes, name);
  }

  getOneAttribute(name: string): unknown {
    return this.jobAttributes?.[name] ?? null;
  }

  /** Records the pilot error unless one is already recorded. */
  setPilotError(errorCode: number, errorDiag: string): void {
    if (!this.hasAttribute('pilotErrorCode')) this.setOneAttribute('pilotErrorCode', errorCode);
    if (!this.hasAttribute('pilotErrorDiag')) this.setOneAttribute('pilotErrorDiag', errorDiag);
  }

  setPilotClosed(): void {
    this.pilotClosed = 1;
  }

  isPilotClosed(): boolean {
    return this.pilotClosed === 1;
  }

  /**
   * The job's input files by LFN from jobParams (harvester's get_input_file_attributes), with the attemptNr
   * and (when jobParams has inFilePaths) the path of the matching FileSpec. skipReady leaves out files
   * whose FileSpec is ready. Throws SpecStateError when jobParams lacks the input file lists.
   */
  getInputFileAttributes(skipReady = false): Record<string, InputFileAttributes> {
    const skipped = new Set<string | null>();
    const attemptNrs = new Map<string | null, number | null>();
    const paths = new Map<string | null, string | null>();
    for (const file of this.inFiles) {
      if (skipReady && file.status === 'ready') skipped.add(file.lfn);
      attemptNrs.set(file.lfn, file.attemptNr);
      paths.set(file.lfn, file.path);
    }
    const lfns = this.#paramList('inFiles');
    const guids = this.#paramList('GUID');
    const fsizes = this.#paramList('fsize');
    const checksums = this.#paramList('checksum');
    const scopes = this.#paramList('scopeIn');
    const datasets = this.#paramList('realDatasetsIn');
    const endpoints = this.#paramList('ddmEndPointIn');
    const count = Math.min(lfns.length, guids.length, fsizes.length, checksums.length, scopes.length, datasets.length, endpoints.length);
    const result: Record<string, InputFileAttributes> = {};
    for (let i = 0; i < count; i++) {
      const lfn = lfns[i] as string;
      if (lfn === '' || lfn === 'NULL' || skipped.has(lfn)) continue;
      const fsize = /^\d+$/.test(fsizes[i] as string) ? Number(fsizes[i]) : null;
      Object.defineProperty(result, lfn, {
        value: {
          fsize,
          guid: guids[i] as string,
          checksum: checksums[i] as string,
          scope: scopes[i] as string,
          dataset: datasets[i] as string,
          endpoint: endpoints[i] as string,
          attemptNr: attemptNrs.get(lfn) ?? 0,
        },
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    if (this.jobParams !== null && Object.hasOwn(this.jobParams, 'inFilePaths')) {
      for (const [lfn, attributes] of Object.entries(result)) {
        if (paths.has(lfn)) attributes.path = paths.get(lfn) ?? null;
      }
    }
    return result;
  }

  /** Sets the local path of input files by LFN, on jobParams.inFilePaths and on the FileSpecs. */
  setInputFilePaths(inFiles: Record<string, { path: string }>): void {
    const lfns = Object.keys(this.getInputFileAttributes());
    const paths = lfns.filter((lfn) => Object.hasOwn(inFiles, lfn)).map((lfn) => inFiles[lfn]?.path ?? '');
    this.jobParams = { ...(this.jobParams ?? {}), inFilePaths: paths.join(',') };
    for (const file of this.inFiles) {
      if (file.lfn !== null && Object.hasOwn(inFiles, file.lfn)) file.path = inFiles[file.lfn]?.path ?? null;
    }
  }

  setAllInputReady(): void {
    for (const file of this.inFiles) file.status = 'ready';
  }

  /** Marks every output file not yet finished or failed as transferring, with attemptNr reset. */
  allFilesTriggeredToStageOut(): void {
    for (const file of this.outFiles) {
      if (file.status !== 'finished' && file.status !== 'failed') {
        file.status = 'transferring';
        file.attemptNr = 0;
      }
    }
  }

  getOutputFileSpecs(skipDone = false): FileSpec[] {
    return skipDone ? this.outFiles.filter((f) => f.status !== 'finished' && f.status !== 'failed') : [...this.outFiles];
  }

  /** The input files of one transfer group. */
  getInputFileSpecs(groupID: string | null, skipReady = false): FileSpec[] {
    return this.inFiles.filter((f) => f.groupID === groupID && !(skipReady && (f.status === 'ready' || f.status === 'failed')));
  }

  #paramList(name: string): string[] {
    const value = this.jobParams?.[name];
    if (typeof value !== 'string') {
      throw new SpecStateError('JobSpec', this.PandaID, `jobParams.${name} is ${this.jobParams === null ? 'missing (no jobParams)' : 'not a comma-separated string'}`);
    }
    return value.split(',');
  }
}
registerSpecClass(JobSpec);
