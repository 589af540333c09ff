// Every SLURM job we submit carries its worker's identity: the job name hv-<harvester tag>-w<workerID> (short,
// unique per harvester instance, usable in `squeue --name=a,b`) and the comment
// harvester:<harvesterID>:<queue>:<workerID> (for people reading squeue/sacct). The name is how a worker whose
// submission answer was lost, or that is submitted again after a crash, finds the job it already has.
import { createHash } from 'node:crypto';
import { userInfo } from 'node:os';
import type { WorkSpec } from '../../../spec/index.js';

/** Longest harvester id used as it is in job names; longer ones are cut and made unique with a hash. */
const maxTagLength = 24;

/**
 * The harvester id as it appears in job names: itself when short and made of [A-Za-z0-9_.-], else a cut,
 * cleaned prefix and 8 hex digits of its hash (a comma would split `--name` lists, a '|' our squeue format).
 */
export function harvesterTag(harvesterID: string): string {
  if (harvesterID.length <= maxTagLength && /^[A-Za-z0-9_.-]+$/.test(harvesterID)) return harvesterID;
  const clean = harvesterID.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, maxTagLength - 9);
  return `${clean}.${createHash('sha256').update(harvesterID).digest('hex').slice(0, 8)}`;
}

/** Why a worker's job cannot be named: its queue came without the harvester id (from a core older than the bot). */
export const noHarvesterIDDiag = 'the queue configuration carries no harvesterID (a core older than this plugin?): update harvester on the core';

export function jobNameOf(harvesterID: string, workerID: number): string {
  return `hv-${harvesterTag(harvesterID)}-w${workerID}`;
}

export function jobCommentOf(harvesterID: string, queueName: string, workerID: number): string {
  return `harvester:${harvesterID}:${queueName}:${workerID}`;
}

/** The batch system user our jobs run as: whoever runs this process (squeue/sacct --user). */
export function currentUser(): string {
  try {
    return userInfo().username;
  } catch (error) {
    // No passwd entry for our uid (some containers): the login environment still names us.
    const fromEnv = process.env['USER'] ?? process.env['LOGNAME'];
    if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
    throw error;
  }
}

/** The worker's SLURM job id without the ";cluster" sbatch --parsable may add; undefined while it has none. */
export function jobIDOf(workSpec: WorkSpec): string | undefined {
  const id = workSpec.batchID?.split(';')[0]?.trim();
  return id === undefined || id === '' ? undefined : id;
}
