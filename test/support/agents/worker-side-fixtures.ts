// Test support for the worker-side agents (submitter, monitor, sweeper): an AgentEnvironment over a real
// SqliteStore in a temporary directory (the harvester home, where access points are made), a clock the test
// moves, and plugin doubles that record their calls and answer as the test says (succeed, throw, hang, answer
// nonsense, lose the outcome). The clock starts at the real time, so times the local-process plugins read from
// the system (a payload's end) compare sensibly with the agents' clock.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentName, AgentSettings, QueueConfig } from '../../../src/config/index.js';
import { defaultAgentSettings } from '../../../src/config/index.js';
import { BotUnavailableError, OutcomeUnknownError } from '../../../src/middleware/errors.js';
import {
  succeeded,
  type Monitor as MonitorPlugin,
  type Outcome,
  type PluginContext,
  type Submitter as SubmitterPlugin,
  type Sweeper as SweeperPlugin,
  type WorkerCheck,
} from '../../../src/plugins/index.js';
import { testQueue } from '../plugins/plugin-fixtures.js';
import { JobSpec, WorkSpec, type WorkerStatus, type WorkSpecFields } from '../../../src/spec/index.js';
import { SqliteStore } from '../../../src/store/index.js';
import type { AgentEnvironment } from '../../../src/agents/environment.js';
import { hang, RecordingJobSource, RecordingLog, TestClock, type TestPlugins } from './job-side-fixtures.js';

export { hang, TestClock, type TestPlugins };

export interface WorkerSideEnvOptions {
  readonly queues?: readonly QueueConfig[];
  /** Plugins by queue name. */
  readonly plugins?: Readonly<Record<string, TestPlugins>>;
  /** Settings per agent, on top of the defaults. */
  readonly settings?: { readonly [K in AgentName]?: Partial<AgentSettings[K]> };
}

export interface WorkerSideEnv {
  readonly env: AgentEnvironment;
  readonly store: SqliteStore;
  readonly clock: TestClock;
  readonly log: RecordingLog;
  /** The harvester home: a temporary directory. */
  readonly home: string;
  readonly signal: AbortSignal;
  /** Closes the store and removes the temporary directory. */
  cleanup(): Promise<void>;
}

/** A queue for these tests: room for a few workers, OneToOne unless overridden. */
export function workerQueue(overrides: Partial<QueueConfig> = {}): QueueConfig {
  return testQueue({ nQueueLimitWorker: 5, maxWorkers: 10, nQueueLimitJob: 10, ...overrides });
}

export async function workerSideEnv(options: WorkerSideEnvOptions = {}): Promise<WorkerSideEnv> {
  const home = await mkdtemp(join(tmpdir(), 'harvester-worker-agents-'));
  const store = await SqliteStore.open(join(home, 'harvester.db'));
  const clock = new TestClock(new Date());
  const log = new RecordingLog();
  const settings = Object.fromEntries(
    Object.entries(defaultAgentSettings).map(([name, defaults]) => [name, { ...defaults, ...(options.settings?.[name as AgentName] ?? {}) }]),
  ) as unknown as AgentSettings;
  const plugins = options.plugins ?? {};
  const env: AgentEnvironment = {
    store,
    jobSource: new RecordingJobSource(),
    queues: options.queues ?? [workerQueue()],
    plugin: async (queue, kind) => plugins[queue.queueName]?.[kind],
    settings,
    home,
    log: log.logger,
    instance: 'testhost-1',
    now: clock.now,
  };
  return {
    env,
    store,
    clock,
    log,
    home,
    signal: new AbortController().signal,
    cleanup: async () => {
      await store.close();
      await rm(home, { recursive: true, force: true });
    },
  };
}

/** Runs a test body over a fresh environment and cleans up whatever happens. */
export async function withWorkerSideEnv(options: WorkerSideEnvOptions, body: (w: WorkerSideEnv) => Promise<void>): Promise<void> {
  const w = await workerSideEnv(options);
  try {
    await body(w);
  } finally {
    await w.cleanup();
  }
}

/** Stores jobs ready for submission (subStatus 'prepared'), one per command; returns their PandaIDs. */
export async function insertPreparedJobs(store: SqliteStore, commands: readonly string[], queueName = 'TEST_QUEUE'): Promise<number[]> {
  const jobs = commands.map((command) => new JobSpec({ computingSite: queueName, status: 'starting', subStatus: 'prepared', taskID: 1, jobParams: { command } }));
  await store.insertJobs(jobs);
  return jobs.map((j) => j.PandaID as number);
}

/** Stores a worker as a test needs it (e.g. 'running', or 'ready' and locked by a dead process); returns it. */
export async function insertWorker(store: SqliteStore, fields: Partial<WorkSpecFields>, jobs: readonly JobSpec[] = []): Promise<WorkSpec> {
  const worker = new WorkSpec({ queueName: 'TEST_QUEUE', computingSite: 'TEST_QUEUE', mapType: 'OneToOne', ...fields });
  worker.jobSpecs = [...jobs];
  await store.insertWorkers([worker]);
  return worker;
}

type SubmitAnswer = (workSpecs: WorkSpec[], ctx: PluginContext) => Promise<Outcome[]>;

/** A submitter that records the workerIDs of each call and answers with `answer` (default: all submitted). */
export class SubmitterDouble implements SubmitterPlugin {
  readonly calls: number[][] = [];

  constructor(public answer: SubmitAnswer = submitAnswers.succeed) {}

  async submitWorkers(ctx: PluginContext, workSpecs: WorkSpec[]): Promise<Outcome[]> {
    this.calls.push(workSpecs.map((w) => w.workerID as number));
    return this.answer(workSpecs, ctx);
  }

  /** Every workerID ever passed to submitWorkers, in order (repeats kept). */
  get submittedIDs(): number[] {
    return this.calls.flat();
  }
}

export const submitAnswers = {
  succeed: async (workSpecs: WorkSpec[]): Promise<Outcome[]> =>
    workSpecs.map((w) => {
      w.batchID = `batch-${String(w.workerID)}`;
      return succeeded();
    }),
  /** A plain Error: it may have come half-way through, so it may have run. */
  throws: async (): Promise<Outcome[]> => {
    throw new Error('submitter double: the batch system refused the connection');
  },
  /** What the herder throws when no tunnel reaches the bot: the call was never sent. */
  refused: async (): Promise<Outcome[]> => {
    throw new BotUnavailableError('no working tunnel to the bot (submitter double)');
  },
  hangs: (): Promise<Outcome[]> => hang(),
  /** One outcome short. */
  malformed: async (workSpecs: WorkSpec[]): Promise<Outcome[]> => workSpecs.slice(1).map(() => succeeded()),
  outcomeUnknown: async (): Promise<Outcome[]> => {
    throw new OutcomeUnknownError('the link dropped while submitWorkers was in flight');
  },
  each: (outcome: Outcome) => async (workSpecs: WorkSpec[]): Promise<Outcome[]> => workSpecs.map(() => outcome),
};

type CheckAnswer = (workSpecs: WorkSpec[], ctx: PluginContext) => Promise<Outcome<WorkerCheck[]>>;

/** A monitor that records the workerIDs of each call and answers with `answer`. */
export class MonitorDouble implements MonitorPlugin {
  readonly calls: number[][] = [];

  constructor(public answer: CheckAnswer) {}

  async checkWorkers(ctx: PluginContext, workSpecs: WorkSpec[]): Promise<Outcome<WorkerCheck[]>> {
    this.calls.push(workSpecs.map((w) => w.workerID as number));
    return this.answer(workSpecs, ctx);
  }
}

/** Every worker checked as `status`. */
export function checkAs(status: WorkerStatus, diag = ''): CheckAnswer {
  return async (workSpecs) => succeeded(workSpecs.map(() => ({ status, diag })));
}

/** A sweeper that records its calls; kills and sweeps succeed unless told otherwise. */
export class SweeperDouble implements SweeperPlugin {
  readonly killed: number[] = [];
  readonly swept: number[] = [];
  killAnswer: () => Promise<Outcome> = async () => succeeded();
  sweepAnswer: () => Promise<Outcome> = async () => succeeded();

  async killWorker(_ctx: PluginContext, workSpec: WorkSpec): Promise<Outcome> {
    this.killed.push(workSpec.workerID as number);
    return this.killAnswer();
  }

  async sweepWorker(_ctx: PluginContext, workSpec: WorkSpec): Promise<Outcome> {
    this.swept.push(workSpec.workerID as number);
    return this.sweepAnswer();
  }
}
