// A job as PanDA hands it out (one dict of getJob's "jobs") made into a JobSpec the way harvester's job
// fetcher does it: JobSpec.convert_job_json, then one input FileSpec per input file of the job's parameters.
// Deciding whether an input file is already being staged for another job needs the store: the agent does it.
import { FileSpec, JobSpec, isPlainObject } from '../spec/index.js';

/** A job dict that cannot be made into a JobSpec; `field` names the offending key. */
export class JobConversionError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
    readonly pandaID: unknown,
  ) {
    super(`job ${typeof pandaID === 'number' || typeof pandaID === 'string' ? String(pandaID) : '(no PandaID)'} from PanDA: ${field} ${reason}`);
    this.name = 'JobConversionError';
  }
}

export interface JobConversionContext {
  /** Set as computingSite (harvester: the queue name). */
  readonly queueName: string;
  /** harvester_id: the job gets the schedulerID attribute "harvester-<id>". */
  readonly harvesterId: string;
  /** The queue's ddmEndpointIn, the endpoint of input files; null to leave it unset. */
  readonly ddmEndpointIn: string | null;
  readonly now: Date;
}

/** PanDA's integer fields come as numbers, numeric strings, or "NULL". */
function integerOrNull(data: Record<string, unknown>, key: string, required: boolean): number | null {
  const value = data[key];
  if (value === undefined || value === null || value === 'NULL' || value === '') {
    if (required) throw new JobConversionError(key, 'is missing', data['PandaID']);
    return null;
  }
  const number = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isSafeInteger(number)) throw new JobConversionError(key, `is not an integer (got ${JSON.stringify(value)?.slice(0, 40)})`, data['PandaID']);
  return number;
}

/** harvester's get_output_file_attributes: LFN -> scope, dataset, endpoint, for the outputs and the log. */
export function outputFileAttributes(jobParams: Record<string, unknown>): Record<string, { scope: string; dataset: string; endpoint: string }> {
  const list = (key: string): string[] => (typeof jobParams[key] === 'string' ? (jobParams[key] as string).split(',') : []);
  const lfns = list('outFiles');
  const datasets = list('realDatasets');
  const endpoints = list('ddmEndPointOut');
  // scopeOut lists the outputs other than the log, in order; the log's scope is scopeLog.
  const scopes = list('scopeOut');
  const logFile = typeof jobParams['logFile'] === 'string' ? jobParams['logFile'] : '';
  const scopeLog = typeof jobParams['scopeLog'] === 'string' ? jobParams['scopeLog'] : '';
  const result: Record<string, { scope: string; dataset: string; endpoint: string }> = {};
  let nextScope = 0;
  lfns.forEach((lfn, i) => {
    if (lfn === '' || lfn === 'NULL') return;
    const scope = lfn === logFile ? scopeLog : (scopes[nextScope++] ?? '');
    Object.defineProperty(result, lfn, {
      value: { scope, dataset: datasets[i] ?? '', endpoint: endpoints[i] ?? '' },
      enumerable: true,
      writable: true,
      configurable: true,
    });
  });
  return result;
}

/**
 * A JobSpec from one PanDA job dict: PandaID, taskID, attemptNr, jobsetID, currentPriority, the whole dict
 * as jobParams, jobParamsExtForOutput/Log, status starting/fetched, computingSite, the schedulerID attribute,
 * propagation triggered; and an input FileSpec (to_prepare) per input file. Throws JobConversionError.
 */
export function jobSpecFromPanda(data: unknown, ctx: JobConversionContext): JobSpec {
  if (!isPlainObject(data)) throw new JobConversionError('(job)', 'is not an object', undefined);
  const job = new JobSpec();
  job.PandaID = integerOrNull(data, 'PandaID', true);
  job.taskID = integerOrNull(data, 'taskID', false);
  job.attemptNr = integerOrNull(data, 'attemptNr', false);
  job.jobsetID = integerOrNull(data, 'jobsetID', false);
  job.currentPriority = integerOrNull(data, 'currentPriority', false);
  const zipPerMB = integerOrNull(data, 'zipPerMB', false);
  if (zipPerMB !== null) job.zipPerMB = zipPerMB;
  job.jobParams = { ...data };
  job.jobParamsExtForOutput = outputFileAttributes(data);
  job.jobParamsExtForLog = { lfn: data['logFile'] ?? null, guid: data['logGUID'] ?? null };
  job.computingSite = ctx.queueName;
  job.status = 'starting';
  job.subStatus = 'fetched';
  job.creationTime = ctx.now;
  job.stateChangeTime = ctx.now;
  job.setOneAttribute('schedulerID', `harvester-${ctx.harvesterId}`);
  // A job without input (PanDA sends empty lists, other sources may send none) gets no input FileSpecs.
  if (typeof data['inFiles'] === 'string' && data['inFiles'] !== '') {
    let inputs;
    try {
      inputs = job.getInputFileAttributes();
    } catch (error) {
      throw new JobConversionError('inFiles', `cannot be read with its companion lists: ${(error as Error).message}`, data['PandaID']);
    }
    for (const [lfn, attributes] of Object.entries(inputs)) {
      const file = new FileSpec({
        PandaID: job.PandaID,
        taskID: job.taskID,
        lfn,
        scope: attributes.scope,
        fileType: 'input',
        status: 'to_prepare',
        fsize: attributes.fsize,
        chksum: attributes.checksum === '' || attributes.checksum === 'NULL' ? null : attributes.checksum,
        endpoint: ctx.ddmEndpointIn,
      });
      job.addInFile(file);
    }
  }
  job.triggerPropagation(ctx.now);
  return job;
}
