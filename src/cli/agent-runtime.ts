// Everything `harvester run` builds before its agents can start, and takes down after they stop: the home,
// the store, the job source, the online queues and their plugins, and, for a source that takes them (PanDA),
// the recorder that keeps the agents' warnings and errors as dialog messages for the propagator to send.
import { mkdirSync } from 'node:fs';
import type { AgentEnvironment } from '../agents/environment.js';
import { instanceName } from '../agents/environment.js';
import { DialogRecorder } from '../agents/dialog-recorder.js';
import { EmbeddedJobSource } from '../agents/embedded-job-source.js';
import { hasHarvesterDialogs, PandaClient, pandaConfigFrom, type JobSource } from '../communicator/index.js';
import type { QueueConfig } from '../config/index.js';
import type { CliContext } from './context.js';
import type { Store } from '../store/index.js';
import { UsageError } from './exit-codes.js';
import { ensureHome } from './home-dir.js';
import { openStore } from './open-store.js';

export interface AgentRuntime {
  readonly env: AgentEnvironment;
  /** Queues of the configuration that were not built (problems) or are not online, with why. */
  readonly skipped: readonly { queue: string; why: string }[];
  close(): Promise<void>;
}

export interface QueueSelection {
  readonly file: string;
  readonly queues: readonly QueueConfig[];
  readonly skipped: readonly { queue: string; why: string }[];
}

/** The online queues of the configuration; a UsageError (exit 2) when there is none. */
export function selectOnlineQueues(ctx: CliContext): QueueSelection {
  const load = ctx.loadQueues();
  const skipped: { queue: string; why: string }[] = [];
  for (const problem of load.problems) {
    skipped.push({ queue: problem.queue ?? '(file)', why: `${problem.path}: ${problem.message}` });
  }
  const queues: QueueConfig[] = [];
  for (const queue of load.queues.values()) {
    if (queue.queueStatus === 'online') queues.push(queue);
    else skipped.push({ queue: queue.queueName, why: `queueStatus is ${queue.queueStatus}` });
  }
  if (queues.length === 0) {
    throw new UsageError(`no online queue in ${load.file}: nothing to run (${skipped.map((s) => `${s.queue}: ${s.why}`).join('; ') || 'the file has no queues'})`);
  }
  return { file: load.file, queues, skipped };
}

export async function openAgentRuntime(ctx: CliContext): Promise<AgentRuntime> {
  const { master } = ctx;
  // A first run creates the home; the database, logs and access points live under it.
  ensureHome(master.home);
  mkdirSync(master.logDir, { recursive: true });
  const { file: queueConfigFile, queues, skipped } = selectOnlineQueues(ctx);
  const log = ctx.log;
  const store = await openStore(master, { mode: 'agents', log });
  let jobSource: JobSource;
  try {
    jobSource = makeJobSource(ctx, store);
  } catch (error) {
    await store.close();
    throw error;
  }
  const factory = await ctx.factory();
  // A source without dialogs (the embedded queue) would leave them piling up to the cap: none are recorded.
  const dialogs = hasHarvesterDialogs(jobSource) ? new DialogRecorder({ store, log }) : undefined;
  const env: AgentEnvironment = {
    store,
    jobSource,
    queues,
    plugin: (queue, kind) => factory.forQueue(queue, kind),
    settings: master.agents,
    home: master.home,
    log,
    instance: instanceName(),
    now: () => new Date(),
  };
  log.info(
    {
      home: master.home,
      database: store.database,
      queueConfig: queueConfigFile,
      queueConfigOrigin: master.queueConfigOrigin,
      jobSource: jobSource.description,
      queues: queues.map((q) => q.queueName),
      skipped,
    },
    'harvester runtime ready',
  );
  return {
    env,
    skipped,
    async close() {
      await dialogs?.close();
      await jobSource.close();
      await store.close();
      await ctx.close();
    },
  };
}

function makeJobSource(ctx: CliContext, store: Store): JobSource {
  if (ctx.master.jobSource === 'embedded') {
    return new EmbeddedJobSource({ store, log: ctx.log, lockIntervalSec: ctx.master.agents.jobfetcher.lockInterval });
  }
  const config = pandaConfigFrom(ctx.master.extra, { file: ctx.master.configFile, baseDir: ctx.master.home, harvesterID: ctx.master.harvesterID });
  if (config === undefined) {
    throw new UsageError(`communicator PandaCommunicator needs a "pandacon" section in ${ctx.master.configFile ?? 'harvester.json'}`);
  }
  return new PandaClient(config, { logger: ctx.log });
}
