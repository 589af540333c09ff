// The top process's view of SLURM on the testbed, as the testbed user: checking a run against accounting (one
// job per worker, each in the expected final state) and cancelling whatever a run left behind. A run's jobs are
// known by their names, hv-<harvesterID>-w<workerID>: other users of the testbed's SLURM are never touched.
import { readdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { harvesterTag } from '../src/plugins/builtin/slurm/slurm-identity.js';
import type { Testbed } from './environment.js';
import type { HpcRun, RunCheck } from './hpc-results.js';

/** A run did not leave SLURM or the file system as it should (too few or too many jobs, jobs not ended, files left). */
export class RunCheckError extends Error {
  constructor(
    message: string,
    readonly harvesterID: string,
    readonly step: string,
  ) {
    super(`${message} (harvesterID ${harvesterID}, step ${step})`);
    this.name = 'RunCheckError';
  }
}

const namePrefix = (harvesterID: string): string => `hv-${harvesterTag(harvesterID)}-w`;

async function slurmAsUser(testbed: Testbed, argv: string[], harvesterID: string): Promise<string> {
  const result = await testbed.runAsUser(testbed.slurm.namespace, argv);
  if (result.status !== 0) throw new RunCheckError(`${argv[0]} failed (exit ${result.status ?? result.signal}): ${result.stderr.trim()}`, harvesterID, argv[0] ?? '');
  return result.stdout;
}

interface AccountedJob {
  readonly jobID: string;
  readonly state: string;
}

/** The run's jobs in accounting (allocations only), from the testbed user's jobs of the last hours. */
async function accountedJobs(testbed: Testbed, harvesterID: string): Promise<AccountedJob[]> {
  const out = await slurmAsUser(testbed, ['sacct', '-X', '-n', '-P', '-o', 'JobID,JobName,State', `--user=${testbed.user.name}`, '-S', 'now-6hours'], harvesterID);
  const prefix = namePrefix(harvesterID);
  return out
    .split('\n')
    .map((line) => line.split('|'))
    .filter(([, name]) => name?.startsWith(prefix) === true)
    .map(([jobID = '', , state = '']) => ({ jobID, state: state.split(' ')[0] ?? state }));
}

/**
 * How many jobs slurmctld holds, of every user and state (finished ones stay MinJobAge seconds). A bulk squeue
 * costs more the more it holds: it fetches them all and filters on the client.
 */
export async function jobsHeld(testbed: Testbed): Promise<number> {
  const result = await testbed.runInNamespace(testbed.slurm.namespace, ['squeue', '-h', '--states=all', '-o', '%i']);
  if (result.status !== 0) throw new RunCheckError(`squeue failed (exit ${result.status ?? result.signal}): ${result.stderr.trim()}`, '-', 'count jobs held');
  return result.stdout.split('\n').filter((line) => line.trim() !== '').length;
}

/** slurmctld's MaxJobCount: it accepts no job beyond it (sbatch waits) until finished ones pass MinJobAge. */
async function maxJobCount(testbed: Testbed): Promise<{ max: number; minJobAge: string }> {
  const result = await testbed.runInNamespace(testbed.slurm.namespace, ['scontrol', 'show', 'config']);
  const max = /^MaxJobCount\s*=\s*(\d+)/m.exec(result.stdout)?.[1];
  if (result.status !== 0 || max === undefined) throw new RunCheckError(`scontrol show config gave no MaxJobCount (exit ${result.status ?? result.signal}): ${result.stderr.trim()}`, '-', 'read MaxJobCount');
  return { max: Number(max), minJobAge: /^MinJobAge\s*=\s*(.+)$/m.exec(result.stdout)?.[1]?.trim() ?? '?' };
}

/**
 * Waits until slurmctld has room for `jobs` more (and `margin` for the testbed's other users): a full benchmark
 * submits ~8,000 jobs, and slurmctld keeps each for MinJobAge after it ends. Answers the jobs held then.
 */
export async function waitForRoom(testbed: Testbed, jobs: number, progress: (line: string) => void, margin = 500, timeoutMs = 20 * 60_000): Promise<number> {
  const { max, minJobAge } = await maxJobCount(testbed);
  const deadline = Date.now() + timeoutMs;
  let said = false;
  for (;;) {
    const held = await jobsHeld(testbed);
    if (held + jobs + margin <= max) return held;
    if (Date.now() > deadline) throw new RunCheckError(`slurmctld still holds ${held} jobs of its MaxJobCount ${max} after ${timeoutMs / 60_000} min`, '-', 'wait for room');
    if (!said) progress(`slurmctld holds ${held} jobs of its MaxJobCount ${max}: waiting until it forgets finished ones (MinJobAge ${minJobAge}) to make room for ${jobs}`);
    said = true;
    await sleep(10_000);
  }
}

/** Live jobs of these runs in squeue, cancelled; answers how many there were. */
export async function cancelLeftovers(testbed: Testbed, harvesterIDs: readonly string[]): Promise<number> {
  if (harvesterIDs.length === 0) return 0;
  const out = await slurmAsUser(testbed, ['squeue', '-h', `--user=${testbed.user.name}`, '-t', 'PENDING,RUNNING,SUSPENDED,COMPLETING', '-o', '%i|%j'], harvesterIDs[0]!);
  const prefixes = harvesterIDs.map(namePrefix);
  const ids = out
    .split('\n')
    .map((line) => line.split('|'))
    .filter(([, name]) => prefixes.some((p) => name?.startsWith(p) === true))
    .map(([id = '']) => id);
  if (ids.length > 0) await slurmAsUser(testbed, ['scancel', ...ids], harvesterIDs[0]!);
  return ids.length;
}

const countBy = (values: readonly string[]): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
};

/**
 * Checks a run: accounting holds exactly one job per worker, all in `finalState` (waiting up to `waitMs` for
 * slurmdbd, which may first record a quick job as "allocation"), no live job of the run is left, and the sweep
 * removed every access point under `root`.
 */
export async function checkRun(testbed: Testbed, run: HpcRun, root: string, finalState: string, waitMs = 120_000): Promise<RunCheck> {
  const deadline = Date.now() + waitMs;
  let jobs: AccountedJob[];
  for (;;) {
    jobs = await accountedJobs(testbed, run.harvesterID);
    if (jobs.length > run.workers) {
      throw new RunCheckError(`sacct holds ${jobs.length} jobs named ${namePrefix(run.harvesterID)}* for ${run.workers} workers: a worker was submitted twice`, run.harvesterID, 'sacct');
    }
    if (jobs.length === run.workers && jobs.every((j) => j.state === finalState)) break;
    if (Date.now() > deadline) {
      throw new RunCheckError(
        `sacct holds ${jobs.length} jobs named ${namePrefix(run.harvesterID)}* for ${run.workers} workers, states ${JSON.stringify(countBy(jobs.map((j) => j.state)))}, after ${waitMs / 1000} s (expected all ${finalState})`,
        run.harvesterID,
        'sacct',
      );
    }
    await sleep(1000);
  }
  const batchIDs = new Set(run.batchIDs.map((id) => id.split(';')[0]));
  const strangers = jobs.filter((j) => !batchIDs.has(j.jobID));
  if (strangers.length > 0) throw new RunCheckError(`sacct has jobs of the run that no worker holds: ${strangers.slice(0, 5).map((j) => j.jobID).join(', ')}`, run.harvesterID, 'sacct');
  const leftoverJobs = await cancelLeftovers(testbed, [run.harvesterID]);
  if (leftoverJobs > 0) throw new RunCheckError(`${leftoverJobs} jobs of the run were still live after it ended (now cancelled)`, run.harvesterID, 'squeue');
  const accessPointsLeft = (await readdir(root)).length;
  if (accessPointsLeft > 0) throw new RunCheckError(`${accessPointsLeft} entries left in ${root} after the sweep`, run.harvesterID, 'sweep');
  return { sacctJobs: jobs.length, sacctStates: countBy(jobs.map((j) => j.state)), leftoverJobs, accessPointsLeft };
}
