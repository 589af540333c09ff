// harvester's DummyMonitor: a worker's status is the first line of status.txt in its access point; a worker
// without one is finished (the dummy batch job is long gone). "finished" also sets nativeExitCode 0 and
// nativeStatus "done". A status we do not know is reported as failed, with the text found, rather than passed on.
import { readFileSync } from 'node:fs';
import { setImmediate } from 'node:timers/promises';
import { WorkSpec, type WorkerStatus } from '../../spec/index.js';
import type { Monitor, PluginContext, WorkerCheck } from '../contracts.js';
import type { PluginOptions } from '../options.js';
import { retryLater, succeeded, type Outcome } from '../outcome.js';
import { abortedDiag } from '../abort.js';
import { statusFilePath } from './status-file.js';
import { accessPointOf, errorText, isNotFound } from './worker-fields.js';

/** Workers checked between two turns of the event loop. */
const syncChunk = 256;

export class DummyMonitor implements Monitor {
  constructor(_options: PluginOptions = {}) {}

  async checkWorkers(ctx: PluginContext, workSpecs: WorkSpec[]): Promise<Outcome<WorkerCheck[]>> {
    // A status file is a few bytes: reading it synchronously costs microseconds where an asynchronous read costs
    // four thread-pool round trips. Chunks keep the event loop free for other calls (in a bot) between them.
    const checks: WorkerCheck[] = [];
    for (let start = 0; start < workSpecs.length; start += syncChunk) {
      if (start > 0) await setImmediate();
      if (ctx.signal.aborted) return retryLater(abortedDiag(ctx));
      for (const workSpec of workSpecs.slice(start, start + syncChunk)) checks.push(this.checkOne(ctx, workSpec));
    }
    return succeeded(checks);
  }

  private checkOne(ctx: PluginContext, workSpec: WorkSpec): WorkerCheck {
    const accessPoint = accessPointOf(workSpec);
    if (accessPoint === undefined) return { status: WorkSpec.ST_finished, diag: 'no accessPoint: nothing to look at' };
    const path = statusFilePath(accessPoint);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      if (isNotFound(error)) {
        ctx.log.debug({ workerID: workSpec.workerID, path }, 'no status file: finished');
        return { status: WorkSpec.ST_finished, diag: '' };
      }
      return { status: WorkSpec.ST_failed, diag: `cannot read ${path}: ${errorText(error)}` };
    }
    const status = (text.split('\n')[0] ?? '').trim();
    if (!WorkSpec.isWorkerStatus(status)) {
      return { status: WorkSpec.ST_failed, diag: `unknown status '${status.slice(0, 80)}' in ${path}` };
    }
    if (status === WorkSpec.ST_finished) {
      workSpec.nativeExitCode = 0;
      workSpec.nativeStatus = 'done';
    }
    ctx.log.debug({ workerID: workSpec.workerID, status }, 'checked');
    return { status: status as WorkerStatus, diag: '' };
  }
}
