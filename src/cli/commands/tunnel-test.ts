// `harvester tunnel-test --queue NAME`: harvester's sshTunnelTest.py, step by step with timings.
import type { Command } from 'commander';
import type { CheckStep } from '../../middleware/herder/route-check.js';
import { maskSecrets } from '../../logging/index.js';
import { CliContext } from '../context.js';
import { ExitCode, UsageError } from '../exit-codes.js';

export function registerTunnelTestCommand(program: Command): void {
  program
    .command('tunnel-test')
    .description("check a queue's route to its bot step by step: jump host, remote host, port forward, bot auth, a no-op call, each remote plugin")
    .requiredOption('--queue <name>', 'queue name')
    .option('--queue-config <file>', 'queue configuration file (default: from the master config)')
    .option(
      '--accept-new-host-key',
      'record the host key of a jump or remote host not yet in known_hosts (printed with its SHA256 fingerprint: compare it with the one the site publishes); without it an unknown key fails, as in `harvester run`',
    )
    .action(async (opts: { queue: string; queueConfig?: string; acceptNewHostKey?: boolean }, command: Command) => {
      const ctx = CliContext.fromCommand(command, 'tunnel-test.log');
      const queue = ctx.queue(ctx.loadQueues(opts.queueConfig), opts.queue);
      // Loaded here: the SSH transport is only imported by the commands that use it.
      const { checkQueueRoutes, routedMiddlewares } = await import('../../middleware/herder/route-check.js');
      if (routedMiddlewares(queue).size === 0) {
        // Nothing to test is a configuration matter (exit 2), not a route that failed (exit 1).
        throw new UsageError(`queue ${queue.queueName} has no plugin section with "middleware": nothing to test; add "middleware": "rpc" to the sections that must run remotely`);
      }
      const print = (s: CheckStep): void => {
        const mark = s.ok ? 'ok  ' : 'FAIL';
        process.stdout.write(maskSecrets(`${mark} ${s.step.padEnd(34)} ${`${s.ms.toFixed(1)} ms`.padStart(10)}  ${s.target}  ${s.detail}`) + '\n');
        if (!s.ok && s.hint) process.stdout.write(maskSecrets(`     fix: ${s.hint}`) + '\n');
      };
      let ok = false;
      try {
        ok = await checkQueueRoutes({
          queue,
          knownHostsFile: ctx.master.knownHostsFile,
          factory: await ctx.factory(),
          log: ctx.log,
          onStep: print,
          acceptNewHostKeys: opts.acceptNewHostKey === true,
        });
      } finally {
        await ctx.close();
      }
      process.stdout.write(ok ? `tunnel-test: queue ${queue.queueName}: all steps passed\n` : `tunnel-test: queue ${queue.queueName}: FAILED (see the first FAIL above)\n`);
      process.exitCode = ok ? ExitCode.ok : ExitCode.failure;
    });
}
