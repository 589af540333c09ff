// The plugin contracts: one interface per kind of plugin, all async. Agents call these and never know
// whether the object behind them is a local plugin or the RPC herder (which implements all of them through
// one generic proxy driven by `contractMethods` below).
import type { EventSpec, JobSpec, WorkSpec, WorkerStatus } from '../spec/index.js';
import { pluginSectionKeys, type QueueConfig } from '../config/index.js';
import type { Logger } from '../logging/index.js';
import type { Outcome } from './outcome.js';

/** Passed to every plugin call. */
export interface PluginContext {
  /** The resolved configuration of the queue the call is made for. */
  readonly queue: QueueConfig;
  readonly log: Logger;
  /** Aborted when the caller gives up (deadline, shutdown). Long-running plugins should honour it. */
  readonly signal: AbortSignal;
}

/** A monitor's verdict on one worker. */
export interface WorkerCheck {
  readonly status: WorkerStatus;
  readonly diag: string;
}

export interface Submitter {
  /**
   * One outcome per worker, in the order given. On success the plugin has set batchID etc. on the spec.
   * Answer per worker rather than throw: a thrown error is taken to mean some workers may have been
   * submitted (they are left for the monitor to reconcile, never submitted again), unless the error says
   * `callEffect: 'not-run'` (see call-effect.ts), e.g. raised before anything reached the batch system.
   */
  submitWorkers(ctx: PluginContext, workSpecs: WorkSpec[]): Promise<Outcome[]>;
}

export interface Monitor {
  /** The new status of each worker, in the order given; a failed/retry outcome concerns the whole batch. */
  checkWorkers(ctx: PluginContext, workSpecs: WorkSpec[]): Promise<Outcome<WorkerCheck[]>>;
}

export interface Sweeper {
  killWorker(ctx: PluginContext, workSpec: WorkSpec): Promise<Outcome>;
  /** Optional: when a sweeper lacks it, callers fall back to killWorker per worker (see killWorkersOf). */
  killWorkers?(ctx: PluginContext, workSpecs: WorkSpec[]): Promise<Outcome[]>;
  sweepWorker(ctx: PluginContext, workSpec: WorkSpec): Promise<Outcome>;
}

export interface Stager {
  triggerStageOut(ctx: PluginContext, jobSpec: JobSpec): Promise<Outcome>;
  checkStageOutStatus(ctx: PluginContext, jobSpec: JobSpec): Promise<Outcome>;
  zipOutput(ctx: PluginContext, jobSpec: JobSpec): Promise<Outcome>;
}

export interface Preparator {
  triggerPreparation(ctx: PluginContext, jobSpec: JobSpec): Promise<Outcome>;
  checkStageInStatus(ctx: PluginContext, jobSpec: JobSpec): Promise<Outcome>;
  /** Sets the local path of each input file (FileSpec.path) on the job's files. */
  resolveInputPaths(ctx: PluginContext, jobSpec: JobSpec): Promise<Outcome>;
}

/** A file the payload produced, reported by the messenger for stage-out (harvester's dict per file). */
export interface FileToStageOut {
  readonly path: string;
  readonly type: string;
  readonly fsize?: number;
  readonly chksum?: string;
  readonly eventRangeID?: string;
  readonly isZip?: boolean;
  readonly [key: string]: unknown;
}

export interface Messenger {
  setupAccessPoints(ctx: PluginContext, workSpecs: WorkSpec[]): Promise<Outcome>;
  feedJobs(ctx: PluginContext, workSpec: WorkSpec, jobSpecs: JobSpec[]): Promise<Outcome>;
  /** How many jobs the worker asks for (0 when none). */
  jobRequested(ctx: PluginContext, workSpec: WorkSpec): Promise<number>;
  killRequested(ctx: PluginContext, workSpec: WorkSpec): Promise<boolean>;
  /** Whether the worker's heartbeat is younger than timeLimit seconds; undefined when it has none. */
  isAlive(ctx: PluginContext, workSpec: WorkSpec, timeLimit: number): Promise<boolean | undefined>;
  getWorkAttributes(ctx: PluginContext, workSpec: WorkSpec): Promise<Record<string, unknown>>;
  /** Output files per PandaID. */
  getFilesToStageOut(ctx: PluginContext, workSpec: WorkSpec): Promise<Record<string, FileToStageOut[]>>;
  feedEvents(ctx: PluginContext, workSpec: WorkSpec, eventsByPandaID: Record<string, unknown[]>): Promise<Outcome>;
  /** Event updates per PandaID. */
  eventsToUpdate(ctx: PluginContext, workSpec: WorkSpec): Promise<Record<string, EventSpec[]>>;
  /** Event requests per PandaID (harvester's request dicts). */
  eventsRequested(ctx: PluginContext, workSpec: WorkSpec): Promise<Record<string, Record<string, unknown>>>;
  getPandaIds(ctx: PluginContext, workSpec: WorkSpec): Promise<number[]>;
  postProcessing(ctx: PluginContext, workSpec: WorkSpec, jobSpecs: JobSpec[], mapType: string): Promise<Outcome>;
  acknowledgeEventsFiles(ctx: PluginContext, workSpec: WorkSpec): Promise<void>;
  cleanUp(ctx: PluginContext, workSpec: WorkSpec): Promise<Outcome>;
}

export interface WorkerMaker {
  makeWorker(
    ctx: PluginContext,
    jobSpecs: JobSpec[],
    jobType: string,
    resourceType: string,
  ): Promise<Outcome<WorkSpec>>;
  getNumJobsPerWorker(ctx: PluginContext, nWorkers: number): Promise<number>;
  getNumWorkersPerJob(ctx: PluginContext, nWorkers: number): Promise<number>;
}

export interface Throttler {
  /** succeeded(true) = throttled (do not submit now), succeeded(false) = go ahead. */
  toBeThrottled(ctx: PluginContext): Promise<Outcome<boolean>>;
}

/** The kinds of plugin a queue configuration can name, with harvester's section keys (defined by the config layer). */
export const pluginKinds = pluginSectionKeys;
export type PluginKind = (typeof pluginKinds)[number];

export interface ContractsByKind {
  submitter: Submitter;
  monitor: Monitor;
  sweeper: Sweeper;
  stager: Stager;
  preparator: Preparator;
  messenger: Messenger;
  workerMaker: WorkerMaker;
  throttler: Throttler;
}

export type AnyPlugin = ContractsByKind[PluginKind];

export interface ContractMethod {
  readonly name: string;
  /** A plugin may lack it; the caller falls back (killWorkers -> killWorker). */
  readonly optional: boolean;
}

function methods(...names: string[]): readonly ContractMethod[] {
  return names.map((n) => {
    const optional = n.endsWith('?');
    return { name: n.replace(/\?$/, ''), optional };
  });
}

/**
 * Every method of every contract. This table (not a hand-written method per contract method) is what the
 * RPC herder's proxy and the bot's dispatcher are driven by. `?` marks an optional method.
 */
export const contractMethods: { readonly [K in PluginKind]: readonly ContractMethod[] } = {
  submitter: methods('submitWorkers'),
  monitor: methods('checkWorkers'),
  sweeper: methods('killWorker', 'killWorkers?', 'sweepWorker'),
  stager: methods('triggerStageOut', 'checkStageOutStatus', 'zipOutput'),
  preparator: methods('triggerPreparation', 'checkStageInStatus', 'resolveInputPaths'),
  messenger: methods(
    'setupAccessPoints',
    'feedJobs',
    'jobRequested',
    'killRequested',
    'isAlive',
    'getWorkAttributes',
    'getFilesToStageOut',
    'feedEvents',
    'eventsToUpdate',
    'eventsRequested',
    'getPandaIds',
    'postProcessing',
    'acknowledgeEventsFiles',
    'cleanUp',
  ),
  workerMaker: methods('makeWorker', 'getNumJobsPerWorker', 'getNumWorkersPerJob'),
  throttler: methods('toBeThrottled'),
};

/** harvester's snake_case spelling of a contract method (`submitWorkers` -> `submit_workers`). */
export function snakeCase(method: string): string {
  return method.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Accepts a method named either way (`check_workers` or `checkWorkers`) and returns our camelCase name. */
export function camelCase(method: string): string {
  return method.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
}

type Fallback = (plugin: never, ctx: PluginContext, ...args: never[]) => Promise<unknown>;

/**
 * How each optional method is done with the required ones when a plugin lacks it. Used by killWorkersOf
 * below and by the RPC herder when the bot says its plugin has no such method.
 */
export const optionalMethodFallbacks: { readonly [K in PluginKind]?: Readonly<Record<string, Fallback>> } = {
  sweeper: {
    killWorkers: (async (sweeper: Sweeper, ctx: PluginContext, workSpecs: WorkSpec[]): Promise<Outcome[]> => {
      const outcomes: Outcome[] = [];
      for (const workSpec of workSpecs) outcomes.push(await sweeper.killWorker(ctx, workSpec));
      return outcomes;
    }) as Fallback,
  },
};

/** Kill many workers, falling back to one killWorker call per worker when the sweeper has no killWorkers. */
export async function killWorkersOf(sweeper: Sweeper, ctx: PluginContext, workSpecs: WorkSpec[]): Promise<Outcome[]> {
  if (typeof sweeper.killWorkers === 'function') return sweeper.killWorkers(ctx, workSpecs);
  const fallback = optionalMethodFallbacks.sweeper!.killWorkers!;
  return (await fallback(sweeper as never, ctx, workSpecs as never)) as Outcome[];
}
