// One make -> submit -> check -> kill/sweep round of a queue's plugins, as `harvester plugins try` runs it.
// It goes through the same factory as the agents, so a remote section is tried through the RPC herder.
import { randomInt } from 'node:crypto';
import type { QueueConfig } from '../config/index.js';
import type { Logger } from '../logging/index.js';
import { killWorkersOf, type PluginContext, type PluginKind, type WorkerMaker } from '../plugins/contracts.js';
import type { Outcome } from '../plugins/outcome.js';
import { createLocalAccessPoints, workerAccessPoint, type PluginFactory } from '../plugins/index.js';
import { JobSpec, WorkSpec } from '../spec/index.js';
import type { Row } from './table.js';
import { UsageError } from './exit-codes.js';

export interface RoundReport {
  readonly ok: boolean;
  readonly plugins: readonly { kind: PluginKind; name: string; runs: 'local' | 'remote' }[];
  readonly workers: readonly Row[];
  readonly steps: readonly Row[];
}

export interface RoundOptions {
  readonly queue: QueueConfig;
  readonly factory: PluginFactory;
  readonly nWorkers: number;
  readonly home: string;
  readonly log: Logger;
  readonly signal?: AbortSignal;
}

function outcomeText(outcome: Outcome<unknown> | undefined): string {
  if (outcome === undefined) return '';
  const word = outcome.kind === 'succeeded' ? 'ok' : outcome.kind === 'failed' ? 'failed' : 'retry';
  return outcome.diag ? `${word}: ${oneLine(outcome.diag)}` : word;
}

export async function runPluginRound(opts: RoundOptions): Promise<RoundReport> {
  const { queue, factory } = opts;
  const ctx: PluginContext = { queue, log: opts.log.child({ queue: queue.queueName }), signal: opts.signal ?? new AbortController().signal };
  const steps: Row[] = [];
  let ok = true;
  const timed = async <T>(step: string, run: () => Promise<T>, summarize: (value: T) => string): Promise<T> => {
    const start = performance.now();
    try {
      const value = await run();
      steps.push({ step, ms: (performance.now() - start).toFixed(1), result: summarize(value) });
      return value;
    } catch (error) {
      ok = false;
      steps.push({ step, ms: (performance.now() - start).toFixed(1), result: `error: ${oneLine(error instanceof Error ? error.message : String(error))}` });
      throw error;
    }
  };

  const submitter = await factory.forQueue(queue, 'submitter');
  const monitor = await factory.forQueue(queue, 'monitor');
  if (submitter === undefined || monitor === undefined) {
    throw new UsageError(`queue '${queue.queueName}' needs a submitter and a monitor section to be tried`);
  }
  const sweeper = await factory.forQueue(queue, 'sweeper');
  const messenger = await factory.forQueue(queue, 'messenger');
  const workerMaker = await factory.forQueue(queue, 'workerMaker');
  const plugins = (['workerMaker', 'submitter', 'monitor', 'sweeper', 'messenger'] as const)
    .filter((kind) => queue[kind] !== undefined)
    .map((kind) => ({ kind, name: queue[kind]!.name, runs: (queue[kind]!.middleware === undefined ? 'local' : 'remote') as 'local' | 'remote' }));

  // Worker IDs unique across tries (a random base; a real store assigns them later), so access points of
  // earlier rounds are never reused, even for two tries within the same second.
  const firstID = randomInt(1, 2 ** 30) * 100_000;
  const workSpecs: WorkSpec[] = [];
  const rows = new Map<WorkSpec, Record<string, string | number>>();
  try {
    await timed(
      'make',
      async () => {
        for (let i = 0; i < opts.nWorkers; i++) {
          let workSpec: WorkSpec;
          if (workerMaker !== undefined) {
            // Harvester's worker makers expect jobs unless the queue runs without them: give placeholder jobs.
            const made = await workerMaker.makeWorker(ctx, await placeholderJobs(queue, workerMaker, ctx, firstID + i), 'managed', 'SCORE');
            if (made.kind !== 'succeeded') throw new Error(`makeWorker: ${outcomeText(made)}`);
            workSpec = made.value;
          } else {
            workSpec = new WorkSpec({});
          }
          workSpec.workerID = firstID + i;
          workSpec.queueName = queue.queueName;
          workSpec.computingSite = queue.siteName;
          workSpec.mapType = queue.mapType;
          workSpec.status = WorkSpec.ST_ready;
          workSpec.accessPoint = workerAccessPoint(queue, workSpec, opts.home);
          workSpecs.push(workSpec);
          rows.set(workSpec, { workerID: workSpec.workerID });
        }
        return workSpecs.length;
      },
      (n) => `${n} worker(s)`,
    );

    if (messenger !== undefined) {
      await timed('setupAccessPoints', () => messenger.setupAccessPoints(ctx, workSpecs), outcomeText);
    } else {
      await createLocalAccessPoints(queue, workSpecs);
    }

    const submitted = await timed('submitWorkers', () => submitter.submitWorkers(ctx, workSpecs), (outcomes) => countKinds(outcomes));
    const live = workSpecs.filter((w, i) => {
      const row = rows.get(w)!;
      row.submit = outcomeText(submitted[i]);
      row.batchID = w.batchID ?? '';
      row.accessPoint = w.accessPoint ?? '';
      return submitted[i]?.kind === 'succeeded';
    });
    if (submitted.some((o) => o.kind !== 'succeeded')) ok = false;

    if (live.length > 0) {
      const checked = await timed('checkWorkers', () => monitor.checkWorkers(ctx, live), (o) => outcomeText(o));
      if (checked.kind === 'succeeded') {
        live.forEach((w, i) => {
          const check = checked.value[i];
          rows.get(w)!.status = check === undefined ? 'missing' : check.diag ? `${check.status}: ${check.diag}` : check.status;
        });
      } else {
        ok = false;
      }
      if (sweeper !== undefined) {
        const killed = await timed('killWorkers', () => killWorkersOf(sweeper, ctx, live), countKinds);
        live.forEach((w, i) => (rows.get(w)!.kill = outcomeText(killed[i])));
        const swept = await timed(
          'sweepWorker',
          async () => {
            const outcomes: Outcome[] = [];
            for (const w of live) outcomes.push(await sweeper.sweepWorker(ctx, w));
            return outcomes;
          },
          countKinds,
        );
        live.forEach((w, i) => (rows.get(w)!.sweep = outcomeText(swept[i])));
        if ([...killed, ...swept].some((o) => o.kind !== 'succeeded')) ok = false;
      }
    }
  } catch (error) {
    // The failing step is in the steps table already; keep what was learned about each worker.
    ok = false;
    opts.log.error({ err: error, queue: queue.queueName }, 'plugin round failed');
  }
  return { ok, plugins, workers: workSpecs.map((w) => rows.get(w)!), steps };
}

async function placeholderJobs(queue: QueueConfig, maker: WorkerMaker, ctx: PluginContext, firstPandaID: number): Promise<JobSpec[]> {
  if (queue.mapType === 'NoJob') return [];
  const n = queue.mapType === 'ManyToOne' ? Math.max(1, await maker.getNumJobsPerWorker(ctx, 1)) : 1;
  return Array.from({ length: n }, (_, k) => new JobSpec({ PandaID: firstPandaID * 100 + k, taskID: 0, status: 'starting', jobParams: { command: 'true', trial: true } }));
}

/** Table cells hold one line. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' | ');
}

function countKinds(outcomes: readonly Outcome<unknown>[]): string {
  const counts = { succeeded: 0, failed: 0, retry: 0 };
  for (const o of outcomes) counts[o.kind]++;
  return `${counts.succeeded} ok, ${counts.failed} failed, ${counts.retry} retry`;
}
