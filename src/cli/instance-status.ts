// The status document a running instance serves on its control socket (GET /status), and what
// `harvester status` reads from it: the instance, its agents' last cycles, its queues' last submissions and
// each route's health (the bot asked at once, within a short deadline).
import type { QueueConfig } from '../config/index.js';
import type { BotClient } from '../middleware/index.js';
import { routeLabel } from '../middleware/index.js';
import type { AgentCycleRecord, HarvesterMetrics, PluginCallRecord, SubmissionRecord } from '../metrics/index.js';
import { pluginKinds } from '../plugins/index.js';
import { programVersion } from '../version.js';

export interface RouteStatus {
  readonly route: string;
  readonly description: string;
  readonly queues: readonly string[];
  /** Whether anything used the route yet (its tunnel pool opens on the first remote call). */
  readonly used: boolean;
  readonly links: number;
  readonly linksUp: number;
  readonly callsInFlight: number;
  readonly reconnects: number;
  readonly calls: number;
  readonly failures: Readonly<Record<string, number>>;
  readonly reachable: boolean;
  readonly botVersion?: string;
  readonly transport?: string;
  readonly roundTripMs?: number;
  readonly bot?: { readonly rssBytes: number; readonly callsInFlight: number; readonly journalBytes: number; readonly connections: number; readonly uptimeSeconds: number };
  /** The last thing that went wrong on the route (a failed call, a link down, no health answer), with its time. */
  readonly lastError?: { readonly message: string; readonly at: string };
}

export interface InstanceStatus {
  readonly instance: {
    readonly pid: number;
    readonly startedAt: string;
    readonly uptimeSeconds: number;
    readonly version: string;
    readonly home: string;
    readonly metricsUrl?: string;
  };
  readonly queues: readonly { readonly name: string; readonly routes: readonly string[] }[];
  readonly agents: Readonly<Record<string, AgentCycleRecord>>;
  readonly submissions: Readonly<Record<string, SubmissionRecord>>;
  /** By queue, then plugin kind (submitter, monitor, sweeper, ...): the queue's last plugin call of that kind. */
  readonly pluginCalls: Readonly<Record<string, Readonly<Record<string, PluginCallRecord>>>>;
  readonly routes: readonly RouteStatus[];
}

/** The routes a queue's remote sections go through, by label. */
export function routesOf(queue: QueueConfig): string[] {
  const labels = new Set<string>();
  for (const kind of pluginKinds) {
    const key = queue[kind]?.middleware;
    const mw = key === undefined ? undefined : queue.middlewares[key];
    if (mw !== undefined) labels.add(routeLabel(mw));
  }
  return [...labels];
}

export interface StatusSources {
  readonly startedAt: Date;
  readonly home: string;
  readonly queues: readonly QueueConfig[];
  readonly metrics: HarvesterMetrics;
  readonly routes: () => readonly BotClient[];
  readonly metricsUrl: () => string | undefined;
}

export async function instanceStatus(src: StatusSources): Promise<InstanceStatus> {
  const queues = src.queues.map((q) => ({ name: q.queueName, routes: routesOf(q) }));
  const { agents, submissions, pluginCalls } = src.metrics.activity();
  const url = src.metricsUrl();
  return {
    instance: {
      pid: process.pid,
      startedAt: src.startedAt.toISOString(),
      uptimeSeconds: Math.round((Date.now() - src.startedAt.getTime()) / 1000),
      version: programVersion(),
      home: src.home,
      ...(url === undefined ? {} : { metricsUrl: url }),
    },
    queues,
    agents,
    submissions,
    pluginCalls,
    routes: await Promise.all(src.routes().map((client) => routeStatus(client, queues))),
  };
}

async function routeStatus(client: BotClient, queues: readonly { name: string; routes: readonly string[] }[]): Promise<RouteStatus> {
  const snap = client.snapshot();
  let health: Awaited<ReturnType<BotClient['health']>> | undefined;
  let healthError: { message: string; at: string } | undefined;
  if (snap.linksUp > 0) {
    try {
      health = await client.health(3000);
    } catch (error) {
      healthError = { message: `the bot did not answer the health request: ${error instanceof Error ? error.message : String(error)}`, at: new Date().toISOString() };
    }
  }
  const lastCall = snap.lastError === undefined ? undefined : { message: `${snap.lastError.type}: ${snap.lastError.message}`, at: snap.lastError.at.toISOString() };
  const linkDown = snap.started && snap.linksUp === 0 ? { message: `no link up: ${snap.linkError ?? 'connecting'}`, at: new Date().toISOString() } : undefined;
  const lastError = healthError ?? linkDown ?? lastCall;
  return {
    route: snap.route,
    description: snap.description,
    queues: queues.filter((q) => q.routes.includes(snap.route)).map((q) => q.name),
    used: snap.started,
    links: snap.links,
    linksUp: snap.linksUp,
    callsInFlight: snap.callsInFlight,
    reconnects: snap.reconnects,
    calls: snap.calls,
    failures: Object.fromEntries(snap.failuresByType),
    reachable: health !== undefined,
    ...(health?.botVersion ?? snap.botVersion) === undefined ? {} : { botVersion: health?.botVersion ?? snap.botVersion },
    ...(snap.transport === undefined ? {} : { transport: snap.transport }),
    ...(health === undefined
      ? {}
      : {
          roundTripMs: Math.round(health.roundTripMs * 10) / 10,
          bot: { rssBytes: health.rssBytes, callsInFlight: health.callsInFlight, journalBytes: health.journalBytes, connections: health.connections, uptimeSeconds: health.uptimeSeconds },
        }),
    ...(lastError === undefined ? {} : { lastError }),
  };
}
