// The file names harvester and the payload (pilot) exchange in a worker's access point: harvester's
// [payload_interaction] section. The job spec file is the pilot's pandaJobData.out (harvester's template names
// HPCJobs.json; sites set pandaJobData.out for the pilot). Every name can be overridden by a messenger option of
// the same name, as harvester's base_messenger reads them.
import { OptionReader } from './options.js';

export interface PayloadFileNames {
  readonly workerAttributesFile: string;
  readonly jobReportFile: string;
  readonly eventStatusDumpJsonFile: string;
  readonly eventStatusDumpXmlFile: string;
  readonly jobRequestFile: string;
  readonly jobSpecFile: string;
  readonly eventRequestFile: string;
  readonly eventRangesFile: string;
  readonly updateEventsFile: string;
  readonly xmlPoolCatalogFile: string;
  readonly pandaIDsFile: string;
  readonly killWorkerFile: string;
  readonly heartbeatFile: string;
}

export const defaultPayloadFileNames: PayloadFileNames = {
  workerAttributesFile: 'worker_attributes.json',
  jobReportFile: 'jobReport.json',
  eventStatusDumpJsonFile: 'event_status.dump.json',
  eventStatusDumpXmlFile: '_event_status.dump',
  jobRequestFile: 'worker_requestjob.json',
  jobSpecFile: 'pandaJobData.out',
  eventRequestFile: 'worker_requestevents.json',
  eventRangesFile: 'JobsEventRanges.json',
  updateEventsFile: 'worker_updateevents.json',
  xmlPoolCatalogFile: 'PoolFileCatalog_H.xml',
  pandaIDsFile: 'worker_pandaids.json',
  killWorkerFile: 'kill_worker.json',
  heartbeatFile: 'worker_heartbeat.json',
};

/** Files the messenger itself names (not configurable in harvester either). */
export const messengerOwnFiles = {
  /** Post-processing job attributes, merged into the work attributes. */
  postProcessAttrs: 'post_process_job_attrs.json',
  /** Suffix of a json file renamed while harvester reads it, so the payload cannot overwrite it meanwhile. */
  suffixReadJson: '.read',
} as const;

export function payloadFileNames(options: OptionReader): PayloadFileNames {
  const names: Record<string, string> = {};
  for (const [key, fallback] of Object.entries(defaultPayloadFileNames)) names[key] = options.string(key, fallback);
  return names as unknown as PayloadFileNames;
}
