// The HPC benchmark's queue: SlurmSubmitter, SlurmBulkMonitor and SlurmSweeper (plus SimpleWorkerMaker, the
// cheap call that opens the tunnels) built by the plugin factory from harvester-style JSON, as `harvester run`
// builds them: bare, or with every section behind the "rpc" element. And the WorkSpecs it submits.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseQueueConfig, type QueueConfig } from '../src/config/index.js';
import type { Logger } from '../src/logging/index.js';
import type { Sweeper } from '../src/plugins/contracts.js';
import type { PluginFactory } from '../src/plugins/index.js';
import { WorkSpec } from '../src/spec/index.js';
import { benchPlugins, WorkloadCheckError, type BenchPlugins } from './workload.js';

/** The batch script template the package ships (dist/bench/ -> repository root). */
export const shippedTemplate = fileURLToPath(new URL('../../examples/slurm/harvester_slurm_submit.sh', import.meta.url));

export interface SlurmQueueOptions {
  /** Every job carries it in its name: runs with distinct ids never see each other's jobs. */
  readonly harvesterID: string;
  readonly partition: string;
  /** The payload each job runs, e.g. "sleep 1". */
  readonly command: string;
  /** The "rpc" element; without it the plugins are built bare. */
  readonly rpc?: Record<string, unknown>;
  /** The batch script template where the plugins run (the installed copy on hpc for the bot); default the repository's. */
  readonly templateFile?: string;
}

const sections = {
  submitter: { name: 'SlurmSubmitter', module: 'pandaharvester.harvestersubmitter.slurm_submitter' },
  monitor: { name: 'SlurmBulkMonitor', module: 'pandaharvester.harvestermonitor.slurm_bulk_monitor' },
  sweeper: { name: 'SlurmSweeper', module: 'pandaharvester.harvestersweeper.slurm_sweeper' },
  workerMaker: { name: 'SimpleWorkerMaker', module: 'pandaharvester.harvesterworkermaker.simple_worker_maker' },
};

export function slurmBenchQueue(queueName: string, opts: SlurmQueueOptions): QueueConfig {
  const submitter = { ...sections.submitter, templateFile: opts.templateFile ?? shippedTemplate, partition: opts.partition, command: opts.command };
  const all = { ...sections, submitter };
  const body = {
    queueStatus: 'online',
    mapType: 'OneToOne',
    maxWorkers: 100_000,
    nQueueLimitWorker: 100_000,
    ...(opts.rpc === undefined
      ? all
      : {
          rpc: { name: 'RpcHerder', module: 'pandaharvester.harvestermiddleware.rpc_herder', ...opts.rpc },
          ...Object.fromEntries(Object.entries(all).map(([kind, section]) => [kind, { ...section, middleware: 'rpc' }])),
        }),
  };
  const load = parseQueueConfig(JSON.stringify({ [queueName]: body }), 'bench-hpc-queues.json', { harvesterID: opts.harvesterID });
  const queue = load.queues.get(queueName);
  if (load.problems.length > 0 || queue === undefined) {
    throw new WorkloadCheckError(`the benchmark queue does not load: ${JSON.stringify(load.problems)}`, queueName, 'queue-config');
  }
  return queue;
}

export interface SlurmBenchPlugins extends BenchPlugins {
  readonly sweeper: Sweeper;
}

export async function slurmBenchPlugins(factory: PluginFactory, queue: QueueConfig, log: Logger): Promise<SlurmBenchPlugins> {
  const [plugins, sweeper] = await Promise.all([benchPlugins(factory, queue, log), factory.forQueue(queue, 'sweeper')]);
  if (sweeper === undefined) throw new WorkloadCheckError('the queue lacks a sweeper', queue.queueName, 'plugins');
  return { ...plugins, sweeper };
}

/** n ready workers numbered 1..n, each with its access point <root>/<workerID> (the submitter makes it). */
export function slurmWorkers(root: string, n: number, queueName: string): WorkSpec[] {
  const now = new Date();
  return Array.from({ length: n }, (_, i) => {
    const workerID = i + 1;
    // 100 MB and an hour: the shipped template turns them into --mem and --time.
    const worker = new WorkSpec({ workerID, queueName, status: 'ready', mapType: 'OneToOne', nCore: 1, minRamCount: 100, maxWalltime: 3600, creationTime: now });
    worker.accessPoint = join(root, String(workerID));
    return worker;
  });
}
