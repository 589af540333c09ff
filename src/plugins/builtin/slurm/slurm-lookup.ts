// Finding workers' SLURM jobs by their job names (see slurm-identity.ts): one squeue for all names, and one
// sacct when accounting is in use (squeue forgets ended jobs after MinJobAge). Used before submitting, so a
// worker that already has a job adopts it instead of getting a second one.
import type { Logger } from '../../../logging/index.js';
import type { AccountingUse } from './slurm-accounting.js';
import { BatchCommandError, CommandAbortedError } from '../../batch/command-runner.js';
import { fitsOneArgument, SlurmCommandError, type SlurmClient } from './slurm-client.js';
import { currentUser } from './slurm-identity.js';
import { slurmStateMeaning } from './slurm-states.js';

export interface FoundJob {
  readonly jobID: string;
  readonly state: string;
  readonly source: 'squeue' | 'sacct';
}

export interface NameLookup {
  /** The jobs found per job name. */
  readonly byName: ReadonlyMap<string, readonly FoundJob[]>;
  /** Set when sacct could not be asked this time (so jobs ended longer ago than MinJobAge may be missed). */
  readonly sacctProblem?: string;
}

/** The earliest of some times (now when none is known): how far back sacct must look. */
export function oldest(times: readonly (Date | null)[]): Date {
  let earliest = Date.now();
  for (const t of times) if (t !== null && t.getTime() < earliest) earliest = t.getTime();
  return new Date(earliest);
}

/**
 * Of several jobs with one name (e.g. a job submitted by hand with it), the live one, else the newest: the
 * submitter adopts it and the monitor follows it, so a live job is never left untracked for an ended one.
 */
export function pickJob<J extends { readonly jobID: string; readonly state: string }>(jobs: readonly J[]): J | undefined {
  const live = jobs.filter((j) => slurmStateMeaning(j.state)?.ended !== true);
  const pool = live.length > 0 ? live : jobs;
  return [...pool].sort((a, b) => Number.parseInt(b.jobID, 10) - Number.parseInt(a.jobID, 10))[0];
}

export async function jobsByName(
  client: SlurmClient,
  names: readonly string[],
  opts: { readonly since: Date; readonly accounting: AccountingUse; readonly log: Logger; readonly signal: AbortSignal },
): Promise<NameLookup> {
  const byName = new Map<string, FoundJob[]>();
  const add = (name: string, job: FoundJob): void => {
    const known = byName.get(name) ?? [];
    if (!known.some((k) => k.jobID === job.jobID)) known.push(job);
    byName.set(name, known);
  };
  if (names.length === 0) return { byName };
  // Too many names for one argument: all of our user's jobs, matched by name here.
  const byUser = !fitsOneArgument(names);
  const squeueJobs = await client.squeue(byUser ? { user: currentUser() } : { names }, opts.signal);
  for (const job of squeueJobs) add(job.name, { jobID: job.jobID, state: job.state, source: 'squeue' });
  if (!opts.accounting.usable()) return { byName };
  try {
    const sacctJobs = await client.sacct(byUser ? { user: currentUser(), since: opts.since } : { names, since: opts.since }, opts.signal);
    for (const job of sacctJobs) add(job.name, { jobID: job.jobID, state: job.state, source: 'sacct' });
  } catch (error) {
    if (!(error instanceof BatchCommandError) || error instanceof CommandAbortedError) throw error;
    if (error instanceof SlurmCommandError && error.kind === 'accounting-disabled') {
      opts.accounting.markDisabled(opts.log, error.slurmMessage);
      return { byName };
    }
    opts.log.warn({ err: error }, 'sacct failed: looking for existing jobs with squeue alone');
    return { byName, sacctProblem: error.message };
  }
  return { byName };
}
