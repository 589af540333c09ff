// A worker's access point (the directory shared between harvester and the worker) comes from a template in the
// queue configuration, where `${workerID}` (or harvester's older `$workerID`) stands for the worker's ID. The
// submitter agent and `harvester plugins try` find the template and create the directories the same way.
import { mkdir } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import type { QueueConfig } from '../config/index.js';
import type { WorkSpec } from '../spec/index.js';
import { PluginError } from './errors.js';

export class AccessPointError extends PluginError {
  constructor(
    readonly template: string,
    detail: string,
  ) {
    super(`access point '${template}': ${detail}`);
  }
}

const workerIDPattern = /\$\{workerID\}|\$workerID\b/;
const allWorkerIDs = new RegExp(workerIDPattern.source, 'g');

/**
 * Expands `${workerID}` in an access point template for one worker. A relative result is resolved under
 * `home` (harvester's working directory) when given; without `home` it is returned relative, as written.
 */
export function expandAccessPoint(template: string, workSpec: WorkSpec, home?: string): string {
  if (template.trim() === '') throw new AccessPointError(template, 'is empty');
  let expanded = template;
  if (workerIDPattern.test(template)) {
    const workerID: unknown = workSpec.workerID;
    if (workerID === undefined || workerID === null) {
      throw new AccessPointError(template, 'uses ${workerID} but the worker has no workerID yet');
    }
    expanded = template.replace(allWorkerIDs, String(workerID));
  }
  if (home !== undefined && !isAbsolute(expanded)) return resolve(home, expanded);
  return expanded;
}

/** Where a worker's access point is when the queue names none (relative: under the harvester home). */
export const defaultAccessPointTemplate = 'workdir/${workerID}';

/**
 * The access point template of a queue, as harvester looks for it: the messenger section's accessPoint
 * option, else the submitter section's, else the queue's own accessPoint key, else the default.
 */
export function accessPointTemplateOf(queue: QueueConfig): string {
  for (const candidate of [queue.messenger?.options.accessPoint, queue.submitter?.options.accessPoint, queue.extra.accessPoint]) {
    if (typeof candidate === 'string' && candidate.trim() !== '') return candidate;
  }
  return defaultAccessPointTemplate;
}

/**
 * Creates the access point directories (mkdir -p) of workers about to be submitted when nobody else will:
 * the queue has no messenger (whose setupAccessPoints would) and its submitter runs here (a remote
 * submitter's access points are on the remote host). Returns whether it created them.
 */
export async function createLocalAccessPoints(queue: QueueConfig, workSpecs: readonly WorkSpec[]): Promise<boolean> {
  if (queue.messenger !== undefined || queue.submitter?.middleware !== undefined) return false;
  for (const workSpec of workSpecs) {
    const accessPoint: unknown = workSpec.accessPoint;
    if (typeof accessPoint !== 'string' || accessPoint === '') {
      throw new AccessPointError('(none)', `worker ${String(workSpec.workerID)} has no access point to create`);
    }
    try {
      await mkdir(accessPoint, { recursive: true });
    } catch (error) {
      throw new AccessPointError(accessPoint, `cannot create it for worker ${String(workSpec.workerID)}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return true;
}
