// `harvester plugins list|try`: the built-in plugins, and one make -> submit -> check -> kill/sweep round of a
// queue's plugins on a few workers, for operators checking a configuration (local or remote alike).
import type { Command } from 'commander';
import { builtinPlugins } from '../../plugins/index.js';
import { CliContext } from '../context.js';
import { formatTable } from '../table.js';
import { runPluginRound, type RoundReport } from '../plugin-round.js';
import { ExitCode } from '../exit-codes.js';
import { wholeNumber } from '../options.js';

export function registerPluginsCommands(program: Command): void {
  const plugins = program.command('plugins').description('the built-in plugins, and trying a queue\'s plugins by hand');

  plugins
    .command('list')
    .description('built-in plugins with the harvester module paths they answer to')
    .option('--json', 'print JSON for scripts')
    .action((opts: { json?: boolean }) => {
      const rows = builtinPlugins().map((p) => ({
        kind: p.kind,
        name: p.className,
        module: p.shortModule,
        harvesterModule: p.harvesterModule,
        description: p.description,
      }));
      if (opts.json) process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      else process.stdout.write(formatTable(['kind', 'name', 'module', 'harvesterModule', 'description'], rows) + '\n');
    });

  plugins
    .command('try')
    .description('run one make -> submit -> check -> kill/sweep round of a queue\'s plugins on N workers')
    .requiredOption('--queue <name>', 'queue name')
    .option('--workers <n>', 'number of workers', wholeNumber(1, 100_000), 3)
    .option('--queue-config <file>', 'queue configuration file (default: from the master config)')
    .option('--json', 'print JSON for scripts')
    .action(async (opts: { queue: string; workers: number; queueConfig?: string; json?: boolean }, command: Command) => {
      const ctx = CliContext.fromCommand(command);
      const queue = ctx.queue(ctx.loadQueues(opts.queueConfig), opts.queue);
      let report: RoundReport;
      try {
        report = await runPluginRound({ queue, factory: await ctx.factory(), nWorkers: opts.workers, home: ctx.master.home, log: ctx.log });
      } finally {
        await ctx.close();
      }
      if (opts.json) {
        process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      } else {
        process.stdout.write(`queue ${queue.queueName}: ${report.plugins.map((p) => `${p.kind}=${p.name}${p.runs === 'remote' ? ' (remote)' : ''}`).join(', ')}\n\n`);
        process.stdout.write(formatTable(['workerID', 'batchID', 'submit', 'status', 'kill', 'sweep', 'accessPoint'], report.workers) + '\n\n');
        process.stdout.write(formatTable(['step', 'ms', 'result'], report.steps) + '\n');
      }
      process.exitCode = report.ok ? ExitCode.ok : ExitCode.failure;
    });
}
