export type { MapType, MiddlewareConfig, PluginSection, QueueConfig, QueueStatus, Secret, SecretSource } from './types.js';
export { mapTypes, queueStatuses } from './types.js';
export { ConfigFileError, ConfigInvalidError, formatProblem, type ConfigProblem } from './problems.js';
export { JsonSyntaxError } from './json-text.js';
export { loadQueueConfig, parseQueueConfig, type QueueConfigLoad, type UnbuiltSection, type QueueConfigOptions } from './queue-config.js';
export { maskedQueueConfig, type JsonValue } from './masked.js';
export { describeSecret } from './secret-values.js';
export { methodNameToCamelCase } from './method-names.js';
export { TEMPLATE_NAME_SUFFIX } from './templates.js';
export { RPC_HERDER_MODULE, RPC_HERDER_NAME, pluginSectionKeys } from './queue-schema.js';
export {
  loadMasterConfig,
  MASTER_CONFIG_NAME,
  QUEUE_CONFIG_NAME,
  shippedExampleQueueConfig,
  type MasterConfig,
  type MasterConfigOptions,
  type MetricsListenSettings,
  DEFAULT_METRICS_HOST,
  type JobSourceKind,
  type QueueConfigOrigin,
} from './master-config.js';
export { defaultHarvesterID, harvesterIDFrom } from './harvester-id.js';
export { agentNames, defaultAgentSettings, type AgentName, type AgentSettings, type DbSettings } from './agent-settings.js';
