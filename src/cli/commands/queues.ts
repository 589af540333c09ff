// `harvester queues check|show|list`: validate a queue configuration, show a resolved queue, list the queues
// with their worker counts.
import type { Command } from 'commander';
import { formatProblem, maskedQueueConfig, type ConfigProblem, type QueueConfig, type QueueConfigLoad } from '../../config/index.js';
import { pluginKinds } from '../../plugins/contracts.js';
import { accessPointWarnings, type PluginFactory } from '../../plugins/index.js';
import { describeRoute } from '../../middleware/herder/route.js';
import { maskSecrets } from '../../logging/index.js';
import { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { formatTable, type Row } from '../table.js';
import { openExistingStore, withStore } from '../open-store.js';
import { workerStatuses } from '../../spec/index.js';
import type { WorkerCounts } from '../../store/index.js';

export function registerQueuesCommands(program: Command): void {
  const queues = program.command('queues').description('check and show the queue configuration (panda_queueconfig.json)');

  queues
    .command('check')
    .description('validate every queue and plugin section; print every problem at once')
    .option('--queue-config <file>', 'queue configuration file (default: from the master config)')
    .action(async (opts: { queueConfig?: string }, command: Command) => {
      const ctx = CliContext.fromCommand(command);
      const load = ctx.loadQueues(opts.queueConfig);
      const { problems, warnings } = checkQueues(load, await ctx.factory(), { home: ctx.master.home });
      for (const warning of warnings) process.stdout.write(`warning: ${maskSecrets(formatProblem(warning))}\n`);
      for (const problem of problems) process.stdout.write(`${maskSecrets(formatProblem(problem))}\n`);
      const bad = new Set(problems.map((p) => p.queue ?? '-'));
      const good = [...load.queues.keys()].filter((q) => !bad.has(q));
      process.stdout.write(
        `${load.file}: ${good.length} queue(s) OK${good.length > 0 ? ` (${good.join(', ')})` : ''}` +
          `${problems.length > 0 ? `, ${problems.length} problem(s)` : ''}${warnings.length > 0 ? `, ${warnings.length} warning(s)` : ''}\n`,
      );
      process.exitCode = problems.length > 0 ? ExitCode.badInput : ExitCode.ok;
    });

  queues
    .command('show')
    .description('show a queue with templates applied, which plugins run remotely and through what route (secrets masked)')
    .argument('<name>', 'queue name')
    .option('--queue-config <file>', 'queue configuration file (default: from the master config)')
    .option('--json', 'print JSON for scripts')
    .action((name: string, opts: { queueConfig?: string; json?: boolean }, command: Command) => {
      const ctx = CliContext.fromCommand(command);
      const load = ctx.loadQueues(opts.queueConfig);
      const queue = ctx.queue(load, name);
      const placements = pluginPlacements(queue);
      if (opts.json) {
        process.stdout.write(maskSecrets(JSON.stringify({ queue: maskedQueueConfig(queue), plugins: placements }, null, 2)) + '\n');
        return;
      }
      process.stdout.write(maskSecrets(renderQueue(queue, placements)) + '\n');
    });

  queues
    .command('list')
    .description('list the queues with their status, mapType and worker counts by status')
    .option('--queue-config <file>', 'queue configuration file (default: from the master config)')
    .option('--json', 'print JSON for scripts')
    .action(async (opts: { queueConfig?: string; json?: boolean }, command: Command) => {
      const ctx = CliContext.fromCommand(command);
      const load = ctx.loadQueues(opts.queueConfig);
      const store = await openExistingStore(ctx.master);
      const counts = store === undefined ? new Map<string, WorkerCounts>() : await withStore(store, (s) => s.getWorkerStatsByQueue());
      const listed = queueListing(load, counts);
      if (load.problems.length > 0) {
        const broken = new Set(load.problems.map((p) => p.queue ?? '-'));
        process.stderr.write(`warning: ${load.file}: ${load.problems.length} problem(s) (${[...broken].join(', ')}); see 'harvester queues check'\n`);
      }
      if (opts.json) {
        process.stdout.write(JSON.stringify(listed, null, 2) + '\n');
        return;
      }
      process.stdout.write(renderQueueListing(listed) + '\n');
    });
}

/** One line of `queues list`: a configured queue (or one that only the database knows) with its workers. */
export interface QueueListing {
  readonly queueName: string;
  /** null for a queue that has workers in the database but is not in the queue configuration (any more). */
  readonly queueStatus: string | null;
  readonly mapType: string | null;
  /** Workers by status, every known status present (0 when none). */
  readonly nWorkers: Readonly<Record<string, number>>;
}

export function queueListing(load: QueueConfigLoad, counts: ReadonlyMap<string, WorkerCounts>): QueueListing[] {
  const withZeros = (found: WorkerCounts | undefined): Record<string, number> => {
    const all: Record<string, number> = Object.fromEntries(workerStatuses.map((s) => [s, 0]));
    for (const [status, n] of Object.entries(found ?? {})) all[status] = n;
    return all;
  };
  const listed: QueueListing[] = [...load.queues.values()].map((q) => ({
    queueName: q.queueName,
    queueStatus: q.queueStatus,
    mapType: q.mapType,
    nWorkers: withZeros(counts.get(q.queueName)),
  }));
  // Workers of a queue removed from the configuration are still there for the sweeper: show them too.
  const orphans = [...counts.keys()].filter((name) => !load.queues.has(name)).sort();
  for (const name of orphans) listed.push({ queueName: name, queueStatus: null, mapType: null, nWorkers: withZeros(counts.get(name)) });
  return listed;
}

function renderQueueListing(listed: readonly QueueListing[]): string {
  const statuses = [...new Set([...workerStatuses, ...listed.flatMap((q) => Object.keys(q.nWorkers))])];
  const rows: Row[] = listed.map((q) => ({
    queueName: q.queueName,
    queueStatus: q.queueStatus ?? '(not configured)',
    mapType: q.mapType ?? '',
    ...q.nWorkers,
  }));
  return formatTable(['queueName', 'queueStatus', 'mapType', ...statuses], rows);
}

/** Where each plugin section of a queue runs. */
export interface PluginPlacement {
  readonly kind: string;
  readonly name: string;
  readonly module: string;
  readonly runs: 'local' | 'remote';
  readonly route?: string;
  readonly bareFunctions: readonly string[];
}

export function pluginPlacements(queue: QueueConfig): PluginPlacement[] {
  const placements: PluginPlacement[] = [];
  for (const kind of pluginKinds) {
    const section = queue[kind];
    if (section === undefined) continue;
    const middleware = section.middleware === undefined ? undefined : queue.middlewares[section.middleware];
    placements.push({
      kind,
      name: section.name,
      module: section.module,
      runs: middleware === undefined ? 'local' : 'remote',
      ...(middleware === undefined ? {} : { route: describeRoute(middleware) }),
      bareFunctions: section.bareFunctions,
    });
  }
  return placements;
}

function renderQueue(queue: QueueConfig, placements: readonly PluginPlacement[]): string {
  const lines = [`queue ${queue.queueName} (${queue.queueStatus})`, ''];
  lines.push('plugins:');
  for (const p of placements) {
    const where = p.runs === 'local' ? 'local' : `remote: ${p.route}`;
    lines.push(`  ${p.kind.padEnd(11)} ${p.name} (${p.module}) -> ${where}`);
    if (p.bareFunctions.length > 0) lines.push(`  ${''.padEnd(11)} bare (local) functions: ${p.bareFunctions.join(', ')}`);
  }
  lines.push('', 'configuration (templates applied, defaults filled, secrets masked):');
  lines.push(JSON.stringify(maskedQueueConfig(queue), null, 2));
  return lines.join('\n');
}

export interface CheckQueuesOptions {
  /** The core's harvester home: where a relative access point of a local owner is (named in warnings). */
  readonly home: string;
}

/**
 * The loader's problems plus the factory's verdict on every plugin section and middleware element, and
 * warnings about access points that local and remote sections of a queue would not share.
 */
export function checkQueues(load: QueueConfigLoad, factory: PluginFactory, opts: CheckQueuesOptions): { problems: ConfigProblem[]; warnings: ConfigProblem[] } {
  const problems = [...load.problems];
  const warnings = [...load.warnings];
  for (const queue of load.queues.values()) {
    for (const { path, message } of accessPointWarnings(queue, opts.home)) warnings.push({ file: load.file, queue: queue.queueName, path, message });
    for (const kind of pluginKinds) {
      const section = queue[kind];
      if (section === undefined) continue;
      const verdict = factory.check({ queueName: queue.queueName, kind, section });
      for (const message of verdict.warnings) warnings.push({ file: load.file, queue: queue.queueName, path: kind, message });
      for (const message of verdict.problems) problems.push({ file: load.file, queue: queue.queueName, path: kind, message });
    }
    for (const [key, middleware] of Object.entries(queue.middlewares)) {
      const error = factory.checkMiddleware(middleware);
      if (error !== undefined) problems.push({ file: load.file, queue: queue.queueName, path: key, message: error });
    }
  }
  // Queues that failed to build still get their plugins checked: every problem at once, not one per round.
  for (const [queueName, sections] of load.unbuiltSections) {
    for (const { kind, name, module } of sections) {
      const section = { name, module, bareFunctions: [], options: {} };
      // Only whether the plugin exists: the section's options were not read.
      const verdict = factory.check({ queueName, kind, section }, { checkOptions: false });
      for (const message of verdict.problems) problems.push({ file: load.file, queue: queueName, path: kind, message });
    }
  }
  return { problems, warnings };
}
