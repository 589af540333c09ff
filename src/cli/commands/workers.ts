// `harvester workers list|kill` (harvester-admin's worker commands): list workers from the database, and mark
// workers to be killed. Marking only sets killTime; the sweeper agent finds marked workers and kills them
// through the queue's sweeper plugin, so a kill works the same for local and remote queues.
import type { Command } from 'commander';
import { finalWorkerStatuses, workerStatuses, type WorkSpec } from '../../spec/index.js';
import type { Store } from '../../store/index.js';
import { CliContext } from '../context.js';
import { UsageError } from '../exit-codes.js';
import { formatTable } from '../table.js';
import { openExistingStore, withStore } from '../open-store.js';
import { idList, shortText, statusList, timeCell, timeJson } from '../admin-values.js';

interface ListOptions {
  readonly queue?: string;
  readonly status?: string[];
  readonly json?: boolean;
}

interface KillOptions {
  readonly queue: string;
  readonly id?: number[];
  readonly status?: string[];
  readonly json?: boolean;
}

export function registerWorkersCommands(program: Command): void {
  const workers = program.command('workers').description('list workers and mark them to be killed');

  workers
    .command('list')
    .description('list workers in the database (all queues unless --queue)')
    .option('--queue <name>', 'only workers of this queue (computingSite)')
    .option('--status <statuses>', `only workers in these statuses, comma-separated (${workerStatuses.join(', ')})`, statusList(workerStatuses))
    .option('--json', 'print JSON for scripts')
    .action(async (opts: ListOptions, command: Command) => {
      const ctx = CliContext.fromCommand(command);
      const store = await openExistingStore(ctx.master);
      const found =
        store === undefined
          ? []
          : await withStore(store, (s) => s.listWorkers({ ...(opts.queue === undefined ? {} : { queueName: opts.queue }), ...(opts.status === undefined ? {} : { status: opts.status }) }));
      if (opts.json) {
        process.stdout.write(JSON.stringify(found.map(workerJson), null, 2) + '\n');
        return;
      }
      process.stdout.write(renderWorkers(found) + '\n');
    });

  workers
    .command('kill')
    .description('mark workers of a queue to be killed (killTime = now); the sweeper agent kills them')
    .requiredOption('--queue <name>', 'the queue of the workers')
    .option('--id <ids...>', 'worker ids (space- or comma-separated)', idList)
    .option('--status <statuses>', `every worker in these statuses, comma-separated (${workerStatuses.join(', ')})`, statusList(workerStatuses))
    .option('--json', 'print JSON for scripts')
    .action(async (opts: KillOptions, command: Command) => {
      if ((opts.id === undefined) === (opts.status === undefined)) throw new UsageError('workers kill: give either --id or --status');
      const ctx = CliContext.fromCommand(command);
      const queueName = ctx.queue(ctx.loadQueues(), opts.queue).queueName;
      const store = await openExistingStore(ctx.master);
      const marking =
        store === undefined ? emptyMarking(queueName, opts.id) : await withStore(store, (s) => markWorkersToKill(s, queueName, opts));
      if (opts.json) {
        process.stdout.write(JSON.stringify(marking, null, 2) + '\n');
        return;
      }
      process.stdout.write(describeMarking(marking) + '\n');
    });
}

/** What `workers kill` did, by worker id. */
export interface KillMarking {
  readonly queueName: string;
  /** Marked now: killTime was unset and the worker is not in a final status. */
  readonly marked: number[];
  /** Left alone: already marked before. */
  readonly alreadyMarked: number[];
  /** Left alone: finished, failed, cancelled or missed — nothing to kill. */
  readonly final: number[];
}

type WorkerStore = Pick<Store, 'listWorkers' | 'updateWorkers'>;

function emptyMarking(queueName: string, ids: readonly number[] | undefined): KillMarking {
  if (ids !== undefined) throw new UsageError(`no worker ${ids.join(', ')} in queue '${queueName}' (the database is empty); nothing was marked`);
  return { queueName, marked: [], alreadyMarked: [], final: [] };
}

/**
 * Sets killTime on the matching workers of the queue that are neither final nor already marked, as
 * harvester's mark_workers_to_kill does. Ids not in the queue are a usage error and nothing is marked.
 */
export async function markWorkersToKill(store: WorkerStore, queueName: string, opts: Pick<KillOptions, 'id' | 'status'>, now = new Date()): Promise<KillMarking> {
  const found = await store.listWorkers({
    queueName,
    ...(opts.id === undefined ? {} : { workerIDs: opts.id }),
    ...(opts.status === undefined ? {} : { status: opts.status }),
  });
  if (opts.id !== undefined) {
    const present = new Set(found.map((w) => w.workerID));
    const missing = opts.id.filter((id) => !present.has(id));
    if (missing.length > 0) throw new UsageError(`no worker ${missing.join(', ')} in queue '${queueName}'; nothing was marked`);
  }
  const isFinal = (w: WorkSpec): boolean => w.status !== null && finalWorkerStatuses.includes(w.status);
  const final = found.filter(isFinal);
  const alreadyMarked = found.filter((w) => !isFinal(w) && w.killTime !== null);
  const toMark = found.filter((w) => !isFinal(w) && w.killTime === null);
  for (const worker of toMark) worker.killTime = now;
  // No lock: an admin update, written whoever holds the workers (the monitor may be checking them).
  if (toMark.length > 0) await store.updateWorkers(toMark, { now });
  const ids = (list: readonly WorkSpec[]): number[] => list.map((w) => w.workerID as number);
  return { queueName, marked: ids(toMark), alreadyMarked: ids(alreadyMarked), final: ids(final) };
}

function describeMarking(m: KillMarking): string {
  const lines = [
    m.marked.length === 0
      ? `no worker of queue ${m.queueName} marked to be killed`
      : `marked ${m.marked.length} worker(s) of queue ${m.queueName} to be killed: ${m.marked.join(', ')} (the sweeper agent kills them)`,
  ];
  if (m.alreadyMarked.length > 0) lines.push(`already marked: ${m.alreadyMarked.join(', ')}`);
  if (m.final.length > 0) lines.push(`in a final status, left alone: ${m.final.join(', ')}`);
  return lines.join('\n');
}

/** A worker as `workers list --json` prints it: harvester's field names. */
export function workerJson(w: WorkSpec): Record<string, unknown> {
  return {
    workerID: w.workerID,
    queueName: w.queueName,
    computingSite: w.computingSite,
    status: w.status,
    batchID: w.batchID,
    submitTime: timeJson(w.submitTime),
    startTime: timeJson(w.startTime),
    endTime: timeJson(w.endTime),
    killTime: timeJson(w.killTime),
    nJobs: w.nJobs,
    diagMessage: w.diagMessage,
  };
}

function renderWorkers(found: readonly WorkSpec[]): string {
  const rows = found.map((w) => ({
    workerID: w.workerID,
    queueName: w.computingSite ?? w.queueName,
    status: w.status,
    batchID: w.batchID,
    submitTime: timeCell(w.submitTime),
    startTime: timeCell(w.startTime),
    endTime: timeCell(w.endTime),
    killTime: timeCell(w.killTime),
    nJobs: w.nJobs,
    diagMessage: shortText(w.diagMessage),
  }));
  return formatTable(['workerID', 'queueName', 'status', 'batchID', 'submitTime', 'startTime', 'endTime', 'killTime', 'nJobs', 'diagMessage'], rows);
}
