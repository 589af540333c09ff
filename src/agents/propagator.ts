// The propagator (harvester's propagator agent): reports jobs and workers whose propagation was triggered to
// the job source (PanDA, or the embedded queue). A claim takes the rows due (triggered, or last reported more
// than updateInterval ago); after a report the source took:
// - a final job whose reported status is its own (stage-out over, events done) and a final worker are not
//   reported again (propagation disabled); the others are reported again after updateInterval, as harvester
//   does, which keeps PanDA's heartbeat of running jobs alive;
// - a job the source wants killed ("tobekilled") gets a kill request on its active workers (the sweeper kills
//   them); a job without an active worker is cancelled here.
// A report the source refused, or a call that failed (JobSourceError), leaves the rows to come back after
// updateInterval. Rows are claimed across all queues: reporting is the source's business, and the jobs of a
// queue taken offline must still reach a final state in PanDA. Every statsInterval, a source that takes them
// (PanDA) also gets each queue's worker statistics and the service metrics, as harvester's propagator sends;
// and, every cycle, up to maxDialogs of the agents' dialog messages (DialogRecorder), deleted once the source
// took them, claimed again after lockInterval when the call failed.
import type { Logger } from '../logging/index.js';
import {
  hasHarvesterDialogs,
  hasHarvesterReports,
  JobSourceError,
  type HarvesterDialogs,
  type HarvesterReports,
  type JobUpdateResult,
  type WorkerUpdateResult,
} from '../communicator/index.js';
import type { JobSpec, WorkSpec } from '../spec/index.js';
import type { Agent, CycleReport } from './agent-loop.js';
import { Tally, writeBackJobs, writeBackWorkers } from './claimed-rows.js';
import { lockOwner, type AgentEnvironment } from './environment.js';
import { dialogOf, serviceMetricsOf, workerStatsOf } from './harvester-reports.js';
import { jobsSubject, workersSubject } from './plugin-call.js';

/** harvester's PilotErrors.PANDAKILL: the job was killed on PanDA's request. */
export const ERR_PANDA_KILL = 1144;

/** Commands of the source that ask for a job to be killed. */
const killCommands: readonly string[] = ['tobekilled'];

const counted = [
  'jobsReported',
  'jobsCompleted',
  'jobsRefused',
  'killRequested',
  'workersReported',
  'workersCompleted',
  'workersRefused',
  'errors',
  'lockLost',
  'refused',
  'statsReported',
  'dialogsSent',
] as const;
type Counted = (typeof counted)[number];

export class Propagator implements Agent {
  readonly name = 'propagator';
  readonly #env: AgentEnvironment;
  readonly #log: Logger;
  readonly #owner: string;
  /** When the statistics and metrics last went out; null: at the first cycle. */
  #statsReportedAt: Date | null = null;
  readonly #cpuAtStart = process.cpuUsage();
  readonly #startedAt = Date.now();

  constructor(env: AgentEnvironment) {
    this.#env = env;
    this.#log = env.log.child({ agent: 'propagator' });
    this.#owner = lockOwner(env, 'propagator');
  }

  async runCycle(signal: AbortSignal): Promise<CycleReport> {
    const tally = new Tally(counted);
    if (!signal.aborted) await this.#propagateJobs(tally);
    if (!signal.aborted) await this.#propagateWorkers(tally);
    const source = this.#env.jobSource;
    if (!signal.aborted && hasHarvesterReports(source)) await this.#reportStats(source, tally);
    if (!signal.aborted && hasHarvesterDialogs(source)) await this.#sendDialogs(source, tally);
    return tally.report();
  }

  /** Up to maxDialogs dialog messages, oldest first; deleted once the source took them (harvester's propagator). */
  async #sendDialogs(source: HarvesterDialogs, tally: Tally<Counted>): Promise<void> {
    const settings = this.#env.settings.propagator;
    const messages = await this.#env.store.claimDialogMessages({ owner: this.#owner, lockIntervalSec: settings.lockInterval, limit: settings.maxDialogs, now: this.#env.now() });
    if (messages.length === 0) return;
    const sent = await this.#report('addDialogs', `${messages.length} dialog message(s)`, 1, async () => [await source.addDialogs(messages.map(dialogOf))]);
    if (sent === undefined) {
      // Kept: claimed again once the claim's lock expires (lockInterval), as harvester does.
      tally.add('errors');
      return;
    }
    await this.#env.store.deleteDialogMessages(messages.map((m) => m.diagID));
    tally.add('dialogsSent', messages.length);
  }

  /** Worker statistics of every queue and the service metrics, every statsInterval; a failure is tried next cycle. */
  async #reportStats(source: HarvesterReports, tally: Tally<Counted>): Promise<void> {
    const now = this.#env.now();
    const due = this.#statsReportedAt === null || now.getTime() - this.#statsReportedAt.getTime() >= this.#env.settings.propagator.statsInterval * 1000;
    if (!due) return;
    let failed = false;
    for (const queue of this.#env.queues) {
      const stats = await workerStatsOf(this.#env.store, queue.queueName);
      if ((await this.#report('reportWorkerStats', `queue ${queue.queueName}`, 1, async () => [await source.reportWorkerStats(queue.siteName, stats)])) === undefined) failed = true;
    }
    const metrics = serviceMetricsOf(now, process.cpuUsage(this.#cpuAtStart), (Date.now() - this.#startedAt) / 1000);
    if ((await this.#report('updateServiceMetrics', 'service metrics', 1, async () => [await source.updateServiceMetrics([metrics])])) === undefined) failed = true;
    if (failed) tally.add('errors');
    else {
      this.#statsReportedAt = now;
      tally.add('statsReported');
    }
  }

  async #propagateJobs(tally: Tally<Counted>): Promise<void> {
    const settings = this.#env.settings.propagator;
    const jobs = await this.#env.store.claimJobs({
      for: 'propagator',
      owner: this.#owner,
      lockIntervalSec: settings.lockInterval,
      checkIntervalSec: settings.updateInterval,
      limit: settings.maxJobs,
      now: this.#env.now(),
    });
    if (jobs.length === 0) return;
    const results = await this.#report('updateJobs', jobsSubject(jobs.map((j) => j.PandaID)), jobs.length, () => this.#env.jobSource.updateJobs(jobs));
    if (results === undefined) tally.add('errors');
    else {
      for (const [i, job] of jobs.entries()) await this.#afterJobReport(job, results[i]!, tally);
    }
    const written = await writeBackJobs(this.#env.store, jobs, { lock: { purpose: 'propagator', owner: this.#owner }, releaseLock: true, now: this.#env.now() }, this.#log);
    tally.add('lockLost', written.lockLost.length);
    tally.add('refused', written.refused.length);
  }

  async #afterJobReport(job: JobSpec, result: JobUpdateResult, tally: Tally<Counted>): Promise<void> {
    if (!result.ok) {
      this.#log.warn(
        { PandaID: job.PandaID, status: job.getStatus(), StatusCode: result.StatusCode, errorDiag: result.errorDiag, queue: job.computingSite },
        'the source refused the job report; reported again after updateInterval',
      );
      tally.add('jobsRefused');
      return;
    }
    tally.add('jobsReported');
    if (job.isFinalStatus() && job.getStatus() === job.status) {
      // The source has the job's last word: no further reports.
      job.propagatorTime = null;
      tally.add('jobsCompleted');
      return;
    }
    if (result.command !== null && killCommands.includes(result.command) && !job.isFinalStatus()) {
      await this.#kill(job);
      tally.add('killRequested');
    }
  }

  /** Asks the sweeper to kill the job's active workers; a job that has none is cancelled at once. */
  async #kill(job: JobSpec): Promise<void> {
    const now = this.#env.now();
    const PandaID = job.PandaID as number;
    const workerIDs = await this.#env.store.getWorkerIDsOfJob(PandaID);
    const active = (await this.#env.store.getWorkers(workerIDs)).filter((w) => !w.isFinalStatus());
    const toKill = active.filter((w) => w.killTime === null);
    for (const worker of toKill) worker.killTime = now;
    // Without a lock: killTime is written by nobody else, and the worker's other columns are left as they are.
    if (toKill.length > 0) await this.#env.store.updateWorkers(toKill, { now });
    if (active.length > 0) {
      this.#log.info({ PandaID, workerIDs: active.map((w) => w.workerID), queue: job.computingSite }, 'the source asked to kill the job; its workers are to be killed');
      return;
    }
    job.status = 'cancelled';
    job.subStatus = 'killed';
    job.stateChangeTime = now;
    job.setPilotError(ERR_PANDA_KILL, 'This job was killed by panda server');
    job.triggerPropagation(now);
    this.#log.info({ PandaID, queue: job.computingSite }, 'the source asked to kill the job; it had no active worker and is cancelled');
  }

  async #propagateWorkers(tally: Tally<Counted>): Promise<void> {
    const settings = this.#env.settings.propagator;
    const workers = await this.#env.store.claimWorkers({
      purpose: 'propagator',
      owner: this.#owner,
      lockIntervalSec: settings.lockInterval,
      checkIntervalSec: settings.updateInterval,
      limit: settings.maxWorkers,
      now: this.#env.now(),
    });
    if (workers.length === 0) return;
    const results = await this.#report('updateWorkers', workersSubject(workers.map((w) => w.workerID)), workers.length, () =>
      this.#env.jobSource.updateWorkers(workers),
    );
    if (results === undefined) tally.add('errors');
    else {
      for (const [i, worker] of workers.entries()) this.#afterWorkerReport(worker, results[i]!, tally);
    }
    const written = await writeBackWorkers(this.#env.store, workers, { lock: { purpose: 'propagator', owner: this.#owner }, releaseLock: true, now: this.#env.now() }, this.#log);
    tally.add('lockLost', written.lockLost.length);
    tally.add('refused', written.refused.length);
  }

  #afterWorkerReport(worker: WorkSpec, result: WorkerUpdateResult, tally: Tally<Counted>): void {
    if (!result.ok) {
      this.#log.warn({ workerID: worker.workerID, status: worker.status, queue: worker.computingSite }, 'the source refused the worker report; reported again after updateInterval');
      tally.add('workersRefused');
      return;
    }
    tally.add('workersReported');
    if (worker.isFinalStatus()) {
      worker.disablePropagation();
      tally.add('workersCompleted');
    }
  }

  /**
   * Calls the source; undefined when the call failed or answered with the wrong number of results (logged),
   * so the caller releases the rows to be reported again after updateInterval.
   */
  async #report<R>(method: string, subject: string, n: number, call: () => Promise<R[]>): Promise<R[] | undefined> {
    let results: R[];
    try {
      results = await call();
    } catch (error) {
      // A JobSourceError is the source being down or refusing; anything else is a fault of the source's code.
      const known = error instanceof JobSourceError;
      this.#log[known ? 'warn' : 'error']({ err: error, method, subject, source: this.#env.jobSource.description }, 'reporting to the source failed; reported again after updateInterval');
      return undefined;
    }
    if (!Array.isArray(results) || results.length !== n) {
      this.#log.error(
        { method, subject, expected: n, got: Array.isArray(results) ? results.length : typeof results, source: this.#env.jobSource.description },
        'the source answered with the wrong number of results; reported again after updateInterval',
      );
      return undefined;
    }
    return results;
  }
}
