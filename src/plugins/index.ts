// The plugin layer's public API.
export * from './contracts.js';
export * from './outcome.js';
export * from './errors.js';
export * from './call-effect.js';
export { PluginFactory } from './factory.js';
export type {
  BuiltinResolution,
  FileResolution,
  MiddlewareIdentity,
  MiddlewareProvider,
  MiddlewareResolution,
  MiddlewareWrapArgs,
  PluginCheck,
  PluginCheckOptions,
  PluginFactoryOptions,
  PluginRequest,
  Resolution,
} from './factory.js';
export { builtinPlugins, type BuiltinPluginInfo, type PluginClass } from './registry.js';
export {
  accessPointHomeOf,
  accessPointOwnerOf,
  accessPointSourceOf,
  accessPointTemplateOf,
  accessPointWarnings,
  createLocalAccessPoints,
  defaultAccessPointTemplate,
  expandAccessPoint,
  resolveAccessPointsUnder,
  workerAccessPoint,
  AccessPointError,
  type AccessPointOwner,
  type AccessPointSource,
  type AccessPointWarning,
} from './access-point.js';
export {
  chunkJobsForWorkers,
  jobsNeededFor,
  jobsPerWorker,
  normalizeMapType,
  workersPerJob,
  UnknownMapTypeError,
  type ChunkOptions,
  type ChunkableJob,
  type MapTypeSizes,
} from './map-types.js';
export { abortedDiag, forEachUntilAborted, throwIfAborted } from './abort.js';
export { defaultItemConcurrency, mapBounded } from './bounded-map.js';
export type { PluginOptions } from './options.js';
export { defaultPayloadFileNames, type PayloadFileNames } from './payload-files.js';
export { DummySubmitter } from './builtin/dummy-submitter.js';
export { DummySingletonSubmitter } from './builtin/dummy-singleton-submitter.js';
export { DummyMonitor } from './builtin/dummy-monitor.js';
export { DummySweeper } from './builtin/dummy-sweeper.js';
export { LocalProcessSubmitter } from './builtin/local-process-submitter.js';
export { LocalProcessMonitor } from './builtin/local-process-monitor.js';
export { LocalProcessSweeper } from './builtin/local-process-sweeper.js';
export { DummyStager } from './builtin/dummy-stager.js';
export { DummyPreparator } from './builtin/dummy-preparator.js';
export { SharedFileMessenger } from './builtin/shared-file-messenger.js';
export { SimpleWorkerMaker, pilotTypeOf, type QueueResources } from './builtin/simple-worker-maker.js';
export {
  SimpleThrottler,
  type MissedRule,
  type MissedWorkerCounter,
  type MissedWorkerCriteria,
} from './builtin/simple-throttler.js';
