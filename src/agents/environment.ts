// What every agent works with: the store, the job source, the queues, their plugins and the settings. Built
// once by `harvester run` (or a test) and shared by all agents of the process.
import { hostname } from 'node:os';
import type { AgentName, AgentSettings, QueueConfig } from '../config/index.js';
import type { JobSource } from '../communicator/index.js';
import type { Logger } from '../logging/index.js';
import type { ContractsByKind, PluginKind } from '../plugins/index.js';
import type { Store } from '../store/index.js';
import type { CycleObserver } from './agent-loop.js';

/** A queue's plugin of one kind (local, or the RPC herder for a remote section); undefined when not configured. */
export type PluginLookup = <K extends PluginKind>(queue: QueueConfig, kind: K) => Promise<ContractsByKind[K] | undefined>;

export interface AgentEnvironment {
  readonly store: Store;
  readonly jobSource: JobSource;
  /** The queues the agents work for: the online ones. */
  readonly queues: readonly QueueConfig[];
  readonly plugin: PluginLookup;
  readonly settings: AgentSettings;
  /** The harvester home (access points are expanded under it). */
  readonly home: string;
  readonly log: Logger;
  /** Unique per process, e.g. "host1-4711": lock owners are "<agent>-<instance>". */
  readonly instance: string;
  /** The agents' clock; tests move it forward instead of sleeping. */
  readonly now: () => Date;
  /** Told about every agent cycle (the metrics of `harvester run`); none in tests and benchmarks by default. */
  readonly cycleObserver?: CycleObserver;
}

/** A process-unique instance name: host and pid, plus a random part so a recycled pid never collides. */
export function instanceName(): string {
  return `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
}

/** The lock owner name of an agent in this process. */
export function lockOwner(env: AgentEnvironment, agent: AgentName): string {
  return `${agent}-${env.instance}`;
}
