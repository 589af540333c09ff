// Test support for the job-side agents (job fetcher, preparator, stager, propagator): an AgentEnvironment
// over a real SqliteStore in a temporary directory, a job source that records what it is asked and answers
// as the test says, a clock the test moves, a log whose lines the test can read, and plugins that throw,
// hang or answer nonsense.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentName, AgentSettings, QueueConfig } from '../../../src/config/index.js';
import { defaultAgentSettings } from '../../../src/config/index.js';
import type {
  EventRangesResult,
  EventRangesUpdateResult,
  GetJobsRequest,
  JobSource,
  JobUpdateResult,
  SourceStatus,
  WorkerUpdateResult,
} from '../../../src/communicator/index.js';
import { createLogger } from '../../../src/logging/index.js';
import type { ContractsByKind, PluginKind } from '../../../src/plugins/index.js';
import { testQueue } from '../plugins/plugin-fixtures.js';
import { FileSpec, JobSpec, type WorkSpec } from '../../../src/spec/index.js';
import { SqliteStore } from '../../../src/store/index.js';
import type { AgentEnvironment } from '../../../src/agents/environment.js';

/** A clock that stands still until the test moves it. */
export class TestClock {
  #ms: number;

  constructor(start: Date = new Date('2024-05-01T12:00:00Z')) {
    this.#ms = start.getTime();
  }

  readonly now = (): Date => new Date(this.#ms);

  advance(seconds: number): void {
    this.#ms += seconds * 1000;
  }
}

/** Log lines written as JSON, parsed, for assertions on what an operator would read. */
export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [key: string]: unknown;
}

export class RecordingLog {
  readonly lines: LogLine[] = [];
  readonly logger = createLogger({
    level: 'debug',
    destination: { write: (line: string) => this.lines.push(JSON.parse(line) as LogLine) } as unknown as NodeJS.WritableStream,
  });

  /** Lines at warn (40) or above whose message contains the text. */
  problems(text: string): LogLine[] {
    return this.lines.filter((l) => l.level >= 40 && l.msg.includes(text));
  }
}

/** A job source whose answers the test sets; every call is recorded. Methods the agents here never call throw. */
export class RecordingJobSource implements JobSource {
  readonly description = 'recording test source';
  readonly getJobsCalls: GetJobsRequest[] = [];
  readonly updateJobsCalls: number[][] = [];
  readonly updateWorkersCalls: number[][] = [];
  /** What getJobs answers; by default no jobs. */
  onGetJobs: (request: GetJobsRequest) => Promise<JobSpec[]> = async () => [];
  /** What updateJobs answers; by default every report taken. */
  onUpdateJobs: (jobs: readonly JobSpec[]) => Promise<JobUpdateResult[]> = async (jobs) => jobs.map((j) => jobTaken(j.PandaID));
  onUpdateWorkers: (workers: readonly WorkSpec[]) => Promise<WorkerUpdateResult[]> = async (workers) =>
    workers.map((w) => ({ workerID: w.workerID, ok: true }));

  async getJobs(request: GetJobsRequest): Promise<JobSpec[]> {
    this.getJobsCalls.push(request);
    return this.onGetJobs(request);
  }

  async updateJobs(jobSpecs: readonly JobSpec[]): Promise<JobUpdateResult[]> {
    this.updateJobsCalls.push(jobSpecs.map((j) => j.PandaID as number));
    return this.onUpdateJobs(jobSpecs);
  }

  async updateWorkers(workSpecs: readonly WorkSpec[]): Promise<WorkerUpdateResult[]> {
    this.updateWorkersCalls.push(workSpecs.map((w) => w.workerID as number));
    return this.onUpdateWorkers(workSpecs);
  }

  async getEventRanges(): Promise<EventRangesResult[]> {
    throw new Error('RecordingJobSource.getEventRanges is not used by these tests');
  }

  async updateEventRanges(): Promise<EventRangesUpdateResult> {
    throw new Error('RecordingJobSource.updateEventRanges is not used by these tests');
  }

  async isAlive(): Promise<string> {
    return 'OK';
  }

  async checkPanda(): Promise<SourceStatus> {
    return { alive: true, httpStatus: 200, text: this.description };
  }

  async close(): Promise<void> {
    // Nothing held.
  }
}

/** The source's answer "taken" for one job, optionally with a command. */
export function jobTaken(PandaID: number | null, command: string | null = null): JobUpdateResult {
  return { PandaID, StatusCode: 0, ok: true, command, errorDiag: null, response: { StatusCode: 0, ...(command === null ? {} : { command }) } };
}

export type TestPlugins = { readonly [K in PluginKind]?: ContractsByKind[K] };

export interface JobSideEnvOptions {
  readonly queues?: readonly QueueConfig[];
  /** Plugins by queue name. */
  readonly plugins?: Readonly<Record<string, TestPlugins>>;
  /** Settings per agent, on top of the defaults. */
  readonly settings?: { readonly [K in AgentName]?: Partial<AgentSettings[K]> };
}

export interface JobSideEnv {
  readonly env: AgentEnvironment;
  readonly store: SqliteStore;
  readonly source: RecordingJobSource;
  readonly clock: TestClock;
  readonly log: RecordingLog;
  readonly signal: AbortSignal;
  /** Closes the store and removes the temporary directory. */
  cleanup(): Promise<void>;
}

/** An environment over a fresh SqliteStore file in a temporary directory. */
export async function jobSideEnv(options: JobSideEnvOptions = {}): Promise<JobSideEnv> {
  const dir = await mkdtemp(join(tmpdir(), 'harvester-agents-'));
  const store = await SqliteStore.open(join(dir, 'harvester.db'));
  const source = new RecordingJobSource();
  const clock = new TestClock();
  const log = new RecordingLog();
  const settings = Object.fromEntries(
    Object.entries(defaultAgentSettings).map(([name, defaults]) => [name, { ...defaults, ...(options.settings?.[name as AgentName] ?? {}) }]),
  ) as unknown as AgentSettings;
  const plugins = options.plugins ?? {};
  const env: AgentEnvironment = {
    store,
    jobSource: source,
    queues: options.queues ?? [testQueue()],
    plugin: async (queue, kind) => plugins[queue.queueName]?.[kind],
    settings,
    home: dir,
    log: log.logger,
    instance: 'testhost-1',
    now: clock.now,
  };
  return {
    env,
    store,
    source,
    clock,
    log,
    signal: new AbortController().signal,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A job as the fetcher leaves it, with one input file per LFN (and its jobParams lists). */
export function fetchedJob(PandaID: number, queueName = 'TEST_QUEUE', lfns: readonly string[] = [`in.${PandaID}.root`]): JobSpec {
  const job = new JobSpec({
    PandaID,
    computingSite: queueName,
    status: 'starting',
    subStatus: 'fetched',
    jobParams: {
      inFiles: lfns.join(','),
      GUID: lfns.map((_, i) => `guid-${PandaID}-${i}`).join(','),
      fsize: lfns.map(() => '100').join(','),
      checksum: lfns.map(() => 'ad:00000001').join(','),
      scopeIn: lfns.map(() => 'mc').join(','),
      realDatasetsIn: lfns.map(() => 'mc:ds').join(','),
      ddmEndPointIn: lfns.map(() => 'EP').join(','),
    },
  });
  for (const lfn of lfns) job.addInFile(new FileSpec({ lfn, fileType: 'input', status: 'to_prepare' }));
  return job;
}

/** A job whose worker ended: final status, output files waiting for stage-out. */
export function jobToTransfer(PandaID: number, queueName = 'TEST_QUEUE', status: 'finished' | 'failed' = 'finished'): JobSpec {
  const job = new JobSpec({ PandaID, computingSite: queueName, status, subStatus: 'to_transfer' });
  job.addOutFile(new FileSpec({ lfn: `out.${PandaID}.root`, fileType: 'output', status: 'defined' }));
  job.addOutFile(new FileSpec({ lfn: `log.${PandaID}.tgz`, fileType: 'log', status: 'defined' }));
  return job;
}

/** A plugin object whose every method of `methods` runs `behaviour` (throw, hang, answer nonsense). */
export function pluginDoing<T>(methods: readonly string[], behaviour: (method: string) => Promise<unknown>): T {
  return Object.fromEntries(methods.map((m) => [m, () => behaviour(m)])) as T;
}

/** Never settles (and holds no timer, so the test process can still exit): a plugin that hangs. */
export function hang(): Promise<never> {
  return new Promise(() => {
    // Intentionally never resolves: the agent's deadline must cut the call short.
  });
}
