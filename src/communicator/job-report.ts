// What harvester tells PanDA about a job: the dict of one updateJobsInBulk entry (its update_jobs), and the
// event updates (JobSpec.to_event_data), built from our specs with harvester's rules.
import type { EventSpec, FileSpec, JobSpec } from '../spec/index.js';
import type { EventRangeUpdate } from './job-source.js';

/** The job attributes PanDA's updateJob accepts (harvester's get_job_attributes_for_panda). */
export const pandaJobAttributes: ReadonlySet<string> = new Set([
  'token', 'transExitCode', 'pilotErrorCode', 'pilotErrorDiag', 'timestamp', 'node', 'workdir',
  'cpuConsumptionTime', 'cpuConsumptionUnit', 'remainingSpace', 'schedulerID', 'pilotID', 'siteName',
  'messageLevel', 'pilotLog', 'cpuConversionFactor', 'exeErrorCode', 'exeErrorDiag', 'pilotTiming',
  'computingElement', 'startTime', 'endTime', 'nEvents', 'nInputFiles', 'batchID', 'attemptNr', 'jobMetrics',
  'stdout', 'coreCount', 'maxRSS', 'maxVMEM', 'maxSWAP', 'maxPSS', 'avgRSS', 'avgVMEM', 'avgSWAP', 'avgPSS',
  'totRCHAR', 'totWCHAR', 'totRBYTES', 'totWBYTES', 'rateRCHAR', 'rateWCHAR', 'rateRBYTES', 'rateWBYTES',
  'corruptedFiles', 'meanCoreCount', 'cpu_architecture_level',
]);

/** harvester's '%Y-%m-%d %H:%M:%S', in UTC as harvester's naive datetimes are. */
export function pandaSeconds(date: Date): string {
  return `${date.toISOString().slice(0, 10)} ${date.toISOString().slice(11, 19)}`;
}

export function jobAttributesForPanda(job: JobSpec): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(job.jobAttributes ?? {})) {
    if (!pandaJobAttributes.has(name)) continue;
    if (name === 'exeErrorCode' && typeof value === 'string' && /^-?\d+$/.test(value.trim())) data[name] = Number(value);
    else data[name] = value;
  }
  return data;
}

/** One entry of updateJobsInBulk's jobList, as harvester's update_jobs builds it. */
export function jobUpdateData(job: JobSpec): Record<string, unknown> {
  const data = jobAttributesForPanda(job);
  data['jobId'] = job.PandaID;
  data['siteName'] = job.computingSite;
  data['state'] = job.getStatus();
  data['attemptNr'] = job.attemptNr;
  data['jobSubStatus'] = job.subStatus;
  // PanDA does not take cancelled or missed: they are sent as failed, the reason in jobSubStatus.
  if (data['state'] === 'cancelled' || data['state'] === 'missed') {
    data['jobSubStatus'] = job.isPilotClosed() ? 'pilot_closed' : data['state'];
    data['state'] = 'failed';
  }
  if (job.startTime !== null && !('startTime' in data)) data['startTime'] = pandaSeconds(job.startTime);
  if (job.endTime !== null && !('endTime' in data)) data['endTime'] = pandaSeconds(job.endTime);
  if (!('coreCount' in data) && job.nCore !== null) data['coreCount'] = job.nCore;
  if (job.isFinalStatus() && job.status === job.getStatus()) {
    if (job.metaData !== null && job.metaData !== undefined) data['metaData'] = JSON.stringify(job.metaData);
    if (job.outputFilesToReport !== null && job.outputFilesToReport !== undefined) data['xml'] = job.outputFilesToReport;
  }
  return data;
}

/** The zip file an event's output went into: event.fileID -> that file's zipFileID -> the zip FileSpec. */
function zipFileOf(event: EventSpec, files: readonly FileSpec[]): FileSpec | null {
  if (event.fileID === null) return null;
  const own = files.find((f) => f.fileID === event.fileID);
  if (own === undefined || own.zipFileID === null) return null;
  return files.find((f) => f.fileID === own.zipFileID) ?? null;
}

function zipFileData(zip: FileSpec): Record<string, unknown> {
  let objstoreID = String(zip.objstoreID);
  if (zip.pathConvention !== null) objstoreID += `/${zip.pathConvention}`;
  const data: Record<string, unknown> = { lfn: zip.lfn, objstoreID };
  if (zip.fsize !== null && zip.fsize !== 0) data['fsize'] = zip.fsize;
  if (zip.chksum !== null) {
    if (zip.chksum.startsWith('md:')) Object.assign(data, { type: 'md5', checksum: zip.chksum.split(':').at(-1) });
    else if (zip.chksum.startsWith('ad:')) Object.assign(data, { type: 'adler32', checksum: zip.chksum.split(':').at(-1) });
    else Object.assign(data, { type: 'adler32', checksum: zip.chksum });
  }
  return data;
}

/**
 * The job's events grouped by zip file as updateEventRanges takes them (harvester's to_event_data), and the
 * EventSpecs in the order their results will come back. Stops after the group that passes maxEvents.
 */
export function eventUpdateData(job: JobSpec, maxEvents = 10_000): { updates: EventRangeUpdate[]; events: EventSpec[] } {
  const groups = new Map<FileSpec | null, EventSpec[]>();
  for (const event of job.events) {
    const zip = zipFileOf(event, job.outFiles);
    const group = groups.get(zip);
    if (group === undefined) groups.set(zip, [event]);
    else group.push(event);
  }
  const updates: EventRangeUpdate[] = [];
  const events: EventSpec[] = [];
  const sourceURL = job.jobParams?.['sourceURL'];
  for (const [zip, group] of groups) {
    const update: { eventRanges: Record<string, unknown>[]; sourceURL?: string; zipFile?: Record<string, unknown> } = {
      eventRanges: group.map((e) => e.toData()),
    };
    events.push(...group);
    if (typeof sourceURL === 'string') update.sourceURL = sourceURL;
    if (zip !== null && zip.status === 'finished') update.zipFile = zipFileData(zip);
    updates.push(update);
    if (events.length > maxEvents) break;
  }
  return { updates, events };
}

/**
 * The names API v1's update_job takes for the keys of a job report (harvester's get_job_attributes_for_panda
 * and update_jobs). Keys without a v1 name (token, timestamp, workdir...) are left out: update_job would refuse
 * the whole job for an unexpected argument.
 */
const v1Names: Readonly<Record<string, string>> = {
  jobId: 'job_id', state: 'job_status', jobSubStatus: 'job_sub_status', siteName: 'site_name', attemptNr: 'attempt_nr',
  metaData: 'meta_data', xml: 'job_output_report', transExitCode: 'trans_exit_code', pilotErrorCode: 'pilot_error_code',
  pilotErrorDiag: 'pilot_error_diag', node: 'node', cpuConsumptionTime: 'cpu_consumption_time',
  cpuConsumptionUnit: 'cpu_consumption_unit', schedulerID: 'scheduler_id', pilotID: 'pilot_id', pilotLog: 'pilot_log',
  cpuConversionFactor: 'cpu_conversion_factor', exeErrorCode: 'exe_error_code', exeErrorDiag: 'exe_error_diag',
  pilotTiming: 'pilot_timing', startTime: 'start_time', endTime: 'end_time', nEvents: 'n_events', nInputFiles: 'n_input_files',
  batchID: 'batch_id', jobMetrics: 'job_metrics', stdout: 'stdout', coreCount: 'core_count', maxRSS: 'max_rss',
  maxVMEM: 'max_vmem', maxSWAP: 'max_swap', maxPSS: 'max_pss', avgRSS: 'avg_rss', avgVMEM: 'avg_vmem', avgSWAP: 'avg_swap',
  avgPSS: 'avg_pss', totRCHAR: 'tot_rchar', totWCHAR: 'tot_wchar', totRBYTES: 'tot_rbytes', totWBYTES: 'tot_wbytes',
  rateRCHAR: 'rate_rchar', rateWCHAR: 'rate_wchar', rateRBYTES: 'rate_rbytes', rateWBYTES: 'rate_wbytes',
  corruptedFiles: 'corrupted_files', meanCoreCount: 'mean_core_count', cpu_architecture_level: 'cpu_architecture_level',
};

/** A job report (jobUpdateData) in API v1's names, as harvester's update_jobs sends it to pilot/update_jobs_bulk. */
export function v1JobReport(report: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(report)) {
    const name = v1Names[key];
    if (name !== undefined && value !== undefined) out[name] = value;
  }
  return out;
}
