// How `harvester run` feeds its metrics without the agents knowing: the store and the plugin lookup are
// wrapped (claims timed; every plugin call timed by queue, method and where it ran), the agent loops report
// through their cycle observer, and the scrape-time sources read counts from the store and state from the
// routes. Also used by bench:core to measure what metrics cost.
import { statSync } from 'node:fs';
import type { AgentEnvironment, PluginLookup } from '../agents/environment.js';
import type { QueueConfig } from '../config/index.js';
import type { Logger } from '../logging/index.js';
import { routeLabel, type BotClient } from '../middleware/index.js';
import type { HarvesterMetrics, RouteSample } from '../metrics/index.js';
import type { PluginKind } from '../plugins/index.js';
import type { Store } from '../store/index.js';

/** The environment with its store, plugin lookup and cycle observer reporting to `metrics`. */
export function instrumentEnvironment(env: AgentEnvironment, metrics: HarvesterMetrics): AgentEnvironment {
  return {
    ...env,
    store: timedStore(env.store, metrics),
    plugin: timedPlugins(env.plugin, metrics),
    cycleObserver: (agent, seconds, report, error) => metrics.agentCycle(agent, seconds, report, error),
  };
}

/** The store with its claims timed (the agents' one query per batch; everything else passes through). */
export function timedStore(store: Store, metrics: HarvesterMetrics): Store {
  const timed = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, property) {
      // The store itself as receiver: its getters and methods use private fields a proxy does not have.
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== 'function') return value;
      let wrapper = timed.get(property);
      if (wrapper !== undefined) return wrapper;
      if (typeof property !== 'string' || !property.startsWith('claim')) {
        wrapper = (value as (...a: unknown[]) => unknown).bind(target);
        timed.set(property, wrapper);
        return wrapper;
      }
      const method = value as (...a: unknown[]) => Promise<unknown>;
      wrapper = async (...args: unknown[]) => {
        const started = performance.now();
        try {
          return await method.apply(target, args);
        } finally {
          metrics.storeClaim(property, (performance.now() - started) / 1000);
        }
      };
      timed.set(property, wrapper);
      return wrapper;
    },
  });
}

/** Where a queue's plugin of a kind runs a method: 'local', or the label of the route to its bot. */
export function callPlace(queue: QueueConfig, kind: PluginKind, method: string): string {
  const section = queue[kind];
  if (section?.middleware === undefined || section.bareFunctions.includes(method)) return 'local';
  const middleware = queue.middlewares[section.middleware];
  return middleware === undefined ? 'local' : routeLabel(middleware);
}

/** The plugin lookup whose plugins time every call (one wrapper per queue and kind, made once). */
export function timedPlugins(lookup: PluginLookup, metrics: HarvesterMetrics): PluginLookup {
  const wrapped = new Map<string, { plugin: object; proxy: object }>();
  return (async (queue: QueueConfig, kind: PluginKind) => {
    const plugin = (await lookup(queue, kind)) as object | undefined;
    if (plugin === undefined) return undefined;
    const key = `${queue.queueName}\u0000${kind}`;
    const known = wrapped.get(key);
    if (known?.plugin === plugin) return known.proxy;
    const proxy = timedPlugin(plugin, queue, kind, metrics);
    wrapped.set(key, { plugin, proxy });
    return proxy;
  }) as PluginLookup;
}

function timedPlugin(plugin: object, queue: QueueConfig, kind: PluginKind, metrics: HarvesterMetrics): object {
  const methods = new Map<PropertyKey, unknown>();
  return new Proxy(plugin, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof property !== 'string' || typeof value !== 'function') return value;
      let wrapper = methods.get(property);
      if (wrapper === undefined) {
        const fn = value as (...a: unknown[]) => Promise<unknown>;
        const where = callPlace(queue, kind, property);
        const queueName = queue.queueName;
        wrapper = async (...args: unknown[]) => {
          const started = performance.now();
          let threw: unknown;
          try {
            const result = await fn.apply(target, args);
            if (property === 'submitWorkers') metrics.submission(queueName, submissionOf(result));
            return result;
          } catch (error) {
            threw = error;
            if (property === 'submitWorkers') {
              const workers = Array.isArray(args[1]) ? args[1].length : 0;
              metrics.submission(queueName, { submitted: 0, failed: 0, workers, error: error instanceof Error ? error.message : String(error) });
            }
            throw error;
          } finally {
            metrics.pluginCall(queueName, property, where, (performance.now() - started) / 1000, threw !== undefined, kind);
          }
        };
        methods.set(property, wrapper);
      }
      return wrapper;
    },
  });
}

/** What a submitWorkers answer (one Outcome per worker) came to. */
function submissionOf(result: unknown): { submitted: number; failed: number; error?: string } {
  if (!Array.isArray(result)) return { submitted: 0, failed: 0, error: 'malformed answer' };
  let submitted = 0;
  let failed = 0;
  let firstDiag: string | undefined;
  for (const outcome of result as { kind?: unknown; diag?: unknown }[]) {
    if (outcome?.kind === 'succeeded') submitted++;
    else if (outcome?.kind === 'failed') {
      failed++;
      firstDiag ??= typeof outcome.diag === 'string' ? outcome.diag : undefined;
    }
  }
  return { submitted, failed, ...(submitted === 0 && firstDiag !== undefined ? { error: firstDiag } : {}) };
}

/** The SQLite file with its WAL, in bytes; undefined when it is not there (yet). */
export function sqliteSizeBytes(databaseFile: string): number | undefined {
  let total: number | undefined;
  for (const file of [databaseFile, `${databaseFile}-wal`]) {
    try {
      total = (total ?? 0) + statSync(file).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return total;
}

/** Each route's state, with the bot's health when a link is up (asked in parallel, each within timeoutMs). */
export async function sampleRoutes(clients: readonly BotClient[], timeoutMs: number, onNoAnswer: (route: string, error: unknown) => void): Promise<RouteSample[]> {
  // A route nothing has used yet has no links to count: it shows up once its pool starts.
  return Promise.all(
    clients.filter((client) => client.snapshot().started).map(async (client) => {
      const snap = client.snapshot();
      let bot: RouteSample['bot'];
      if (snap.linksUp > 0) {
        try {
          const h = await client.health(timeoutMs);
          bot = { rssBytes: h.rssBytes, callsInFlight: h.callsInFlight, journalBytes: h.journalBytes, roundTripSeconds: h.roundTripMs / 1000 };
        } catch (error) {
          // No answer: harvester_bot_up says 0 for this route.
          onNoAnswer(snap.route, error);
        }
      }
      return {
        route: snap.route,
        links: snap.links,
        linksUp: snap.linksUp,
        callsInFlight: snap.callsInFlight,
        reconnects: snap.reconnects,
        failuresByType: snap.failuresByType,
        ...(bot === undefined ? {} : { bot }),
      };
    }),
  );
}

/** The scrape-time sources of a running instance. */
export function instanceSources(opts: { store: Store; databaseFile: string | undefined; routes: () => readonly BotClient[]; log: Logger }) {
  const { databaseFile } = opts;
  return {
    workers: () => opts.store.getWorkerStatsByQueue(),
    jobs: () => opts.store.getJobStatsByQueue(),
    // A server engine's size lives on its server (not measured here yet): the gauge is absent then.
    ...(databaseFile === undefined ? {} : { storeSizeBytes: async () => sqliteSizeBytes(databaseFile) }),
    routes: () => sampleRoutes(opts.routes(), 2000, (route, error) => opts.log.debug({ route, err: error }, 'the bot did not answer the health request')),
    onError: (source: string, error: unknown) => opts.log.warn({ source, err: error }, 'a metrics source failed; the scrape goes on without it'),
  };
}
