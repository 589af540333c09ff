// The monitor agent: per queue, claims the workers due for a check (submitted/running/idle/pending), asks the
// queue's monitor plugin for their status, and writes the verdicts with the jobs following their worker. With a
// messenger, the output files the payload reported become the jobs' output FileSpecs before the jobs move on.
// Workers are not waited for forever: still 'submitted' after workerQueueTimeLimit, or without a verdict for
// longer than checkTimeout, they are marked 'missed'.
import { basename } from 'node:path';
import type { QueueConfig } from '../config/index.js';
import type { Logger } from '../logging/index.js';
import type { ContractsByKind, FileToStageOut, WorkerCheck } from '../plugins/index.js';
import { FileSpec, fileTypes, monitoredWorkerStatuses, WorkSpec, type FileType, type JobSpec } from '../spec/index.js';
import type { Agent, CycleReport } from './agent-loop.js';
import { lockOwner, type AgentEnvironment } from './environment.js';
import { Tally } from './claimed-rows.js';
import { writeBackWorkers } from './claimed-rows.js';
import { jobsFollowWorkers } from './jobs-follow-worker.js';
import { lockKeeperFor, type LockKeeper } from './lock-keeper.js';
import { callPlugin, PluginCallError, workerChecksFor, workersSubject } from './plugin-call.js';
import { maxSubmissionAttemptsOf } from './submission-attempts.js';

export class Monitor implements Agent {
  readonly name = 'monitor';
  readonly #env: AgentEnvironment;
  readonly #owner: string;
  readonly #log: Logger;
  readonly #locks: LockKeeper;

  constructor(env: AgentEnvironment) {
    this.#env = env;
    this.#owner = lockOwner(env, 'monitor');
    this.#log = env.log.child({ agent: 'monitor' });
    this.#locks = lockKeeperFor(env, 'monitor');
  }

  get #settings(): AgentEnvironment['settings']['monitor'] {
    return this.#env.settings.monitor;
  }

  async runCycle(signal: AbortSignal): Promise<CycleReport> {
    const tally = new Tally<string>(['checked', 'running', 'finished', 'failed', 'missed', 'errors']);
    const add = (name: string, n = 1): void => tally.add(name, n);
    for (const queue of this.#env.queues) {
      if (signal.aborted) break;
      const log = this.#log.child({ queue: queue.queueName });
      let monitor: ContractsByKind['monitor'] | undefined;
      let messenger: ContractsByKind['messenger'] | undefined;
      try {
        monitor = await this.#env.plugin(queue, 'monitor');
        messenger = await this.#env.plugin(queue, 'messenger');
      } catch (error) {
        add('errors');
        log.error({ err: error }, 'cannot get the plugins of the queue; skipped this cycle');
        continue;
      }
      if (monitor === undefined) {
        log.debug('no monitor plugin: queue skipped');
        continue;
      }
      const workers = await this.#env.store.claimWorkers({
        purpose: 'monitor',
        owner: this.#owner,
        statuses: monitoredWorkerStatuses,
        queueName: queue.queueName,
        lockIntervalSec: this.#settings.lockInterval,
        checkIntervalSec: this.#settings.checkInterval,
        limit: this.#settings.maxWorkers,
        now: this.#env.now(),
      });
      if (workers.length === 0) continue;
      add('checked', workers.length);
      const changed = await this.#checkBatch(queue, monitor, messenger, workers, signal, log, add);
      for (const [status, n] of Object.entries(changed)) add(status, n);
    }
    return tally.report();
  }

  /** Checks and writes one queue's batch; returns how many workers went to each new status. */
  async #checkBatch(
    queue: QueueConfig,
    monitor: ContractsByKind['monitor'],
    messenger: ContractsByKind['messenger'] | undefined,
    workers: WorkSpec[],
    signal: AbortSignal,
    log: Logger,
    add: (name: string, n?: number) => void,
  ): Promise<Record<string, number>> {
    const subject = workersSubject(workers.map((w) => w.workerID));
    let checks: readonly WorkerCheck[] | undefined;
    let noVerdict = '';
    try {
      const outcome = await callPlugin({
        queue,
        method: 'checkWorkers',
        subject,
        log,
        timeout: this.#settings.pluginTimeout,
        signal,
        check: workerChecksFor(workers.length),
        locks: this.#locks,
        call: (ctx) => monitor.checkWorkers(ctx, workers),
      });
      if (outcome.kind === 'succeeded') checks = outcome.value;
      else {
        noVerdict = `checkWorkers answered ${outcome.kind}: ${outcome.diag}`;
        log.info({ workerIDs: workers.map((w) => w.workerID), outcome: outcome.kind, diag: outcome.diag }, 'no verdict for the workers this time');
      }
    } catch (error) {
      add('errors');
      noVerdict = error instanceof Error ? error.message : String(error);
      this.#logCallError(log, error, 'checkWorkers failed; the workers are checked again later');
    }

    const now = this.#env.now();
    const changed: Record<string, number> = {};
    const moved: WorkSpec[] = [];
    for (const [i, worker] of workers.entries()) {
      const next = this.#nextState(queue, worker, checks?.[i], noVerdict, now);
      if (next === undefined) continue;
      if (messenger !== undefined && worker.jobSpecs.length > 0 && checks !== undefined && next.status !== WorkSpec.ST_ready) {
        // The outputs must be known before the jobs move on to stage-out.
        if (!(await this.#collectOutputs(queue, messenger, worker, signal, log))) {
          add('errors');
          continue;
        }
      }
      const before = worker.status;
      worker.setStatus(next.status, now);
      worker.setDialogMessage(next.diag);
      if (worker.status !== before) {
        changed[worker.status!] = (changed[worker.status!] ?? 0) + 1;
        moved.push(worker);
        log.debug({ workerID: worker.workerID, from: before, to: worker.status, diag: next.diag }, 'worker status changed');
      }
    }
    await jobsFollowWorkers(moved, workers, this.#env.store, now);
    await writeBackWorkers(this.#env.store, workers, { includeJobs: true, lock: { purpose: 'monitor', owner: this.#owner }, releaseLock: true, now }, log);
    return changed;
  }

  /** The worker's new status and diag, or undefined to leave it as it is (no verdict yet, not timed out). */
  #nextState(queue: QueueConfig, worker: WorkSpec, check: WorkerCheck | undefined, noVerdict: string, now: Date): WorkerCheck | undefined {
    let next: WorkerCheck | undefined = check;
    if (check !== undefined) {
      worker.checkTime = now;
    } else {
      const since = worker.checkTime ?? worker.submitTime ?? worker.creationTime;
      const silentSec = since === null ? 0 : (now.getTime() - since.getTime()) / 1000;
      if (silentSec > this.#settings.checkTimeout) {
        next = {
          status: WorkSpec.ST_missed,
          diag: `no verdict from the monitor for ${Math.round(silentSec)} s (checkTimeout ${this.#settings.checkTimeout} s): ${noVerdict}`,
        };
      }
    }
    if (next?.status === WorkSpec.ST_ready) next = this.#submitAgain(queue, worker, next, now);
    const status = next?.status ?? worker.status;
    const limit = this.#settings.workerQueueTimeLimit;
    if (status === WorkSpec.ST_submitted && worker.status === WorkSpec.ST_submitted && limit > 0 && worker.submitTime !== null) {
      const queuedSec = (now.getTime() - worker.submitTime.getTime()) / 1000;
      if (queuedSec > limit) {
        next = { status: WorkSpec.ST_missed, diag: `still submitted ${Math.round(queuedSec)} s after submission (workerQueueTimeLimit ${limit} s)` };
      }
    }
    return next;
  }

  /**
   * A monitor answers 'ready' for a worker whose submission outcome was unknown and that provably never reached
   * the batch system (no batchID, no job under its name): the submitter takes it again, with the same workerID
   * and access point, after its own lookup. Counted as a submission attempt of its jobs, so it cannot loop
   * forever; any other worker answered 'ready' keeps its status (a monitor cannot un-submit a known batch job).
   */
  #submitAgain(queue: QueueConfig, worker: WorkSpec, check: WorkerCheck, now: Date): WorkerCheck | undefined {
    if (worker.status !== WorkSpec.ST_submitted || worker.batchID !== null) {
      this.#log.warn({ queue: worker.queueName, workerID: worker.workerID, status: worker.status, batchID: worker.batchID, diag: check.diag }, "the monitor answered 'ready' for a worker it cannot send back (it is not 'submitted', or has a batchID): status kept");
      return undefined;
    }
    const attempts = Math.max(0, ...worker.jobSpecs.map((j) => j.submissionAttempts ?? 0));
    const max = maxSubmissionAttemptsOf(queue, this.#env.settings);
    if (worker.jobSpecs.length > 0 && attempts >= max) {
      return { status: WorkSpec.ST_failed, diag: `${check.diag}; not submitted again: its jobs had ${attempts} submission attempts (maxSubmissionAttempts ${max})` };
    }
    for (const job of worker.jobSpecs) {
      job.submissionAttempts = (job.submissionAttempts ?? 0) + 1;
      job.modificationTime = now;
    }
    worker.submitTime = null;
    return check;
  }

  /** Adds the output files the messenger reports to the worker's jobs; false when it could not be asked. */
  async #collectOutputs(queue: QueueConfig, messenger: ContractsByKind['messenger'], worker: WorkSpec, signal: AbortSignal, log: Logger): Promise<boolean> {
    let files: Record<string, FileToStageOut[]>;
    try {
      files = await callPlugin({
        queue,
        method: 'getFilesToStageOut',
        subject: workersSubject([worker.workerID]),
        log,
        timeout: this.#settings.pluginTimeout,
        signal,
        check: filesByPandaID,
        locks: this.#locks,
        call: (ctx) => messenger.getFilesToStageOut(ctx, worker),
      });
    } catch (error) {
      this.#logCallError(log, error, 'getFilesToStageOut failed; the worker keeps its status until its outputs are known');
      return false;
    }
    for (const job of worker.jobSpecs) addOutputFiles(job, worker, files[String(job.PandaID)] ?? []);
    return true;
  }

  #logCallError(log: Logger, error: unknown, message: string): void {
    if (error instanceof PluginCallError) log.warn({ method: error.method, subject: error.subject, failure: error.failure, callEffect: error.callEffect, err: error }, message);
    else log.error({ err: error }, message);
  }
}

/** Output FileSpecs for what the payload reported (harvester's monitor does the same), each path once. */
function addOutputFiles(job: JobSpec, worker: WorkSpec, reported: readonly FileToStageOut[]): void {
  const known = new Set(job.outFiles.map((f) => f.path));
  for (const file of reported) {
    if (known.has(file.path)) continue;
    known.add(file.path);
    const fileType: FileType = (fileTypes as readonly string[]).includes(file.type) && file.type !== 'input' ? (file.type as FileType) : 'output';
    job.addOutFile(
      new FileSpec({
        PandaID: job.PandaID,
        taskID: job.taskID,
        lfn: basename(file.path),
        path: file.path,
        fileType,
        status: 'defined',
        fsize: file.fsize ?? null,
        chksum: file.chksum ?? null,
        eventRangeID: file.eventRangeID ?? null,
        isZip: file.isZip === true ? 1 : 0,
        workerID: worker.workerID,
      }),
    );
    if (job.hasOutFile === null || job.hasOutFile === 0) job.hasOutFile = 1;
  }
}

function filesByPandaID(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'expected an object of file lists by PandaID';
  for (const [id, list] of Object.entries(value)) {
    if (!Array.isArray(list)) return `the files of job ${id} are not a list`;
    const bad = list.findIndex((f: unknown) => typeof f !== 'object' || f === null || typeof (f as { path?: unknown }).path !== 'string' || typeof (f as { type?: unknown }).type !== 'string');
    if (bad !== -1) return `file ${bad} of job ${id} lacks a path or a type`;
  }
  return undefined;
}
