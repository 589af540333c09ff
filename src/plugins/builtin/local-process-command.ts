// Which shell command a local-process worker runs. A worker with jobs runs its first job's command:
// jobParams.command (our embedded job queue's field), else PanDA's transformation followed by its jobPars
// (as the pilot would run them, without downloading a transformation given as a URL). A worker without jobs,
// or whose job names no command, runs the section's "command" (e.g. a pilot reading pandaJobData.out);
// with useJobCommand false, every worker runs the section's command.
import type { WorkSpec } from '../../spec/index.js';
import { shellQuote } from '../shell-quote.js';
import { PluginError } from '../errors.js';

export interface PayloadCommand {
  readonly command: string;
  /** Where it came from, for logs and diagnostics. */
  readonly source: 'jobParams.command' | 'jobParams.transformation' | 'option command';
}

export interface CommandOptions {
  /** The section's "command" option. */
  readonly defaultCommand: string | undefined;
  readonly useJobCommand: boolean;
}

/** No command can be found for a worker, or its job's command fields have the wrong type. */
export class PayloadCommandError extends PluginError {
  constructor(
    readonly workerID: number | null,
    readonly pandaID: number | null,
    detail: string,
  ) {
    super(`worker ${String(workerID)}${pandaID === null ? '' : ` (job ${pandaID})`}: ${detail}`);
  }
}

function optionalText(value: unknown, workerID: number | null, pandaID: number | null, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new PayloadCommandError(workerID, pandaID, `jobParams.${field} must be a string, got ${typeof value}`);
  return value.trim() === '' ? undefined : value;
}

/** The command of a worker; throws PayloadCommandError when there is none. */
export function payloadCommandOf(workSpec: WorkSpec, options: CommandOptions): PayloadCommand {
  const job = options.useJobCommand ? workSpec.jobSpecs[0] : undefined;
  if (job !== undefined) {
    const params = job.jobParams ?? {};
    const command = optionalText(params['command'], workSpec.workerID, job.PandaID, 'command');
    if (command !== undefined) return { command, source: 'jobParams.command' };
    const transformation = optionalText(params['transformation'], workSpec.workerID, job.PandaID, 'transformation');
    if (transformation !== undefined) {
      // jobPars is PanDA's argument string, meant for a shell; the transformation is one word.
      const jobPars = optionalText(params['jobPars'], workSpec.workerID, job.PandaID, 'jobPars');
      return { command: jobPars === undefined ? shellQuote(transformation) : `${shellQuote(transformation)} ${jobPars}`, source: 'jobParams.transformation' };
    }
  }
  if (options.defaultCommand !== undefined && options.defaultCommand.trim() !== '') {
    return { command: options.defaultCommand, source: 'option command' };
  }
  const why =
    job === undefined
      ? options.useJobCommand
        ? 'the worker has no job and the section sets no "command" option'
        : 'useJobCommand is false and the section sets no "command" option'
      : 'its job has neither jobParams.command nor jobParams.transformation, and the section sets no "command" option';
  throw new PayloadCommandError(workSpec.workerID, job?.PandaID ?? null, `no command to run: ${why}`);
}
