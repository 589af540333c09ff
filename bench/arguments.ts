// The command line of every bench program: node's parseArgs, but an unknown option or a bad value is one line
// naming the problem and the program's usage, and exit 2 (bad usage, as the harvester CLI), never a stack trace.
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A bad option value a bench program found after parsing (also between our own processes). */
export class BenchArgumentError extends Error {
  override readonly name = 'BenchArgumentError';
}

/** Exit code of a bench program given bad arguments. */
export const benchUsageExitCode = 2;

/** Writes `<program>: <problem>; usage: <usage>` on stderr and exits 2. */
export function exitWithUsage(program: string, usage: string, problem: string): never {
  process.stderr.write(`${program}: ${problem}; usage: ${usage}\n`);
  process.exit(benchUsageExitCode);
}

/** parseArgs (of process.argv unless config.args), exiting 2 with the usage line on an unknown option or a missing value. */
export function parseBenchArgs<T extends ParseArgsConfig>(program: string, usage: string, config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    if (!isParseArgsError(error)) throw error;
    // Node's message goes on with how to pass a positional argument starting with '-': the first sentence says it.
    exitWithUsage(program, usage, error.message.split('. ')[0] ?? error.message);
  }
}

/** For a bench program's last catch: a BenchArgumentError exits 2 with the usage line; anything else is left to it. */
export function exitOnArgumentError(program: string, usage: string, error: unknown): void {
  if (error instanceof BenchArgumentError) exitWithUsage(program, usage, error.message);
}

function isParseArgsError(error: unknown): error is Error & { code: string } {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof TypeError && typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}
