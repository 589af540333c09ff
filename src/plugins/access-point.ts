// A worker's access point (the directory shared between harvester and the worker) comes from a template in the
// queue configuration, where `${workerID}` (or harvester's older `$workerID`) stands for the worker's ID.
import { isAbsolute, resolve } from 'node:path';
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
