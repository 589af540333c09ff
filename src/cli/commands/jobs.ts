// `harvester jobs list|add`: the jobs in the database and the embedded job queue. `jobs add` puts jobs in the
// embedded queue, where the job fetcher of their queue takes them (the PanDA server's role when harvester
// runs without one); `jobs list` shows both the stored jobs and the entries still waiting, as 'queued'.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { JsonSyntaxError, type ConfigProblem, type QueueConfigLoad } from '../../config/index.js';
import { parseJsonText } from '../../config/json-text.js';
import { describeValue, isPlainObject, ProblemCollector } from '../../config/report.js';
import { parseReported } from '../../config/schema-issues.js';
import { jobStatuses, type JobSpec } from '../../spec/index.js';
import type { NewQueuedJob, QueuedJob, Store } from '../../store/index.js';
import { CliContext } from '../context.js';
import { ExitCode, UsageError } from '../exit-codes.js';
import { formatTable } from '../table.js';
import { openExistingStore, openStoreForWrite, withStore } from '../open-store.js';
import { positiveInt } from '../options.js';
import { shortText, statusList, timeCell, timeJson } from '../admin-values.js';

/** The status `jobs list` gives entries of the embedded queue that no job fetcher has stored yet. */
export const QUEUED_STATUS = 'queued';
const listableStatuses: readonly string[] = [QUEUED_STATUS, ...jobStatuses];

interface ListOptions {
  readonly queue?: string;
  readonly status?: string[];
  readonly json?: boolean;
}

interface AddOptions {
  readonly queue?: string;
  readonly command?: string;
  readonly count?: number;
  readonly file?: string;
  readonly json?: boolean;
}

export function registerJobsCommands(program: Command): void {
  const jobs = program.command('jobs').description('list jobs and add jobs to the embedded job queue');

  jobs
    .command('list')
    .description(`list jobs in the database and entries still waiting in the embedded job queue (status '${QUEUED_STATUS}')`)
    .option('--queue <name>', 'only jobs of this queue (computingSite)')
    .option('--status <statuses>', `only jobs in these statuses, comma-separated (${listableStatuses.join(', ')})`, statusList(listableStatuses))
    .option('--json', 'print JSON for scripts')
    .action(async (opts: ListOptions, command: Command) => {
      const ctx = CliContext.fromCommand(command);
      const store = await openExistingStore(ctx.master);
      const listed = store === undefined ? [] : await withStore(store, (s) => listJobsAndQueued(s, opts));
      if (opts.json) {
        process.stdout.write(JSON.stringify(listed, null, 2) + '\n');
        return;
      }
      process.stdout.write(renderJobs(listed) + '\n');
    });

  jobs
    .command('add')
    .description('add jobs to the embedded job queue: --queue and --command (and --count), or --file; prints their PandaIDs')
    .option('--queue <name>', 'the queue the jobs are for (with --file: the default for entries without queueName)')
    .option('--command <command>', 'the shell command of the job (jobParams.command)')
    .option('--count <n>', 'how many such jobs (default 1)', positiveInt)
    .option('--file <jobs.json>', 'a JSON array of {queueName?, command or jobParams, taskID?, currentPriority?, nCore?}')
    .option('--json', 'print JSON for scripts')
    .action(async (opts: AddOptions, command: Command) => {
      const ctx = CliContext.fromCommand(command);
      const load = ctx.loadQueues();
      let entries: NewQueuedJob[];
      if (opts.file !== undefined) {
        if (opts.command !== undefined || opts.count !== undefined) throw new UsageError('jobs add: --file takes no --command or --count (give them per entry in the file)');
        if (opts.queue !== undefined) takesJobs(ctx, load, opts.queue);
        const read = readJobsFile(resolve(opts.file), opts.queue, load);
        if (read.problems.length > 0) {
          for (const p of read.problems) process.stderr.write(`harvester: ${formatEntryProblem(p)}\n`);
          process.stderr.write(`harvester: ${read.problems.length} problem(s) in ${read.file}; no job was added\n`);
          process.exitCode = ExitCode.badInput;
          return;
        }
        entries = read.entries;
      } else {
        if (opts.queue === undefined || opts.command === undefined) throw new UsageError('jobs add: give --queue and --command, or --file');
        if (opts.command.trim() === '') throw new UsageError('jobs add: --command is empty');
        const queueName = takesJobs(ctx, load, opts.queue);
        entries = Array.from({ length: opts.count ?? 1 }, () => ({ queueName, jobParams: { command: opts.command } }));
      }
      if (ctx.master.jobSource !== 'embedded') {
        // Still added (the configuration may be switched back), but say why nothing will run them.
        process.stderr.write('warning: the master configuration takes jobs from a PanDA server, not the embedded job queue: these jobs are not fetched\n');
      }
      const store = await openStoreForWrite(ctx.master);
      const PandaIDs = await withStore(store, (s) => s.enqueueJobs(entries));
      if (opts.json) {
        process.stdout.write(JSON.stringify(PandaIDs.map((PandaID, i) => ({ PandaID, queueName: entries[i]!.queueName })), null, 2) + '\n');
        return;
      }
      // One id per line: easy to read and to feed to other commands.
      process.stdout.write(PandaIDs.map((id) => `${id}\n`).join(''));
    });
}

/** The queue NAME when it exists and runs jobs; a UsageError naming the queues that do otherwise. */
function takesJobs(ctx: CliContext, load: QueueConfigLoad, name: string): string {
  const queue = ctx.queue(load, name);
  if (queue.mapType === 'NoJob') throw new UsageError(`queue '${name}' has mapType NoJob: it runs no jobs (queues that do: ${jobQueues(load)})`);
  return queue.queueName;
}

function jobQueues(load: QueueConfigLoad): string {
  return [...load.queues.values()].filter((q) => q.mapType !== 'NoJob').map((q) => q.queueName).join(', ') || 'none';
}

// ---- the jobs file ----

const entrySchema = z
  .strictObject({
    queueName: z.string().min(1).optional(),
    command: z.string().trim().min(1).optional(),
    jobParams: z.record(z.string(), z.unknown()).optional(),
    taskID: z.number().int().min(1).nullable().optional(),
    currentPriority: z.number().int().nullable().optional(),
    nCore: z.number().int().min(1).nullable().optional(),
  })
  .refine((e) => e.command !== undefined || e.jobParams !== undefined, { message: 'give command or jobParams' })
  .refine((e) => e.command === undefined || e.jobParams?.['command'] === undefined, { message: 'command is given twice: as command and as jobParams.command' });

export interface JobsFileRead {
  readonly file: string;
  readonly entries: NewQueuedJob[];
  /** Every problem of the file; path is "[index].field". Entries are only usable when there are none. */
  readonly problems: ConfigProblem[];
}

/** Reads and validates a jobs file: every problem at once, each with its entry index and field. */
export function readJobsFile(file: string, defaultQueue: string | undefined, load: QueueConfigLoad): JobsFileRead {
  const collector = new ProblemCollector(file);
  const report = collector.forQueue(undefined);
  const result = (entries: NewQueuedJob[]): JobsFileRead => ({ file, entries, problems: collector.problems });
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read jobs file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  let document: unknown;
  try {
    document = parseJsonText(text);
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    report.problem('', error.message);
    return result([]);
  }
  if (!Array.isArray(document)) {
    report.problem('', `expected a JSON array of jobs, got ${describeValue(document)}`);
    return result([]);
  }
  if (document.length === 0) report.problem('', 'the array holds no job');
  const entries: NewQueuedJob[] = [];
  document.forEach((raw: unknown, index) => {
    const entry = parseReported(entrySchema, raw, [index], report);
    // The queue is checked even when the entry has other problems: every problem at once.
    const givenQueue = isPlainObject(raw) ? raw['queueName'] : undefined;
    const queueName = givenQueue === undefined ? defaultQueue : typeof givenQueue === 'string' && givenQueue !== '' ? givenQueue : undefined;
    const queueProblem =
      givenQueue !== undefined && queueName === undefined
        ? undefined // a queueName of the wrong type: the schema reported it
        : entryQueueProblem(queueName, load);
    if (queueProblem !== undefined) report.problem([index, 'queueName'], queueProblem);
    if (entry === undefined || queueName === undefined || queueProblem !== undefined) return;
    entries.push({
      queueName,
      jobParams: entry.command === undefined ? (entry.jobParams ?? {}) : { ...entry.jobParams, command: entry.command },
      ...(entry.taskID === undefined ? {} : { taskID: entry.taskID }),
      ...(entry.currentPriority === undefined ? {} : { currentPriority: entry.currentPriority }),
      ...(entry.nCore === undefined ? {} : { nCore: entry.nCore }),
    });
  });
  return result(entries);
}

/** Why an entry cannot go to `queueName` (absent, unknown, NoJob); undefined when it can. */
function entryQueueProblem(queueName: string | undefined, load: QueueConfigLoad): string | undefined {
  if (queueName === undefined) return 'required (or give --queue)';
  const queue = load.queues.get(queueName);
  if (queue === undefined) return `no queue '${queueName}' in ${load.file} (queues: ${[...load.queues.keys()].join(', ') || 'none'})`;
  if (queue.mapType === 'NoJob') return `queue '${queueName}' has mapType NoJob: it runs no jobs (queues that do: ${jobQueues(load)})`;
  return undefined;
}

/** "file: [index].field: message", or "file: message" for the file as a whole. */
export function formatEntryProblem(p: ConfigProblem): string {
  return `${p.file}: ${p.path === '' ? '' : `${p.path}: `}${p.message}`;
}

// ---- listing ----

/** A line of `jobs list --json`: harvester's field names; queued entries have status 'queued'. */
export interface ListedJob {
  readonly PandaID: number | null;
  readonly computingSite: string | null;
  readonly status: string | null;
  readonly subStatus: string | null;
  readonly creationTime: string | null;
  readonly modificationTime: string | null;
  readonly taskID: number | null;
  readonly currentPriority: number | null;
  readonly nCore: number | null;
  readonly command: string | null;
}

type JobStore = Pick<Store, 'listJobs' | 'listQueuedJobs'>;

/** Stored jobs then waiting entries, each by PandaID, filtered alike. */
export async function listJobsAndQueued(store: JobStore, opts: Pick<ListOptions, 'queue' | 'status'>): Promise<ListedJob[]> {
  const queueFilter = opts.queue === undefined ? {} : { queueName: opts.queue };
  const storedStatuses = opts.status?.filter((s) => s !== QUEUED_STATUS);
  const stored = opts.status !== undefined && storedStatuses!.length === 0 ? [] : await store.listJobs({ ...queueFilter, ...(storedStatuses === undefined ? {} : { status: storedStatuses }) });
  const wantQueued = opts.status === undefined || opts.status.includes(QUEUED_STATUS);
  const queued = wantQueued ? await store.listQueuedJobs(queueFilter) : [];
  // The two reads are not one transaction: a job fetched in between would otherwise show twice.
  const storedIDs = new Set(stored.map((j) => j.PandaID));
  return [...stored.map(storedJob), ...queued.filter((q) => !storedIDs.has(q.PandaID)).map(queuedJob)];
}

function storedJob(job: JobSpec): ListedJob {
  return {
    PandaID: job.PandaID,
    computingSite: job.computingSite,
    status: job.status,
    subStatus: job.subStatus,
    creationTime: timeJson(job.creationTime),
    modificationTime: timeJson(job.modificationTime),
    taskID: job.taskID,
    currentPriority: job.currentPriority,
    nCore: job.nCore,
    command: commandOf(job.jobParams),
  };
}

function queuedJob(entry: QueuedJob): ListedJob {
  return {
    PandaID: entry.PandaID,
    computingSite: entry.queueName,
    status: QUEUED_STATUS,
    subStatus: null,
    creationTime: timeJson(entry.creationTime),
    // An entry changes once: when a job fetcher takes it.
    modificationTime: timeJson(entry.takenTime),
    taskID: entry.taskID,
    currentPriority: entry.currentPriority,
    nCore: entry.nCore,
    command: commandOf(entry.jobParams),
  };
}

/** What the job runs: our jobParams.command, else PanDA's transformation and jobPars (as local-process runs them). */
function commandOf(jobParams: Readonly<Record<string, unknown>> | null): string | null {
  const text = (value: unknown): string | undefined => (typeof value === 'string' && value.trim() !== '' ? value : undefined);
  const command = text(jobParams?.['command']);
  if (command !== undefined) return command;
  const transformation = text(jobParams?.['transformation']);
  if (transformation === undefined) return null;
  const jobPars = text(jobParams?.['jobPars']);
  return jobPars === undefined ? transformation : `${transformation} ${jobPars}`;
}

function renderJobs(listed: readonly ListedJob[]): string {
  const rows = listed.map((j) => ({
    PandaID: j.PandaID,
    computingSite: j.computingSite,
    status: j.status,
    subStatus: j.subStatus,
    creationTime: timeCell(j.creationTime === null ? null : new Date(j.creationTime)),
    modificationTime: timeCell(j.modificationTime === null ? null : new Date(j.modificationTime)),
    command: shortText(j.command),
  }));
  return formatTable(['PandaID', 'computingSite', 'status', 'subStatus', 'creationTime', 'modificationTime', 'command'], rows);
}
