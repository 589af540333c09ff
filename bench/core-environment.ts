// What the core benchmark runs the agents in: a fresh harvester home in a temporary directory, a real
// store of the engine chosen (SQLite on a file there by default, see core-store.ts), one NoJob queue with the dummy plugins (built by the real plugin factory from
// a queue configuration, as `harvester run` builds them), the real Submitter, Monitor and Sweeper, and a clock
// the benchmark moves, so check intervals and keep times pass at once instead of being slept through.
// The dummy batch system keeps each worker's state in status.txt in its access point; `setBatchStatus` plays
// the resource, moving every worker along (its time is not the harvester's, and is not measured).
import { setMaxListeners } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedJobSource } from '../src/agents/embedded-job-source.js';
import type { AgentEnvironment, PluginLookup } from '../src/agents/environment.js';
import { Monitor } from '../src/agents/monitor.js';
import { Submitter } from '../src/agents/submitter.js';
import { Sweeper } from '../src/agents/sweeper.js';
import { defaultAgentSettings, parseQueueConfig, type AgentSettings, type QueueConfig } from '../src/config/index.js';
import type { Logger } from '../src/logging/index.js';
import { writeStatusFile } from '../src/plugins/builtin/status-file.js';
import { PluginFactory } from '../src/plugins/index.js';
import type { Store } from '../src/store/index.js';
import { HarvesterMetrics } from '../src/metrics/index.js';
import { instrumentEnvironment, sqliteSizeBytes } from '../src/cli/instrument.js';
import { benchEngine, openBenchStore } from './core-store.js';

export const benchQueueName = 'BENCH_NOJOB';

/** Batch sizes of one benchmark environment; the rest of the agents' settings are harvester-ts's defaults. */
export interface CoreBatches {
  /** submitter.maxNewWorkers: new workers per cycle. */
  readonly submitter: number;
  /** monitor.maxWorkers: workers checked per cycle. */
  readonly monitor: number;
  /** sweeper.maxWorkers: workers cleaned up per final status and cycle. */
  readonly sweeper: number;
}

/** The batch sizes `harvester run` uses when harvester.json says nothing. */
export const defaultBatches: CoreBatches = {
  submitter: defaultAgentSettings.submitter.maxNewWorkers,
  monitor: defaultAgentSettings.monitor.maxWorkers,
  sweeper: defaultAgentSettings.sweeper.maxWorkers,
};

/** The benchmark's setup is not what it should be (a queue that does not build, a plugin missing). */
export class CoreBenchSetupError extends Error {
  constructor(
    message: string,
    readonly step: string,
  ) {
    super(`${message} (step ${step})`);
    this.name = 'CoreBenchSetupError';
  }
}

/** The agents' clock: starts at the real time and moves only when told. */
export class BenchClock {
  #ms = Date.now();

  readonly now = (): Date => new Date(this.#ms);

  advance(seconds: number): void {
    this.#ms += seconds * 1000;
  }
}

/** The queue configuration the benchmark loads: harvester's module paths, as an operator would write them. */
export function benchQueueConfigText(maxWorkers: number): string {
  return JSON.stringify({
    [benchQueueName]: {
      queueStatus: 'online',
      prodSourceLabel: 'managed',
      // Large enough never to be the bound: the batch sizes decide how many workers a cycle handles.
      nQueueLimitWorker: maxWorkers,
      maxWorkers,
      maxNewWorkersPerCycle: 0,
      nQueueLimitJob: 1,
      mapType: 'NoJob',
      submitter: { name: 'DummySubmitter', module: 'pandaharvester.harvestersubmitter.dummy_submitter' },
      monitor: { name: 'DummyMonitor', module: 'pandaharvester.harvestermonitor.dummy_monitor' },
      sweeper: { name: 'DummySweeper', module: 'pandaharvester.harvestersweeper.dummy_sweeper' },
    },
  });
}

/**
 * Where a cycle's time goes: in store calls, in plugin calls, and (the rest) in the agent itself. Each share
 * is wall time during which at least one call of that kind was in flight, so calls an agent makes a few at a
 * time (the sweeper's sweeps) are not counted once per call.
 */
export class TimeSplit {
  readonly store = new BusyTime();
  readonly plugins = new BusyTime();

  /** The time spent so far, and zeroes the counters. */
  take(): { storeMs: number; pluginMs: number } {
    return { storeMs: this.store.take(), pluginMs: this.plugins.take() };
  }
}

/** Wall time during which at least one call was in flight. */
class BusyTime {
  #inFlight = 0;
  #since = 0;
  #ms = 0;

  begin(): void {
    if (this.#inFlight++ === 0) this.#since = performance.now();
  }

  end(): void {
    if (--this.#inFlight === 0) this.#ms += performance.now() - this.#since;
  }

  take(): number {
    const now = performance.now();
    const ms = this.#ms + (this.#inFlight > 0 ? now - this.#since : 0);
    this.#ms = 0;
    this.#since = now;
    return ms;
  }
}

/**
 * `target` with every method call timed into `busy` (the call until its promise settles). Methods run with
 * the target itself as `this`, so private fields work and calls between its own methods are not counted twice.
 */
function timedCalls<T extends object>(target: T, busy: BusyTime): T {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(target, {
    get(object, property) {
      const value: unknown = Reflect.get(object, property, object);
      if (typeof value !== 'function') return value;
      let timed = wrapped.get(property);
      if (timed === undefined) {
        timed = (...args: unknown[]): unknown => {
          busy.begin();
          const done = (): void => busy.end();
          let result: unknown;
          try {
            result = (value as (...a: unknown[]) => unknown).apply(object, args);
          } catch (error) {
            done();
            throw error;
          }
          if (result instanceof Promise) return result.finally(done);
          done();
          return result;
        };
        wrapped.set(property, timed);
      }
      return timed;
    },
  });
}

export interface CoreEnvironment {
  readonly env: AgentEnvironment;
  /** The store itself (the environment's is timed): for the benchmark's own, unmeasured, reads. */
  readonly store: Store;
  /** Time the agents spent in store and plugin calls since it was last taken. */
  readonly split: TimeSplit;
  readonly clock: BenchClock;
  readonly queue: QueueConfig;
  readonly home: string;
  readonly submitter: Submitter;
  readonly monitor: Monitor;
  readonly sweeper: Sweeper;
  /** Never aborted: the benchmark stops between cycles, not inside one. */
  readonly signal: AbortSignal;
  /** With metrics on: the registry the environment reports to, as in `harvester run`. */
  readonly metrics?: HarvesterMetrics;
  /** The same environment without metrics (equal to env when metrics are off): for paired cycles. */
  readonly plain: AgentEnvironment;
  /** Durations of the untimed scrapes taken with metrics on, in ms. */
  readonly scrapeMs: number[];
  /** Closes the store and removes the home. */
  close(): Promise<void>;
}

function settingsWith(batches: CoreBatches): AgentSettings {
  return {
    ...defaultAgentSettings,
    submitter: { ...defaultAgentSettings.submitter, maxNewWorkers: batches.submitter },
    monitor: { ...defaultAgentSettings.monitor, maxWorkers: batches.monitor },
    sweeper: { ...defaultAgentSettings.sweeper, maxWorkers: batches.sweeper },
  };
}

let sharedMetrics: HarvesterMetrics | undefined;

/**
 * One registry for every metrics-on environment of the process, as `harvester run` has one: prom-client's
 * process metrics (event-loop delay monitor, GC observer) are process-wide and never stopped, so a registry per
 * environment would pile them up and slow every later run, with metrics or without.
 */
function benchMetrics(): HarvesterMetrics {
  sharedMetrics ??= new HarvesterMetrics({ processMetrics: true, version: 'bench' });
  return sharedMetrics;
}

/** A fresh home, store, queue and agents; `maxWorkers` is the queue's room (nQueueLimitWorker and maxWorkers). */
export async function openCoreEnvironment(opts: { maxWorkers: number; batches: CoreBatches; log: Logger; metrics?: boolean }): Promise<CoreEnvironment> {
  const home = await mkdtemp(join(tmpdir(), 'hv-bench-core-'));
  let store: Store | undefined;
  let remove: () => Promise<void> = async () => undefined;
  try {
    const load = parseQueueConfig(benchQueueConfigText(opts.maxWorkers), join(home, 'panda_queueconfig.json'));
    const queue = load.queues.get(benchQueueName);
    if (queue === undefined) {
      throw new CoreBenchSetupError(`the benchmark queue did not build: ${load.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, 'queue configuration');
    }
    ({ store, remove } = await openBenchStore(home));
    const clock = new BenchClock();
    const factory = new PluginFactory({ log: opts.log });
    const settings = settingsWith(opts.batches);
    const split = new TimeSplit();
    const timedPlugins = new Map<string, unknown>();
    const plugin: PluginLookup = async (q, kind) => {
      const bare = await factory.forQueue(q, kind);
      if (bare === undefined) return undefined;
      const key = `${q.queueName}\u0000${kind}`;
      if (!timedPlugins.has(key)) timedPlugins.set(key, timedCalls(bare, split.plugins));
      return timedPlugins.get(key) as typeof bare;
    };
    const plain: AgentEnvironment = {
      store: timedCalls(store, split.store),
      jobSource: new EmbeddedJobSource({ store, log: opts.log, now: clock.now }),
      queues: [queue],
      plugin,
      settings,
      home,
      log: opts.log,
      instance: `bench-${process.pid}`,
      now: clock.now,
    };
    // Metrics on: the same wrappers and registry as `harvester run` (outside the store/plugin split, so their
    // cost shows as the agent's share), with the scrape-time sources of a running instance.
    let metrics: HarvesterMetrics | undefined;
    if (opts.metrics === true) {
      metrics = benchMetrics();
      const databaseFile = join(home, 'harvester.db');
      const counted = store;
      metrics.setSources({
        workers: () => counted.getWorkerStatsByQueue(),
        jobs: () => counted.getJobStatsByQueue(),
        ...(benchEngine() === 'sqlite' ? { storeSizeBytes: async () => sqliteSizeBytes(databaseFile) } : {}),
      });
    }
    const env = metrics === undefined ? plain : instrumentEnvironment(plain, metrics);
    for (const kind of ['submitter', 'monitor', 'sweeper'] as const) {
      if ((await env.plugin(queue, kind)) === undefined) throw new CoreBenchSetupError(`the benchmark queue has no ${kind} plugin`, 'plugins');
    }
    const opened = store;
    return {
      env,
      store: opened,
      split,
      clock,
      queue,
      home,
      submitter: new Submitter(env),
      monitor: new Monitor(env),
      sweeper: new Sweeper(env),
      signal: manyListenersSignal(),
      ...(metrics === undefined ? {} : { metrics }),
      plain,
      scrapeMs: [],
      close: async () => {
        await opened.close();
        await remove();
        await rm(home, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await store?.close();
    await remove();
    await rm(home, { recursive: true, force: true });
    throw error;
  }
}

/**
 * The dummy batch system moves every worker of the queue in `fromStatuses` to `status` (writes status.txt,
 * as the dummy submitter does); returns how many it moved. Several writes in flight: it is the resource's
 * time, not the harvester's.
 */
export async function setBatchStatus(core: CoreEnvironment, fromStatuses: readonly string[], status: string): Promise<number> {
  const workers = await core.store.listWorkers({ queueName: core.queue.queueName, status: fromStatuses });
  const inFlight = 16;
  for (let i = 0; i < workers.length; i += inFlight) {
    await Promise.all(
      workers.slice(i, i + inFlight).map((w) => {
        if (w.accessPoint === null) throw new CoreBenchSetupError(`worker ${String(w.workerID)} has no access point`, 'batch status');
        return writeStatusFile(w.accessPoint, status);
      }),
    );
  }
  return workers.length;
}

/** A signal that never aborts, for the agents' cycles; agents run a few plugin calls at once, each listening to it. */
function manyListenersSignal(): AbortSignal {
  const { signal } = new AbortController();
  setMaxListeners(256, signal);
  return signal;
}
