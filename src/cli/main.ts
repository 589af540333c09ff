#!/usr/bin/env node
// The `harvester` command. Each subcommand lives in its own module under commands/; this file only wires
// them into one commander program and turns errors into one-line messages and exit codes.
import { Command, CommanderError } from 'commander';
import { maskSecrets } from '../logging/index.js';
import { ConfigFileError, ConfigInvalidError, formatProblem } from '../config/index.js';
import { ExitCode, UsageError } from './exit-codes.js';
import { registerQueuesCommands } from './commands/queues.js';
import { registerPluginsCommands } from './commands/plugins.js';
import { registerBotCommands } from './commands/bot.js';
import { registerTunnelTestCommand } from './commands/tunnel-test.js';
import { registerRunCommand } from './commands/run.js';
import { registerWorkersCommands } from './commands/workers.js';
import { registerJobsCommands } from './commands/jobs.js';
import { registerRemoteInstallCommand } from './commands/remote-install.js';
import { registerBundleCommand } from './commands/bundle.js';
import { registerStatusCommand } from './commands/status.js';
import { registerDbCommands } from './commands/db.js';
import { programVersion } from '../version.js';

export function buildProgram(): Command {
  const program = new Command('harvester')
    .description('PanDA Harvester in TypeScript: submit and watch workers, locally or on SSH-only hosts through a bot')
    .version(programVersion(), '-V, --version')
    .option('--home <dir>', 'harvester home directory (default: $HARVESTER_HOME or ~/.harvester)')
    .option('--config <file>', 'master configuration file (default: <home>/harvester.json when present)')
    .option('--log-level <level>', 'log level: trace, debug, info, warn, error')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      // Usage errors: one line (commander's own), then our exit code 2.
      outputError: (text, write) => write(maskSecrets(text.trimEnd().split('\n')[0] ?? text) + '\n'),
    });
  registerQueuesCommands(program);
  registerPluginsCommands(program);
  registerBotCommands(program);
  registerTunnelTestCommand(program);
  registerRunCommand(program);
  registerStatusCommand(program);
  registerWorkersCommands(program);
  registerJobsCommands(program);
  registerRemoteInstallCommand(program);
  registerBundleCommand(program);
  registerDbCommands(program);
  for (const command of program.commands) applyExitOverride(command);
  return program;
}

function applyExitOverride(command: Command): void {
  command.exitOverride();
  command.configureOutput({
    outputError: (text, write) => write(maskSecrets(text.trimEnd().split('\n')[0] ?? text) + '\n'),
  });
  for (const sub of command.commands) applyExitOverride(sub);
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (error) {
    return reportError(error);
  }
}

function reportError(error: unknown): number {
  if (error instanceof CommanderError) {
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') {
      return ExitCode.ok;
    }
    // commander already printed the one-line reason.
    return ExitCode.badInput;
  }
  if (error instanceof ConfigInvalidError) {
    // Bad input: one line per problem, in the same form as `queues check`.
    for (const problem of error.problems) process.stderr.write(`harvester: ${maskSecrets(formatProblem(problem))}\n`);
    return ExitCode.badInput;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`harvester: ${maskSecrets(message)}\n`);
  if (process.env.HARVESTER_DEBUG && error instanceof Error && error.stack) {
    process.stderr.write(maskSecrets(error.stack) + '\n');
  }
  return error instanceof UsageError || error instanceof ConfigFileError || isBadInput(error) ? ExitCode.badInput : ExitCode.failure;
}

function isBadInput(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { badInput?: unknown }).badInput === true;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`harvester: internal error: ${maskSecrets(String(error))}\n`);
    process.exitCode = ExitCode.failure;
  },
);
