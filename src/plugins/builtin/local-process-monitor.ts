// Checks local-process workers from their access points: an exit code file means the payload ended (0 ->
// finished, else failed, with the code and the last line of stderr in the diag); otherwise the payload runs
// while its wrapper's process lives, matched by pid, start time and boot (so a reused pid is not taken for
// it); a payload with neither has vanished (failed). Sets nativeExitCode / nativeStatus, and startTime /
// endTime from when the payload claimed its access point and when it wrote its exit code.
import { stat } from 'node:fs/promises';
import { constants } from 'node:os';
import { WorkSpec, type WorkerStatus } from '../../spec/index.js';
import { abortedDiag } from '../abort.js';
import { defaultItemConcurrency, mapBounded } from '../bounded-map.js';
import type { Monitor, PluginContext, WorkerCheck } from '../contracts.js';
import { PluginOptionError } from '../errors.js';
import { OptionReader, type PluginOptions } from '../options.js';
import { retryLater, succeeded, type Outcome } from '../outcome.js';
import { lastLineOf, localProcessPath, readExitCode, readPidFile, readSubmissionRecord } from './local-process-files.js';
import { isRunning } from './local-process-identity.js';
import { accessPointOf, errorText } from './worker-fields.js';

function signalName(signal: number): string {
  const entry = Object.entries(constants.signals).find(([, n]) => n === signal);
  return entry === undefined ? `signal ${signal}` : entry[0];
}

export class LocalProcessMonitor implements Monitor {
  private readonly startTimeoutMs: number;

  constructor(options: PluginOptions = {}) {
    const read = new OptionReader('LocalProcessMonitor', options);
    // How long after a spawn attempt a payload that has not yet claimed its access point counts as starting.
    const startTimeout = read.number('startTimeout', 60);
    if (startTimeout <= 0) throw new PluginOptionError('LocalProcessMonitor', 'startTimeout', `must be positive seconds, got ${startTimeout}`);
    this.startTimeoutMs = startTimeout * 1000;
  }

  async checkWorkers(ctx: PluginContext, workSpecs: WorkSpec[]): Promise<Outcome<WorkerCheck[]>> {
    const checks = await mapBounded(
      workSpecs,
      defaultItemConcurrency,
      async (workSpec): Promise<WorkerCheck> => {
        let check: WorkerCheck;
        try {
          check = await this.checkOne(workSpec);
        } catch (error) {
          // Not knowing is no verdict: keep the worker's status and say why, rather than failing a live payload.
          const diag = `cannot check worker ${String(workSpec.workerID)}: ${errorText(error)}`;
          ctx.log.warn({ workerID: workSpec.workerID, batchID: workSpec.batchID, err: error }, 'local process check failed');
          check = { status: workSpec.status ?? WorkSpec.ST_submitted, diag };
        }
        ctx.log.debug({ workerID: workSpec.workerID, batchID: workSpec.batchID, status: check.status }, 'checked');
        return check;
      },
      () => ctx.signal.aborted,
    );
    if (ctx.signal.aborted) return retryLater(abortedDiag(ctx));
    return succeeded(checks as WorkerCheck[]);
  }

  private async checkOne(workSpec: WorkSpec): Promise<WorkerCheck> {
    const { workerID } = workSpec;
    const accessPoint = accessPointOf(workSpec);
    if (accessPoint === undefined) return { status: WorkSpec.ST_failed, diag: 'no accessPoint: no local process to look at' };
    if (!(await isDirectory(accessPoint))) {
      // Removed by hand or by a clean-up outside harvester: the payload's state files are gone with it.
      workSpec.nativeStatus = 'vanished';
      return { status: WorkSpec.ST_failed, diag: `access point ${accessPoint} does not exist (removed while the worker was live?): its payload cannot be followed` };
    }

    const claim = await readPidFile(accessPoint, workerID);
    if (claim !== undefined) {
      if (workSpec.batchID !== null && workSpec.batchID !== String(claim.pid)) {
        return {
          status: WorkSpec.ST_failed,
          diag: `batchID ${workSpec.batchID} is not the payload in ${accessPoint} (pid ${claim.pid})`,
        };
      }
      // A worker whose submission outcome was unknown learns its batchID here.
      workSpec.batchID ??= String(claim.pid);
      if (workSpec.startTime === null) workSpec.startTime = claim.since;
    }

    const ended = await readExitCode(accessPoint, workerID);
    if (ended !== undefined) return this.endedCheck(workSpec, accessPoint, ended.code, ended.at);

    if (claim !== undefined) {
      if (await isRunning(claim)) {
        workSpec.nativeStatus = 'running';
        return { status: WorkSpec.ST_running, diag: '' };
      }
      // It may have ended between the two reads above.
      const endedMeanwhile = await readExitCode(accessPoint, workerID);
      if (endedMeanwhile !== undefined) return this.endedCheck(workSpec, accessPoint, endedMeanwhile.code, endedMeanwhile.at);
      workSpec.nativeStatus = 'vanished';
      return {
        status: WorkSpec.ST_failed,
        diag: `payload vanished: pid ${claim.pid} is no longer running and wrote no exit code (killed with SIGKILL, or the host rebooted?)`,
      };
    }

    const record = await readSubmissionRecord(accessPoint, workerID);
    if (record === undefined) {
      return { status: WorkSpec.ST_failed, diag: `payload vanished: no local process was ever started in ${accessPoint}` };
    }
    const age = Date.now() - Date.parse(record.attemptedAt);
    if (age < this.startTimeoutMs) {
      workSpec.nativeStatus = 'starting';
      return { status: WorkSpec.ST_submitted, diag: '' };
    }
    workSpec.nativeStatus = 'vanished';
    return {
      status: WorkSpec.ST_failed,
      diag: `payload vanished: started ${record.attemptedAt} but it never claimed ${accessPoint}`,
    };
  }

  private async endedCheck(workSpec: WorkSpec, accessPoint: string, code: number, at: Date): Promise<WorkerCheck> {
    workSpec.nativeExitCode = code;
    if (workSpec.endTime === null) workSpec.endTime = at;
    if (code === 0) {
      workSpec.nativeStatus = 'done';
      return { status: WorkSpec.ST_finished, diag: '' };
    }
    // The shell reports death by signal N as 128+N.
    const killed = code > 128 && code < 128 + 65;
    workSpec.nativeStatus = killed ? 'killed' : 'failed';
    const how = killed ? `was killed by ${signalName(code - 128)} (exit code ${code})` : `exited with code ${code}`;
    const last = (await lastLineOf(localProcessPath(accessPoint, 'stderr'))).slice(0, 300);
    const status: WorkerStatus = WorkSpec.ST_failed;
    return { status, diag: `payload ${how}${last === '' ? '' : `; last line of stderr: ${last}`}` };
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
    throw error;
  }
}
