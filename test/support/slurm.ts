// The testbed's SLURM (single node hpc, with accounting) for tests: SLURM commands run as the test user inside
// hv-hpc, job directories the user owns, and polling for a job state with a hang guard.
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { requireTestbed, TestbedError, TestbedNotUpError, type CommandResult, type Testbed } from './testbed.js';

/** A SLURM command that failed where the test needed it to work. */
export class SlurmCommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly result: CommandResult,
  ) {
    super(`${argv.join(' ')} failed (exit ${result.status ?? result.signal}): ${result.stderr.trim() || result.stdout.trim()}`);
    this.name = 'SlurmCommandError';
  }
}

/**
 * The testbed when its SLURM can be used (testbed up, slurmctld running). Like requireTestbed: under CI=true a
 * missing SLURM throws, elsewhere the test is skipped with the reason.
 */
export function requireSlurm(t: TestContext): Testbed | undefined {
  const testbed = requireTestbed(t);
  if (testbed === undefined) return undefined;
  if (testbed.slurmctldPid() !== undefined) return testbed;
  const problem = `SLURM is not running on hpc (no live slurmctld per ${testbed.slurm.slurmctldPidFile}); run scripts/testbed up as root and read ${testbed.slurm.logDir}`;
  if (process.env.CI === 'true') throw new TestbedNotUpError(problem);
  t.skip(problem);
  return undefined;
}

/** Runs a SLURM command as the test user on hpc; `conf` sets SLURM_CONF (a path as seen inside hv-hpc). */
export function slurm(testbed: Testbed, argv: readonly string[], options: { conf?: string } = {}): Promise<CommandResult> {
  return testbed.runAsUser(testbed.slurm.namespace, argv, options.conf === undefined ? {} : { SLURM_CONF: options.conf });
}

/** Like slurm(), but a non-zero exit is an error; resolves with stdout. */
export async function slurmOk(testbed: Testbed, argv: readonly string[], options: { conf?: string } = {}): Promise<string> {
  const result = await slurm(testbed, argv, options);
  if (result.status !== 0) throw new SlurmCommandError(argv, result);
  return result.stdout;
}

/** A directory in the test user's home for job scripts and outputs; removed after the test. */
export async function jobDirectory(t: TestContext, testbed: Testbed): Promise<string> {
  const dir = await mkdtemp(join(testbed.user.home, 'slurm-test-'));
  await chown(dir, testbed.user.uid, -1);
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes an executable bash script owned by the test user. */
export async function writeJobScript(testbed: Testbed, path: string, lines: readonly string[]): Promise<string> {
  await writeFile(path, ['#!/bin/bash', ...lines, ''].join('\n'), { mode: 0o755 });
  await chown(path, testbed.user.uid, -1);
  return path;
}

/** `sbatch --parsable -D dir --job-name=name script` as the test user; resolves with the job id. */
export async function submitJob(testbed: Testbed, dir: string, name: string, script: string): Promise<string> {
  const id = (await slurmOk(testbed, ['sbatch', '--parsable', '-D', dir, `--job-name=${name}`, script])).trim();
  if (!/^\d+$/.test(id)) throw new TestbedError(`sbatch printed '${id}' instead of a job id`, 'submit job', 'hpc');
  return id;
}

/** The job's state in `squeue --states=all` (RUNNING, COMPLETED, ...), or '' when squeue does not list it. */
export async function squeueState(testbed: Testbed, id: string): Promise<string> {
  return (await slurmOk(testbed, ['squeue', '-h', '--states=all', '-o', '%T', `--jobs=${id}`])).trim();
}

/** The job's accounting record (`sacct -X`), or undefined while slurmdbd has none yet. */
export async function sacctRecord(testbed: Testbed, id: string): Promise<{ state: string; exitCode: string } | undefined> {
  const line = (await slurmOk(testbed, ['sacct', '-X', '-n', '-P', '-o', 'JobID,State,ExitCode', '-j', id])).trim();
  if (line === '') return undefined;
  const [jobId, state = '', exitCode = ''] = line.split('|');
  if (jobId !== id) throw new TestbedError(`sacct -j ${id} answered for job ${jobId}: ${line}`, 'read accounting', 'hpc');
  return { state, exitCode };
}

/** Polls `check` until it resolves to something other than undefined; throws naming `what` after timeoutMs. */
export async function pollFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000, pauseMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new TestbedError(`gave up after ${timeoutMs} ms waiting for ${what}`, 'wait for SLURM', 'hpc');
    await sleep(pauseMs);
  }
}

/** Waits until squeue reports the job in `state`. */
export function waitForJobState(testbed: Testbed, id: string, state: string, timeoutMs = 30_000): Promise<true> {
  return pollFor(`job ${id} to be ${state} in squeue`, async () => ((await squeueState(testbed, id)) === state ? true : undefined), timeoutMs);
}

/** Waits until sacct has the job's final record in `state` (slurmctld sends it to slurmdbd shortly after). */
export function waitForAccounting(testbed: Testbed, id: string, state: string, timeoutMs = 30_000): Promise<{ state: string; exitCode: string }> {
  return pollFor(`job ${id} to be ${state} in sacct`, async () => {
    const record = await sacctRecord(testbed, id);
    return record?.state === state ? record : undefined;
  }, timeoutMs);
}
