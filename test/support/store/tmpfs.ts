// Test support: a small tmpfs mounted for one test, to make a disk full or read-only for real. Needs root
// (mount). Without it the test skips and says why; under CI=true it fails instead, as the testbed does.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Why a prerequisite of a test is missing, thrown under CI=true where a test must not skip. */
export class TestPrerequisiteError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'TestPrerequisiteError';
  }
}

function run(command: string, args: readonly string[]): string | null {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error !== undefined) return result.error.message;
  return result.status === 0 ? null : `${command} ${args.join(' ')}: ${result.stderr.trim() || `exit ${result.status}`}`;
}

/**
 * Mounts a tmpfs of `size` ("64k", "1m") on a fresh directory, runs `body` with it and a function that
 * remounts it read-only, then unmounts and removes it whatever happened.
 */
export async function withTmpfs(
  t: { skip(reason: string): void },
  size: string,
  body: (dir: string, remountReadOnly: () => void) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'harvester-tmpfs-'));
  const problem = process.getuid?.() !== 0 ? 'needs root to mount a tmpfs' : run('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  if (problem !== null) {
    rmSync(dir, { recursive: true, force: true });
    if (process.env['CI'] === 'true') throw new TestPrerequisiteError(problem);
    t.skip(problem);
    return;
  }
  let failure: unknown = null;
  try {
    await body(dir, () => {
      const failed = run('mount', ['-o', 'remount,ro', dir]);
      if (failed !== null) throw new TestPrerequisiteError(failed);
    });
  } catch (error) {
    failure = error;
  }
  const unmountFailed = run('umount', [dir]);
  if (unmountFailed === null) rmSync(dir, { recursive: true, force: true });
  const leftMounted = unmountFailed === null ? null : new TestPrerequisiteError(`${unmountFailed} (left mounted at ${dir})`);
  if (failure !== null && leftMounted !== null) throw new AggregateError([failure, leftMounted], 'the test failed and its tmpfs could not be unmounted');
  if (failure !== null) throw failure;
  if (leftMounted !== null) throw leftMounted;
}
