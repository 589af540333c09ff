// harvester's DummySweeper answers True without touching anything. Ours acts on the dummy batch system the
// dummy submitter keeps in the access point, so a kill is visible to DummyMonitor and a sweep leaves no trace
// of the batch job: killWorker writes "cancelled" into status.txt (when the worker has one), sweepWorker
// removes status.txt. submitted.log stays: it is the audit trail of submissions, not the worker's state.
// Both are idempotent: a worker already gone is a success.
import { access, rm } from 'node:fs/promises';
import { WorkSpec } from '../../spec/index.js';
import { forEachUntilAborted } from '../abort.js';
import type { PluginContext, Sweeper } from '../contracts.js';
import type { PluginOptions } from '../options.js';
import { retryLater, succeeded, type Outcome } from '../outcome.js';
import { statusFilePath, writeStatusFile } from './status-file.js';
import { accessPointOf, errorText, isNotFound } from './worker-fields.js';

export class DummySweeper implements Sweeper {
  constructor(_options: PluginOptions = {}) {}

  async killWorker(ctx: PluginContext, workSpec: WorkSpec): Promise<Outcome> {
    const accessPoint = accessPointOf(workSpec);
    if (accessPoint === undefined) return succeeded(undefined, 'no accessPoint: nothing to kill');
    try {
      await access(statusFilePath(accessPoint));
    } catch (error) {
      if (isNotFound(error)) return succeeded(undefined, 'no dummy batch job: nothing to kill');
      return retryLater(`cannot look at ${statusFilePath(accessPoint)}: ${errorText(error)}`);
    }
    try {
      await writeStatusFile(accessPoint, WorkSpec.ST_cancelled);
    } catch (error) {
      return retryLater(`cannot cancel the dummy batch job in ${accessPoint}: ${errorText(error)}`);
    }
    ctx.log.debug({ workerID: workSpec.workerID, batchID: workSpec.batchID }, 'killed');
    return succeeded();
  }

  killWorkers(ctx: PluginContext, workSpecs: WorkSpec[]): Promise<Outcome[]> {
    return forEachUntilAborted(ctx, workSpecs, (workSpec) => this.killWorker(ctx, workSpec));
  }

  async sweepWorker(ctx: PluginContext, workSpec: WorkSpec): Promise<Outcome> {
    const accessPoint = accessPointOf(workSpec);
    if (accessPoint === undefined) return succeeded(undefined, 'no accessPoint: nothing to sweep');
    try {
      await rm(statusFilePath(accessPoint), { force: true });
    } catch (error) {
      return retryLater(`cannot remove ${statusFilePath(accessPoint)}: ${errorText(error)}`);
    }
    ctx.log.debug({ workerID: workSpec.workerID }, 'swept');
    return succeeded();
  }
}
