// What `harvester run` (the daemon) adds for operators: a HarvesterMetrics fed by the instrumented agent
// environment, the control socket in the home (GET /status and /metrics; `harvester status` asks it) and,
// when harvester.json has "metrics": {"host", "port"}, the Prometheus listener.
import type { AgentEnvironment } from '../agents/environment.js';
import { ControlServer, HarvesterMetrics } from '../metrics/index.js';
import { programVersion } from '../version.js';
import type { CliContext } from './context.js';
import { controlSocketPath } from './control-socket.js';
import { instanceStatus } from './instance-status.js';
import { instanceSources, instrumentEnvironment } from './instrument.js';

export interface Monitoring {
  /** The agents' environment, reporting to the metrics. */
  readonly env: AgentEnvironment;
  readonly metrics: HarvesterMetrics;
  close(): Promise<void>;
}

export async function startMonitoring(ctx: CliContext, env: AgentEnvironment): Promise<Monitoring> {
  const startedAt = new Date();
  const metrics = new HarvesterMetrics({ processMetrics: true, version: programVersion() });
  metrics.setSources(instanceSources({ store: env.store, databaseFile: ctx.master.db.engine === 'sqlite' ? ctx.master.db.databaseFile : undefined, routes: () => ctx.routes(), log: ctx.log }));
  let metricsUrl: string | undefined;
  const server = await ControlServer.start({
    metrics,
    socketPath: controlSocketPath(ctx.master.home),
    ...(ctx.master.metrics === undefined ? {} : { listen: ctx.master.metrics }),
    status: () =>
      instanceStatus({ startedAt, home: ctx.master.home, queues: env.queues, metrics, routes: () => ctx.routes(), metricsUrl: () => metricsUrl }),
    onError: (what, error) => ctx.log.error({ endpoint: what, err: error }, 'a control endpoint request failed'),
  });
  const tcp = server.tcpAddress;
  if (tcp !== undefined) {
    const host = tcp.family === 'IPv6' ? `[${tcp.address}]` : tcp.address;
    metricsUrl = `http://${host}:${tcp.port}/metrics`;
  }
  ctx.log.info({ controlSocket: controlSocketPath(ctx.master.home), ...(metricsUrl === undefined ? {} : { metricsUrl }) }, 'metrics and status served');
  return { env: instrumentEnvironment(env, metrics), metrics, close: () => server.close() };
}
