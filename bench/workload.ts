// What the benchmark asks of the plugins: DummySubmitter.submitWorkers and DummyMonitor.checkWorkers on N
// fresh WorkSpecs, and SimpleWorkerMaker.getNumJobsPerWorker as the cheapest real plugin call. The same
// queue is built twice from harvester-style JSON: bare, and with every section behind the "rpc" element.
import { chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseQueueConfig, type QueueConfig } from '../src/config/index.js';
import type { Logger } from '../src/logging/index.js';
import type { Monitor, PluginContext, Submitter, WorkerMaker } from '../src/plugins/contracts.js';
import type { PluginFactory } from '../src/plugins/index.js';
import { WorkSpec, encodeValues } from '../src/spec/index.js';

/** A plugin call that did not do what the benchmark measures (a failed submission is not a fast one). */
export class WorkloadCheckError extends Error {
  constructor(
    message: string,
    readonly queue: string,
    readonly step: string,
  ) {
    super(`${message} (queue ${queue}, step ${step})`);
    this.name = 'WorkloadCheckError';
  }
}

const sections = {
  submitter: { name: 'DummySubmitter', module: 'pandaharvester.harvestersubmitter.dummy_submitter' },
  monitor: { name: 'DummyMonitor', module: 'pandaharvester.harvestermonitor.dummy_monitor' },
  workerMaker: { name: 'SimpleWorkerMaker', module: 'pandaharvester.harvesterworkermaker.simple_worker_maker' },
};

/** The benchmark queue; with `rpc`, every section goes through that middleware element. */
export function benchQueue(queueName: string, rpc?: Record<string, unknown>): QueueConfig {
  const base = { queueStatus: 'online', mapType: 'OneToOne', maxWorkers: 100_000, nQueueLimitWorker: 100_000 };
  const body =
    rpc === undefined
      ? { ...base, ...sections }
      : {
          ...base,
          rpc: { name: 'RpcHerder', module: 'pandaharvester.harvestermiddleware.rpc_herder', ...rpc },
          ...Object.fromEntries(Object.entries(sections).map(([kind, section]) => [kind, { ...section, middleware: 'rpc' }])),
        };
  const load = parseQueueConfig(JSON.stringify({ [queueName]: body }), 'bench-queues.json');
  const queue = load.queues.get(queueName);
  if (load.problems.length > 0 || queue === undefined) {
    throw new WorkloadCheckError(`the benchmark queue does not load: ${JSON.stringify(load.problems)}`, queueName, 'queue-config');
  }
  return queue;
}

export interface BenchPlugins {
  readonly queue: QueueConfig;
  readonly submitter: Submitter;
  readonly monitor: Monitor;
  readonly workerMaker: WorkerMaker;
  context(): PluginContext;
}

export async function benchPlugins(factory: PluginFactory, queue: QueueConfig, log: Logger): Promise<BenchPlugins> {
  const [submitter, monitor, workerMaker] = await Promise.all([
    factory.forQueue(queue, 'submitter'),
    factory.forQueue(queue, 'monitor'),
    factory.forQueue(queue, 'workerMaker'),
  ]);
  if (submitter === undefined || monitor === undefined || workerMaker === undefined) {
    throw new WorkloadCheckError('the queue lacks a submitter, monitor or worker maker', queue.queueName, 'plugins');
  }
  return { queue, submitter, monitor, workerMaker, context: () => ({ queue, log, signal: AbortSignal.timeout(120_000) }) };
}

/** Directories that both this process and the bot (running as `ownerUid`) can write; removed by cleanup(). */
export class WorkRoots {
  private base: string | undefined;

  constructor(private readonly ownerUid: number | undefined) {}

  async make(name: string): Promise<string> {
    this.base ??= await mkdtemp('/tmp/hv-bench-');
    await chown(this.base, this.ownerUid ?? -1, -1);
    const dir = await mkdtemp(join(this.base, `${name}-`));
    if (this.ownerUid !== undefined) await chown(dir, this.ownerUid, -1);
    return dir;
  }

  async remove(dir: string): Promise<void> {
    await rm(dir, { recursive: true, force: true });
  }

  async cleanup(): Promise<void> {
    if (this.base !== undefined) await rm(this.base, { recursive: true, force: true });
    this.base = undefined;
  }
}

let nextWorkerID = 1;

function newWorker(status: 'ready' | 'submitted', accessPoint: (workerID: number) => string): WorkSpec {
  const workerID = nextWorkerID++;
  const worker = new WorkSpec({ workerID, queueName: 'bench', status, mapType: 'OneToOne', nCore: 1 });
  worker.accessPoint = accessPoint(workerID);
  return worker;
}

/** n new ready WorkSpecs whose access points are <root>/<workerID> (not created: the submitter makes them). */
export function workersToSubmit(root: string, n: number): WorkSpec[] {
  return Array.from({ length: n }, () => newWorker('ready', (id) => join(root, String(id))));
}

/** New submitted WorkSpecs, one per existing access point. */
export function workersToCheck(accessPoints: readonly string[]): WorkSpec[] {
  return accessPoints.map((dir) => newWorker('submitted', () => dir));
}

/** Access points holding status.txt = running, as DummySubmitter leaves them, for the monitor to read. */
export async function submittedAccessPoints(root: string, n: number): Promise<string[]> {
  const dirs: string[] = [];
  for (let i = 0; i < n; i++) {
    const dir = join(root, `ap-${i}`);
    await mkdir(dir, { mode: 0o755 });
    await writeFile(join(dir, 'status.txt'), 'running', { mode: 0o644 });
    dirs.push(dir);
  }
  return dirs;
}

/**
 * The arguments of a checkWorkers call of n workers as they travel (access points as long as the benchmark's),
 * so a raw echo of that size shows what moving the request costs without the protocol.
 */
export function checkRequestArgs(n: number): unknown {
  return { args: encodeValues([workersToCheck(Array.from({ length: n }, (_, i) => `/tmp/hv-bench-XXXXXX/check-XXXXXX/ap-${i}`))]) };
}

export async function submitAll(plugins: BenchPlugins, workers: WorkSpec[]): Promise<void> {
  const outcomes = await plugins.submitter.submitWorkers(plugins.context(), workers);
  const bad = outcomes.findIndex((o) => o.kind !== 'succeeded');
  if (outcomes.length !== workers.length || bad >= 0) {
    throw new WorkloadCheckError(`submitWorkers did not submit all ${workers.length} workers: ${JSON.stringify(outcomes[bad] ?? outcomes.length)}`, plugins.queue.queueName, 'submitWorkers');
  }
  if (workers.some((w) => w.batchID === undefined || w.batchID === null)) {
    throw new WorkloadCheckError('a submitted worker came back without a batchID', plugins.queue.queueName, 'submitWorkers');
  }
}

export async function checkAll(plugins: BenchPlugins, workers: WorkSpec[]): Promise<void> {
  const outcome = await plugins.monitor.checkWorkers(plugins.context(), workers);
  if (outcome.kind !== 'succeeded' || outcome.value.length !== workers.length || outcome.value.some((c) => c.status !== 'running')) {
    throw new WorkloadCheckError(`checkWorkers did not see ${workers.length} running workers: ${JSON.stringify(outcome).slice(0, 300)}`, plugins.queue.queueName, 'checkWorkers');
  }
}

export async function cheapCall(plugins: BenchPlugins): Promise<void> {
  const n = await plugins.workerMaker.getNumJobsPerWorker(plugins.context(), 1);
  if (n !== 1) throw new WorkloadCheckError(`getNumJobsPerWorker answered ${n}, expected 1 for OneToOne`, plugins.queue.queueName, 'getNumJobsPerWorker');
}
