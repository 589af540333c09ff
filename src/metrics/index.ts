// The metrics layer: the instruments of a running instance (HarvesterMetrics) and its control endpoint. It
// imports no other layer; the cli feeds it (src/cli/instrument.ts) and the agents report through hooks of
// their own (AgentLoop's CycleObserver), so they never import it.
export {
  HarvesterMetrics,
  metricNames,
  type AgentCycleRecord,
  type CountsByQueue,
  type HarvesterMetricsOptions,
  type PluginCallRecord,
  type RouteSample,
  type ScrapeSources,
  type SubmissionRecord,
} from './harvester-metrics.js';
export { askControlSocket, ControlEndpointError, ControlServer, type ControlServerOptions } from './control-server.js';
