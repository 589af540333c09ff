// Sweeping a worker = removing its access point, as harvester's sweepers do after a batch job. Shared by the
// sweepers that own their workers' directories, with the checks that keep a bad accessPoint value (relative,
// "/", the home or working directory) from removing what it must not. Idempotent: already gone is success.
import { rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import type { WorkSpec } from '../../spec/index.js';
import type { PluginContext } from '../contracts.js';
import { failed, retryLater, succeeded, type Outcome } from '../outcome.js';
import { accessPointOf, errorText } from './worker-fields.js';

/** Why a path must not be removed recursively, or undefined when it may be. */
export function unsafeToRemove(accessPoint: string): string | undefined {
  if (!isAbsolute(accessPoint)) return 'it is not an absolute path';
  const path = resolve(accessPoint);
  if (path === '/') return 'it is the root directory';
  if (path === resolve(homedir())) return 'it is the home directory';
  if (path === process.cwd()) return 'it is the working directory';
  return undefined;
}

/**
 * Removes the worker's access point. `beforeRemoving` (e.g. ending a payload still writing there) runs after
 * the safety checks; its non-success outcome is the answer and nothing is removed.
 */
export async function removeAccessPoint(ctx: PluginContext, workSpec: WorkSpec, beforeRemoving?: () => Promise<Outcome>): Promise<Outcome> {
  const accessPoint = accessPointOf(workSpec);
  if (accessPoint === undefined) return succeeded(undefined, 'no accessPoint: nothing to sweep');
  const unsafe = unsafeToRemove(accessPoint);
  if (unsafe !== undefined) return failed(`worker ${String(workSpec.workerID)}: not removing access point ${accessPoint}: ${unsafe}`);
  if (beforeRemoving !== undefined) {
    const before = await beforeRemoving();
    if (before.kind !== 'succeeded') return before;
  }
  try {
    await rm(accessPoint, { recursive: true, force: true });
  } catch (error) {
    return retryLater(`worker ${String(workSpec.workerID)}: cannot remove access point ${accessPoint}: ${errorText(error)}`);
  }
  ctx.log.debug({ workerID: workSpec.workerID, accessPoint }, 'swept');
  return succeeded();
}
