// Every instrument harvester exposes, in one registry object that `harvester run` builds and passes to the
// parts that report (agent loops, the plugin and store wrappers, the collectors of routes and counts). Nothing
// here is global: a unit test builds its own HarvesterMetrics and reads it back.
//
// Labels are bounded by the configuration and the code: queue, agent, method, route, status, where (local or
// a route), action (the keys of an agent's cycle report) and type (an error class name). Never a worker ID or
// a PandaID.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Seconds: plugin calls and agent cycles run from sub-millisecond (dummy plugins) to minutes (sbatch storms). */
const durationBuckets = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
/** Seconds: a claim is one query (and a commit) on the store. */
const claimBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** Where a plugin call ran: 'local', or the route's label (the herder sent it to a bot). */
export type CallPlace = string;

export interface HarvesterMetricsOptions {
  /** The process metrics of prom-client (RSS, CPU, event-loop lag, heap, GC): on in `harvester run`. */
  readonly processMetrics?: boolean;
  readonly version: string;
}

/** The names this registry defines (the dashboard and the rules file may use only these). */
export const metricNames = {
  info: 'harvester_info',
  workers: 'harvester_workers',
  jobs: 'harvester_jobs',
  agentCycleSeconds: 'harvester_agent_cycle_seconds',
  agentCycleItems: 'harvester_agent_cycle_items_total',
  agentCycleErrors: 'harvester_agent_cycle_errors_total',
  agentLastCycle: 'harvester_agent_last_cycle_timestamp_seconds',
  pluginCallSeconds: 'harvester_plugin_call_seconds',
  pluginCallErrors: 'harvester_plugin_call_errors_total',
  remoteCallFailures: 'harvester_remote_call_failures_total',
  remoteCallsInFlight: 'harvester_remote_calls_in_flight',
  tunnelLinks: 'harvester_tunnel_links',
  tunnelLinksUp: 'harvester_tunnel_links_up',
  tunnelReconnects: 'harvester_tunnel_reconnects_total',
  botUp: 'harvester_bot_up',
  botRss: 'harvester_bot_resident_memory_bytes',
  botCallsInFlight: 'harvester_bot_calls_in_flight',
  botJournalBytes: 'harvester_bot_journal_bytes',
  botHealthSeconds: 'harvester_bot_health_round_trip_seconds',
  workerSubmissions: 'harvester_worker_submissions_total',
  storeSize: 'harvester_store_size_bytes',
  storeClaimSeconds: 'harvester_store_claim_seconds',
  collectErrors: 'harvester_metrics_collect_errors_total',
} as const;

/** prom-client's default gauges whose names end in _total. */
const lintFailingDefaults = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** What is counted per queue: worker or job status counts (read from the store at scrape time). */
export type CountsByQueue = ReadonlyMap<string, Readonly<Record<string, number>>>;

/** One route's tunnel pool and bot, as the collector reads them at scrape time. */
export interface RouteSample {
  readonly route: string;
  readonly links: number;
  readonly linksUp: number;
  readonly callsInFlight: number;
  /** Times a link came up again after the first (every slot's connects beyond its first). */
  readonly reconnects: number;
  /** Remote call failures by error class name, since start. */
  readonly failuresByType: ReadonlyMap<string, number>;
  /** The bot's answer to the health request; undefined when it did not answer (or no link is up). */
  readonly bot?: { readonly rssBytes: number; readonly callsInFlight: number; readonly journalBytes: number; readonly roundTripSeconds: number };
}

/** What the registry asks for when it is scraped; each part may fail on its own (counted, logged by the caller). */
export interface ScrapeSources {
  readonly workers?: () => Promise<CountsByQueue>;
  readonly jobs?: () => Promise<CountsByQueue>;
  readonly storeSizeBytes?: () => Promise<number | undefined>;
  readonly routes?: () => Promise<readonly RouteSample[]>;
  /** Told about a source that failed (the scrape carries on without it). */
  readonly onError?: (source: string, error: unknown) => void;
}

/** An agent's last cycle, for `harvester status`. */
export interface AgentCycleRecord {
  readonly at: string;
  readonly seconds: number;
  readonly cycles: number;
  readonly report: Readonly<Record<string, number>>;
  readonly error?: string;
}

/** A queue's recent submissions, for `harvester status`: what the last submitWorkers call came to. */
export interface SubmissionRecord {
  readonly at: string;
  /** Workers the plugin answered as submitted / as failed in that call (0/0 when the call threw). */
  readonly submitted: number;
  readonly failed: number;
  /** The call threw (its message), or every worker failed (the first diag). */
  readonly error?: string;
  /** Calls in a row that submitted nothing (threw, or every worker failed). */
  readonly failingInARow: number;
}

/** A queue's last plugin call of one kind (submitter, monitor, ...), for `harvester status`. */
export interface PluginCallRecord {
  readonly at: string;
  readonly method: string;
  readonly seconds: number;
  readonly failed: boolean;
}

export class HarvesterMetrics {
  readonly registry = new Registry();
  readonly #agents = new Map<string, AgentCycleRecord>();
  readonly #submissions = new Map<string, SubmissionRecord>();
  readonly #queueCalls = new Map<string, Map<string, PluginCallRecord>>();
  readonly #agentCycleSeconds: Histogram<'agent'>;
  readonly #agentCycleItems: Counter<'agent' | 'action'>;
  readonly #agentCycleErrors: Counter<'agent'>;
  readonly #agentLastCycle: Gauge<'agent'>;
  readonly #pluginCallSeconds: Histogram<'queue' | 'method' | 'where'>;
  readonly #pluginCallErrors: Counter<'queue' | 'method' | 'where'>;
  readonly #storeClaimSeconds: Histogram<'method'>;
  readonly #workerSubmissions: Counter<'queue' | 'status'>;
  readonly #collectErrors: Counter<'source'>;
  #sources: ScrapeSources = {};

  constructor(opts: HarvesterMetricsOptions) {
    const registers = [this.registry];
    new Gauge({ name: metricNames.info, help: 'Always 1; the version label says which harvester-ts runs', labelNames: ['version'], registers }).set({ version: opts.version }, 1);
    this.#agentCycleSeconds = new Histogram({ name: metricNames.agentCycleSeconds, help: 'Duration of one agent cycle over every queue', labelNames: ['agent'], buckets: durationBuckets, registers });
    this.#agentCycleItems = new Counter({
      name: metricNames.agentCycleItems,
      help: "What agent cycles did, by the keys of the cycle's report (claimed, submitted, failed, ...)",
      labelNames: ['agent', 'action'],
      registers,
    });
    this.#agentCycleErrors = new Counter({ name: metricNames.agentCycleErrors, help: 'Agent cycles that failed as a whole (the agent carried on)', labelNames: ['agent'], registers });
    this.#agentLastCycle = new Gauge({ name: metricNames.agentLastCycle, help: 'When the agent last finished a cycle (Unix time)', labelNames: ['agent'], registers });
    this.#pluginCallSeconds = new Histogram({
      name: metricNames.pluginCallSeconds,
      help: "Plugin call latency by queue, method and where it ran ('local' or the route to the bot)",
      labelNames: ['queue', 'method', 'where'],
      buckets: durationBuckets,
      registers,
    });
    this.#pluginCallErrors = new Counter({ name: metricNames.pluginCallErrors, help: 'Plugin calls that threw', labelNames: ['queue', 'method', 'where'], registers });
    this.#workerSubmissions = new Counter({
      name: metricNames.workerSubmissions,
      help: "Workers the submitter plugin answered for, by queue and outcome (submitted, failed; 'error' per worker of a call that threw)",
      labelNames: ['queue', 'status'],
      registers,
    });
    this.#storeClaimSeconds = new Histogram({ name: metricNames.storeClaimSeconds, help: 'Latency of the store claims agents make', labelNames: ['method'], buckets: claimBuckets, registers });
    this.#collectErrors = new Counter({ name: metricNames.collectErrors, help: 'Scrape-time sources that failed (store counts, routes); a failure shows from the next scrape', labelNames: ['source'], registers });
    this.#defineScrapeGauges(registers);
    if (opts.processMetrics === true) {
      collectDefaultMetrics({ register: this.registry });
      // Gauges named *_total break Prometheus's naming rules (`promtool check metrics` fails on them) and say
      // little an operator acts on: dropped.
      for (const name of lintFailingDefaults) this.registry.removeSingleMetric(name);
    }
  }

  /** The scrape-time sources (store counts, routes); replaces any given before. */
  setSources(sources: ScrapeSources): void {
    this.#sources = sources;
  }

  // ---- hooks the running instance calls ----

  /** One agent cycle ended: its duration, its report, and the error that ended it when it failed. */
  agentCycle(agent: string, seconds: number, report: Readonly<Record<string, number>>, error?: unknown): void {
    this.#agentCycleSeconds.observe({ agent }, seconds);
    for (const [action, n] of Object.entries(report)) if (n > 0) this.#agentCycleItems.inc({ agent, action }, n);
    if (error !== undefined) this.#agentCycleErrors.inc({ agent });
    this.#agentLastCycle.set({ agent }, Date.now() / 1000);
    const cycles = (this.#agents.get(agent)?.cycles ?? 0) + 1;
    this.#agents.set(agent, { at: new Date().toISOString(), seconds, cycles, report, ...(error === undefined ? {} : { error: messageOf(error) }) });
  }

  /** What a queue's submitWorkers call came to (the plugin wrapper reads its outcomes). */
  submission(queue: string, result: { readonly submitted: number; readonly failed: number; readonly error?: string; readonly workers?: number }): void {
    if (result.submitted > 0) this.#workerSubmissions.inc({ queue, status: 'submitted' }, result.submitted);
    if (result.failed > 0) this.#workerSubmissions.inc({ queue, status: 'failed' }, result.failed);
    if (result.workers !== undefined && result.workers > 0 && result.submitted + result.failed === 0) this.#workerSubmissions.inc({ queue, status: 'error' }, result.workers);
    const nothing = result.submitted === 0 && (result.failed > 0 || result.error !== undefined);
    const before = this.#submissions.get(queue)?.failingInARow ?? 0;
    this.#submissions.set(queue, { at: new Date().toISOString(), ...result, failingInARow: nothing ? before + 1 : 0 });
  }

  /** The agents' last cycles and the queues' last submissions, for the status endpoint. */
  activity(): {
    readonly agents: Readonly<Record<string, AgentCycleRecord>>;
    readonly submissions: Readonly<Record<string, SubmissionRecord>>;
    /** By queue, then plugin kind: the last call. */
    readonly pluginCalls: Readonly<Record<string, Readonly<Record<string, PluginCallRecord>>>>;
  } {
    return {
      agents: Object.fromEntries(this.#agents),
      submissions: Object.fromEntries(this.#submissions),
      pluginCalls: Object.fromEntries([...this.#queueCalls].map(([queue, calls]) => [queue, Object.fromEntries(calls)])),
    };
  }

  /** One plugin call ended; `kind` (the plugin's section: submitter, monitor, ...) keeps the queue's last call per kind. */
  pluginCall(queue: string, method: string, where: CallPlace, seconds: number, threw: boolean, kind?: string): void {
    this.#pluginCallSeconds.observe({ queue, method, where }, seconds);
    if (threw) this.#pluginCallErrors.inc({ queue, method, where });
    if (kind !== undefined) {
      let calls = this.#queueCalls.get(queue);
      if (calls === undefined) this.#queueCalls.set(queue, (calls = new Map()));
      calls.set(kind, { at: new Date().toISOString(), method, seconds, failed: threw });
    }
  }

  storeClaim(method: string, seconds: number): void {
    this.#storeClaimSeconds.observe({ method }, seconds);
  }

  /** The text Prometheus scrapes. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  // ---- scrape-time gauges ----

  #defineScrapeGauges(registers: Registry[]): void {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- prom-client calls collect() with the gauge as this
    const metrics = this;
    const failed = (source: string, error: unknown): void => {
      metrics.#collectErrors.inc({ source });
      metrics.#sources.onError?.(source, error);
    };
    const countsGauge = (name: string, help: string, read: () => ScrapeSources['workers']) =>
      new Gauge({
        name,
        help,
        labelNames: ['queue', 'status'],
        registers,
        async collect() {
          const source = read();
          if (source === undefined) return;
          this.reset();
          try {
            for (const [queue, counts] of await source()) for (const [status, n] of Object.entries(counts)) this.set({ queue, status }, n);
          } catch (error) {
            failed(name, error);
          }
        },
      });
    countsGauge(metricNames.workers, 'Workers in the store by queue and status', () => metrics.#sources.workers);
    countsGauge(metricNames.jobs, 'Jobs in the store by queue and status', () => metrics.#sources.jobs);
    new Gauge({
      name: metricNames.storeSize,
      help: 'Size of the store on disk (the SQLite file with its WAL)',
      registers,
      async collect() {
        const source = metrics.#sources.storeSizeBytes;
        if (source === undefined) return;
        try {
          const bytes = await source();
          if (bytes !== undefined) this.set(bytes);
        } catch (error) {
          failed(metricNames.storeSize, error);
        }
      },
    });

    // The route gauges are filled together from one sample per route, taken by the first of them collected.
    let sample: Promise<readonly RouteSample[]> | undefined;
    const routeSample = (): Promise<readonly RouteSample[]> => {
      if (sample === undefined) {
        const source = metrics.#sources.routes;
        sample = (source === undefined ? Promise.resolve([]) : source()).catch((error: unknown) => {
          failed('routes', error);
          return [];
        });
        // One sample per scrape: the next scrape takes a new one.
        void sample.finally(() => setImmediate(() => (sample = undefined)));
      }
      return sample;
    };
    const routeGauge = (name: string, help: string, value: (r: RouteSample) => number | undefined) =>
      new Gauge({
        name,
        help,
        labelNames: ['route'],
        registers,
        async collect() {
          const routes = await routeSample();
          this.reset();
          for (const r of routes) {
            const v = value(r);
            if (v !== undefined) this.set({ route: r.route }, v);
          }
        },
      });
    routeGauge(metricNames.tunnelLinks, 'SSH links the tunnel pool keeps (numTunnels)', (r) => r.links);
    routeGauge(metricNames.tunnelLinksUp, 'SSH links of the tunnel pool that are up', (r) => r.linksUp);
    routeGauge(metricNames.remoteCallsInFlight, 'Remote plugin calls waiting for the bot', (r) => r.callsInFlight);
    routeGauge(metricNames.botUp, '1 when the bot answered the health request at this scrape', (r) => (r.bot === undefined ? 0 : 1));
    routeGauge(metricNames.botRss, "The bot's resident memory, as it reports it", (r) => r.bot?.rssBytes);
    routeGauge(metricNames.botCallsInFlight, 'Calls running in the bot, as it reports them', (r) => r.bot?.callsInFlight);
    routeGauge(metricNames.botJournalBytes, "Size of the bot's call journal, as it reports it", (r) => r.bot?.journalBytes);
    routeGauge(metricNames.botHealthSeconds, 'Round trip of the health request to the bot', (r) => r.bot?.roundTripSeconds);
    new Counter({
      name: metricNames.tunnelReconnects,
      help: 'Times a link of the tunnel pool came up again after its first connect',
      labelNames: ['route'],
      registers,
      async collect() {
        const routes = await routeSample();
        this.reset();
        for (const r of routes) this.inc({ route: r.route }, r.reconnects);
      },
    });
    new Counter({
      name: metricNames.remoteCallFailures,
      help: 'Remote plugin calls that failed, by route and error type',
      labelNames: ['route', 'type'],
      registers,
      async collect() {
        const routes = await routeSample();
        this.reset();
        for (const r of routes) for (const [type, n] of r.failuresByType) this.inc({ route: r.route, type }, n);
      },
    });
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
