// Parsers of the SLURM tools' output in the forms we ask for (SLURM 22.05):
//   sbatch --parsable                       -> "<jobid>" or "<jobid>;<cluster>"
//   squeue -h -o '%i|%j|%T|%r|%M'           -> id|name|STATE|reason|elapsed   (by job ids)
//   squeue -h -o '%i|%j|%T|%r'              -> id|name|STATE|reason           (by names, by user)
//   sacct -X -n -P -o JobID,JobName,State,ExitCode,Reason,Start,End
//   scancel's per-job errors on stderr      -> "scancel: error: Kill job error on job id <id>: <why>"
// A job name may contain '|', so the fields around it are taken from both ends of the line.

export interface SqueueJob {
  readonly jobID: string;
  readonly name: string;
  /** Full state name (%T), e.g. PENDING, RUNNING, COMPLETED. */
  readonly state: string;
  /** Why the job is in its state (%r), e.g. Priority, Resources, None. */
  readonly reason: string;
  /** Time used so far, in seconds (%M), when squeue gave one. */
  readonly elapsedSeconds: number | undefined;
}

export interface SacctJob {
  readonly jobID: string;
  readonly name: string;
  /** The base state, e.g. CANCELLED for "CANCELLED by 1000". */
  readonly state: string;
  /** The state as sacct printed it. */
  readonly rawState: string;
  /** "exit:signal" as sacct prints it, e.g. "0:0", "1:0", "0:9". */
  readonly exitCode: { readonly code: number; readonly signal: number } | undefined;
  readonly reason: string;
  readonly start: Date | undefined;
  readonly end: Date | undefined;
}

/** A line the parser could not read; the caller decides whether that fails the command. */
export class SlurmOutputLineError extends Error {
  constructor(
    readonly lineText: string,
    detail: string,
  ) {
    super(`${detail}: '${lineText.slice(0, 200)}'`);
    this.name = 'SlurmOutputLineError';
  }
}

function lines(stdout: string): string[] {
  return stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '');
}

/** Splits a '|' line into `leading` fields, the name (which may hold '|'), and `trailing` fields. */
function fieldsAroundName(line: string, leading: number, trailing: number): { head: string[]; name: string; tail: string[] } {
  const fields = line.split('|');
  if (fields.length < leading + 1 + trailing) throw new SlurmOutputLineError(line, `expected at least ${leading + 1 + trailing} '|'-separated fields`);
  return {
    head: fields.slice(0, leading),
    name: fields.slice(leading, fields.length - trailing).join('|'),
    tail: fields.slice(fields.length - trailing),
  };
}

/** The state without what SLURM appends: "CANCELLED by 1000" -> CANCELLED, "CANCELLED+" (truncated) -> CANCELLED. */
export function baseState(state: string): string {
  return (state.trim().split(/\s+/)[0] ?? '').replace(/\+$/, '').toUpperCase();
}

/** squeue's elapsed time: "M:SS", "H:MM:SS" or "D-HH:MM:SS"; undefined for "INVALID" or anything else. */
export function parseElapsed(text: string): number | undefined {
  const match = /^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)$/.exec(text.trim());
  if (match === null) return undefined;
  const [, days, hours, minutes, seconds] = match;
  return Number(days ?? 0) * 86400 + Number(hours ?? 0) * 3600 + Number(minutes) * 60 + Number(seconds);
}

/**
 * sacct's time (SLURM_TIME_FORMAT=standard: "YYYY-MM-DDTHH:MM:SS", in the local time of the host running
 * sacct, which is the host running the plugin); undefined for "Unknown", "None" and the like.
 */
export function parseSlurmTime(text: string): Date | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/.exec(text.trim());
  if (match === null) return undefined;
  const [, y, mo, d, h, mi, s] = match.map(Number) as [number, number, number, number, number, number, number];
  return new Date(y, mo - 1, d, h, mi, s);
}

/** squeue's output formats we ask for: with the elapsed time (by job ids), and without (lookups by name or user). */
export const squeueFormats = { withElapsed: '%i|%j|%T|%r|%M', plain: '%i|%j|%T|%r' } as const;
export type SqueueFormat = (typeof squeueFormats)[keyof typeof squeueFormats];

export function parseSqueue(stdout: string, format: SqueueFormat): SqueueJob[] {
  const withElapsed = format === squeueFormats.withElapsed;
  return lines(stdout).map((line) => {
    const { head, name, tail } = fieldsAroundName(line, 1, withElapsed ? 3 : 2);
    const [jobID] = head as [string];
    const [state, reason, elapsed] = tail as [string, string, string | undefined];
    if (!/^\d/.test(jobID)) throw new SlurmOutputLineError(line, 'no job id in the first field');
    return { jobID, name, state: baseState(state), reason: reason.trim(), elapsedSeconds: elapsed === undefined ? undefined : parseElapsed(elapsed) };
  });
}

export function parseSacct(stdout: string): SacctJob[] {
  return lines(stdout).map((line) => {
    const { head, name, tail } = fieldsAroundName(line, 1, 5);
    const [jobID] = head as [string];
    const [state, exitCode, reason, start, end] = tail as [string, string, string, string, string];
    if (!/^\d/.test(jobID)) throw new SlurmOutputLineError(line, 'no job id in the first field');
    const codes = /^(\d+):(\d+)$/.exec(exitCode.trim());
    return {
      jobID,
      name,
      state: baseState(state),
      rawState: state.trim(),
      exitCode: codes === null ? undefined : { code: Number(codes[1]), signal: Number(codes[2]) },
      reason: reason.trim(),
      start: parseSlurmTime(start),
      end: parseSlurmTime(end),
    };
  });
}

/** sbatch --parsable: the job id, and the cluster on a multi-cluster setup; undefined when the output is not that. */
export function parseSbatchParsable(stdout: string): { readonly jobID: string; readonly cluster?: string } | undefined {
  const last = lines(stdout).at(-1);
  const match = last === undefined ? null : /^(\d+)(?:;(\S+))?$/.exec(last);
  if (match === null) return undefined;
  return match[2] === undefined ? { jobID: match[1]! } : { jobID: match[1]!, cluster: match[2] };
}

/** scancel's complaints per job id ("Kill job error on job id 12: Invalid job id specified"). */
export function parseScancelErrors(stderr: string): Map<string, string> {
  const errors = new Map<string, string>();
  for (const line of lines(stderr)) {
    const match = /job(?:\s+id)?\s+(\d+(?:_\d+)?)\s*:\s*(.+)$/i.exec(line);
    if (match !== null) errors.set(match[1]!, match[2]!.trim());
  }
  return errors;
}
