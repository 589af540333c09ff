// The communicator layer's public API: job sources (the JobSource contract, the PanDA client) and the
// pandacon configuration. The embedded queue lives with the store and implements the same JobSource.
export {
  JobSourceError,
  hasHarvesterCommands,
  hasHarvesterDialogs,
  hasHarvesterReports,
  type HarvesterCommands,
  type HarvesterDialogs,
  type HarvesterReports,
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
export {
  displayUrl,
  PandaCommunicatorError,
  PandaCredentialsError,
  PandaHttpError,
  PandaNetworkError,
  PandaResponseError,
  PandaServerError,
  PandaTimeoutError,
  PandaTlsError,
} from './errors.js';
export { PANDACON_SECTION, pandaconSchema, pandaConfigFrom, type PandaConfig, type PandaConfigOptions, type TokenSource } from './config.js';
export { PandaClient, type PandaClientOptions } from './panda-client.js';
export { JobConversionError, jobSpecFromPanda, outputFileAttributes, type JobConversionContext } from './job-conversion.js';
export { eventUpdateData, jobAttributesForPanda, jobUpdateData, pandaJobAttributes } from './job-report.js';
