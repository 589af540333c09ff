// `harvester remote-install --queue NAME`: puts the bot (an offline bundle: one JavaScript file, the built-in
// plugins, a Node runtime when the host has none) on the queue's remote host through its "rpc" route.
import { Option, type Command } from 'commander';
import type { MiddlewareConfig } from '../../config/index.js';
import { pluginKinds } from '../../plugins/contracts.js';
import { CliContext } from '../context.js';
import { ExitCode, UsageError } from '../exit-codes.js';

interface RemoteInstallCliOptions {
  queue: string;
  queueConfig?: string;
  remoteDir: string;
  remoteSetup?: string;
  node: 'auto' | 'bundled' | 'system';
  startBot?: boolean;
  dryRun?: boolean;
  rollback?: boolean;
  runtimeFile?: string;
}

export function registerRemoteInstallCommand(program: Command): void {
  program
    .command('remote-install')
    .description("install the bot on a queue's remote host through its \"rpc\" route: nothing is built or downloaded there")
    .requiredOption('--queue <name>', 'queue whose "rpc" route (and remote host) to install on')
    .option('--queue-config <file>', 'queue configuration file (default: from the master config)')
    .option('--remote-dir <dir>', "install directory on the remote host, relative to the SSH user's home unless absolute", '.harvester-ts')
    .option('--remote-setup <command>', 'shell command run before probing for Node and starting the bot (default: the rpc element\'s remoteSetup)')
    .addOption(new Option('--node <which>', 'which Node runs the bot there: the system one when recent enough (auto), the bundled runtime, or the system one').choices(['auto', 'bundled', 'system']).default('auto'))
    .option('--start-bot', 'start the bot after installing (restarting one of another version)')
    .option('--dry-run', 'probe the host and print the plan without changing anything there')
    .option('--rollback', 'switch back to the previous installed version')
    .option('--runtime-file <tgz>', "a node-<os>-<arch> npm package brought by hand, for a core without access to the npm registry")
    .action(async (opts: RemoteInstallCliOptions, command: Command) => {
      const ctx = CliContext.fromCommand(command, 'remote-install.log');
      const queue = ctx.queue(ctx.loadQueues(opts.queueConfig), opts.queue);
      const elements = new Map<string, MiddlewareConfig>();
      for (const kind of pluginKinds) {
        const key = queue[kind]?.middleware;
        if (key !== undefined) elements.set(key, queue.middlewares[key]!);
      }
      if (/^\s*(~|\$HOME)?\/*\s*$/.test(opts.remoteDir)) throw new UsageError(`--remote-dir ${JSON.stringify(opts.remoteDir)}: give a directory below the home (e.g. .harvester-ts) or an absolute path`);
      if (elements.size === 0) throw new UsageError(`queue '${queue.queueName}': no plugin section has "middleware": nothing runs remotely, so there is nothing to install`);
      if (opts.rollback && opts.dryRun !== true && opts.node !== 'auto') throw new UsageError('--rollback switches to the version already there: it takes no --node');
      // Loaded here: the bundler (esbuild) and the SSH transport are only needed by this command.
      const [{ remoteInstall }, { buildBundle }, { uploadProgress }] = await Promise.all([
        import('../../install/remote-install.js'),
        import('../../install/bundle.js'),
        import('../../install/upload-progress.js'),
      ]);
      const out = process.stdout;
      const seen = new Set<string>();
      try {
        for (const mw of elements.values()) {
          const where = `${mw.sshUserName}@${mw.remoteHost}:${mw.remotePort}`;
          if (seen.has(where)) continue;
          seen.add(where);
          await remoteInstall({
            mw,
            knownHostsFile: ctx.master.knownHostsFile,
            remoteDir: opts.remoteDir,
            ...(opts.remoteSetup !== undefined ? { remoteSetup: opts.remoteSetup } : {}),
            node: opts.node,
            startBot: opts.startBot === true,
            dryRun: opts.dryRun === true,
            rollback: opts.rollback === true,
            makeBundle: async (runtime) => {
              const built = await buildBundle({ runtime, log: ctx.log, ...(opts.runtimeFile ? { runtimeFile: opts.runtimeFile } : {}) });
              return { path: built.path, id: built.id, sha256: built.sha256, bytes: built.bytes, unpackedBytes: built.unpackedBytes, version: built.manifest.version };
            },
            log: ctx.log,
            report: { line: (text) => out.write(`${text}\n`), progress: (label, total) => uploadProgress(out, label, total) },
          });
        }
        if (opts.dryRun !== true) out.write(`Then check the route: harvester tunnel-test --queue ${queue.queueName}\n`);
      } finally {
        await ctx.close();
      }
      process.exitCode = ExitCode.ok;
    });
}
