// The built-in plugins: what `harvester plugins list` prints and what the factory resolves section names
// against. Each answers to harvester's Python module path and to our short module name.
import type { ContractsByKind, PluginKind } from './contracts.js';
import type { OptionsCheck, OptionsCheckContext, PluginOptions } from './options.js';
import { DummySubmitter } from './builtin/dummy-submitter.js';
import { DummySingletonSubmitter } from './builtin/dummy-singleton-submitter.js';
import { DummyMonitor } from './builtin/dummy-monitor.js';
import { DummySweeper } from './builtin/dummy-sweeper.js';
import { DummyStager } from './builtin/dummy-stager.js';
import { DummyPreparator } from './builtin/dummy-preparator.js';
import { SharedFileMessenger } from './builtin/shared-file-messenger.js';
import { SimpleWorkerMaker } from './builtin/simple-worker-maker.js';
import { SimpleThrottler } from './builtin/simple-throttler.js';
import { LocalProcessSubmitter } from './builtin/local-process-submitter.js';
import { LocalProcessMonitor } from './builtin/local-process-monitor.js';
import { LocalProcessSweeper } from './builtin/local-process-sweeper.js';
import { SlurmSubmitter } from './builtin/slurm/slurm-submitter.js';
import { SlurmBulkMonitor } from './builtin/slurm/slurm-monitor.js';
import { SlurmSweeper } from './builtin/slurm/slurm-sweeper.js';

/**
 * A plugin class: built from its section's options (harvester's `**kwarg`). It may check a section's options
 * without being built (`queues check`), e.g. a template file naming an unknown placeholder.
 */
export type PluginClass<K extends PluginKind = PluginKind> = (new (options: PluginOptions) => ContractsByKind[K]) & {
  checkOptions?(options: PluginOptions, context: OptionsCheckContext): OptionsCheck;
};

export interface BuiltinPluginInfo<K extends PluginKind = PluginKind> {
  readonly className: string;
  readonly kind: K;
  /** Our module name, usable as "module" in a section. */
  readonly shortModule: string;
  /** harvester's module path, so panda_queueconfig.json works unchanged. */
  readonly harvesterModule: string;
  readonly description: string;
  readonly pluginClass: PluginClass<K>;
}

function builtin<K extends PluginKind>(info: BuiltinPluginInfo<K>): BuiltinPluginInfo {
  return Object.freeze(info) as unknown as BuiltinPluginInfo;
}

const builtins: readonly BuiltinPluginInfo[] = Object.freeze([
  builtin({
    className: 'DummySubmitter',
    kind: 'submitter',
    shortModule: 'dummy_submitter',
    harvesterModule: 'pandaharvester.harvestersubmitter.dummy_submitter',
    description: 'pretends to submit: sets batchID/computingElement, writes status.txt and submitted.log in the access point',
    pluginClass: DummySubmitter,
  }),
  builtin({
    className: 'DummySingletonSubmitter',
    kind: 'submitter',
    shortModule: 'dummy_singleton_submitter',
    harvesterModule: 'pandaharvester.harvestersubmitter.dummy_singleton_submitter',
    description: 'DummySubmitter shared by every section of the same queue in the process',
    pluginClass: DummySingletonSubmitter,
  }),
  builtin({
    className: 'DummyMonitor',
    kind: 'monitor',
    shortModule: 'dummy_monitor',
    harvesterModule: 'pandaharvester.harvestermonitor.dummy_monitor',
    description: "reads each worker's status from status.txt in its access point (finished when there is none)",
    pluginClass: DummyMonitor,
  }),
  builtin({
    className: 'DummySweeper',
    kind: 'sweeper',
    shortModule: 'dummy_sweeper',
    harvesterModule: 'pandaharvester.harvestersweeper.dummy_sweeper',
    description: "kills by writing 'cancelled' to status.txt; sweeps by removing the dummy submitter's files",
    pluginClass: DummySweeper,
  }),
  builtin({
    className: 'DummyStager',
    kind: 'stager',
    shortModule: 'dummy_stager',
    harvesterModule: 'pandaharvester.harvesterstager.dummy_stager',
    description: 'marks output files finished without moving them; zips associated files into a tar',
    pluginClass: DummyStager,
  }),
  builtin({
    className: 'DummyPreparator',
    kind: 'preparator',
    shortModule: 'dummy_preparator',
    harvesterModule: 'pandaharvester.harvesterpreparator.dummy_preparator',
    description: 'stage-in that is always done; input paths become <localBasePath>/<lfn> (dummypath/<lfn> by default)',
    pluginClass: DummyPreparator,
  }),
  builtin({
    className: 'SharedFileMessenger',
    kind: 'messenger',
    shortModule: 'shared_file_messenger',
    harvesterModule: 'pandaharvester.harvestermessenger.shared_file_messenger',
    description: "talks to the payload through files in the worker's access point on a shared file system",
    pluginClass: SharedFileMessenger,
  }),
  builtin({
    className: 'SimpleWorkerMaker',
    kind: 'workerMaker',
    shortModule: 'simple_worker_maker',
    harvesterModule: 'pandaharvester.harvesterworkermaker.simple_worker_maker',
    description: "makes a worker from jobs: cores, memory, disk, walltime and resource type, per the queue's mapType",
    pluginClass: SimpleWorkerMaker,
  }),
  builtin({
    className: 'SimpleThrottler',
    kind: 'throttler',
    shortModule: 'simple_throttler',
    harvesterModule: 'pandaharvester.harvesterthrottler.simple_throttler',
    description: 'throttles submission when too many workers went missing recently (rulesForMissed, logicType)',
    pluginClass: SimpleThrottler,
  }),
  // No harvester equivalent: our own module names.
  builtin({
    className: 'LocalProcessSubmitter',
    kind: 'submitter',
    shortModule: 'local_process_submitter',
    harvesterModule: 'harvester_ts.local_process_submitter',
    description: "runs each worker's job command as a detached process in its access point (payload.stdout/stderr/exit_code)",
    pluginClass: LocalProcessSubmitter,
  }),
  builtin({
    className: 'LocalProcessMonitor',
    kind: 'monitor',
    shortModule: 'local_process_monitor',
    harvesterModule: 'harvester_ts.local_process_monitor',
    description: 'running while the payload process lives; finished/failed from its exit code; failed when it vanished',
    pluginClass: LocalProcessMonitor,
  }),
  builtin({
    className: 'LocalProcessSweeper',
    kind: 'sweeper',
    shortModule: 'local_process_sweeper',
    harvesterModule: 'harvester_ts.local_process_sweeper',
    description: "kills the payload's process group (SIGTERM, then SIGKILL after killGracePeriod); sweeps by removing the access point",
    pluginClass: LocalProcessSweeper,
  }),
  builtin({
    className: 'SlurmSubmitter',
    kind: 'submitter',
    shortModule: 'slurm_submitter',
    harvesterModule: 'pandaharvester.harvestersubmitter.slurm_submitter',
    description:
      "sbatch from templateFile (harvester's placeholders, unknown ones refused); job named hv-<harvesterID>-w<workerID>, " +
      'an existing job of that name adopted instead of a second; bounded parallel sbatch',
    pluginClass: SlurmSubmitter,
  }),
  // One class for harvester's three SLURM monitors: the bulk behaviour is what each of them is for.
  ...(
    [
      ['SlurmBulkMonitor', 'slurm_bulk_monitor'],
      ['SlurmMonitor', 'slurm_monitor'],
      ['SlurmSqueueMonitor', 'slurm_squeue_monitor'],
    ] as const
  ).map(([className, shortModule]) =>
    builtin({
      className,
      kind: 'monitor',
      shortModule,
      harvesterModule: `pandaharvester.harvestermonitor.${shortModule}`,
      description:
        (className === 'SlurmBulkMonitor' ? '' : 'same as SlurmBulkMonitor: ') +
        'one squeue for the batch, one sacct for ended/forgotten jobs (squeue alone without accounting), payload exit code file; full state table',
      pluginClass: SlurmBulkMonitor,
    }),
  ),
  builtin({
    className: 'SlurmSweeper',
    kind: 'sweeper',
    shortModule: 'slurm_sweeper',
    harvesterModule: 'pandaharvester.harvestersweeper.slurm_sweeper',
    description: 'one scancel for the batch (ended/unknown jobs count as killed); sweeps by removing the access point',
    pluginClass: SlurmSweeper,
  }),
]);

export function builtinPlugins(): readonly BuiltinPluginInfo[] {
  return builtins;
}

/** The module names (harvester's and ours) that hold plugins of a kind. */
export function modulesOfKind(kind: PluginKind): Set<string> {
  const names = new Set<string>();
  for (const p of builtins) {
    if (p.kind !== kind) continue;
    names.add(p.harvesterModule);
    names.add(p.shortModule);
  }
  return names;
}
