// Rows read beside specs, turned into what the Store returns, on every engine: a job's files, a worker's
// jobs, counts by queue and status. Values are taken through Number/String: the server drivers may hand
// back numbers as strings or bigints where SQLite gives numbers.
import type { FileSpec, JobSpec, WorkSpec } from '../../spec/index.js';
import type { WorkerCounts } from '../store.js';
import type { Condition, InList } from './conditions.js';

/** Input files (and aux inputs) go to JobSpec.inFiles, every other type to outFiles. */
const inputFileTypes: ReadonlySet<string | null> = new Set(['input', 'aux_input']);

/** Gives each job its files (read in fileID order): input types to inFiles, the rest to outFiles. */
export function attachFiles(jobs: JobSpec[], files: readonly FileSpec[]): JobSpec[] {
  const byJob = new Map<number, FileSpec[]>();
  for (const file of files) {
    const own = byJob.get(file.PandaID as number) ?? [];
    own.push(file);
    byJob.set(file.PandaID as number, own);
  }
  for (const job of jobs) {
    const own = byJob.get(job.PandaID as number) ?? [];
    job.inFiles = own.filter((f) => inputFileTypes.has(f.fileType));
    job.outFiles = own.filter((f) => !inputFileTypes.has(f.fileType));
    job.resetChanges();
  }
  return jobs;
}

export interface JobWorkerRelation {
  readonly PandaID: number;
  readonly workerID: number;
}

/** A jw_table row as numbers. */
export function relationOf(row: Readonly<Record<string, unknown>>): JobWorkerRelation {
  return { PandaID: Number(row.PandaID), workerID: Number(row.workerID) };
}

/** Gives each worker its jobs (one JobSpec object per job, shared between its workers) and pandaid_list. */
export function attachJobs(workers: WorkSpec[], relations: readonly JobWorkerRelation[], jobs: readonly JobSpec[]): WorkSpec[] {
  const byId = new Map(jobs.map((job) => [job.PandaID as number, job]));
  const byWorker = new Map<number, number[]>();
  for (const r of relations) {
    const own = byWorker.get(r.workerID) ?? [];
    own.push(r.PandaID);
    byWorker.set(r.workerID, own);
  }
  for (const worker of workers) {
    const own = byWorker.get(worker.workerID as number) ?? [];
    worker.jobSpecs = own.map((id) => byId.get(id)).filter((job): job is JobSpec => job !== undefined);
    worker.pandaid_list = own;
    worker.resetChanges();
  }
  return workers;
}

/** Rows of (queue, status, n) as counts by queue, then status ("null" for no status). */
export function countsByQueue(rows: ReadonlyArray<Readonly<Record<string, unknown>>>): Map<string, WorkerCounts> {
  const counts = new Map<string, Record<string, number>>();
  for (const row of rows) {
    const queue = counts.get(String(row.queue)) ?? {};
    queue[row.status === null || row.status === undefined ? 'null' : String(row.status)] = Number(row.n);
    counts.set(String(row.queue), queue);
  }
  return counts;
}

/** The newest submitTime of each queue's workers: one aggregate, no rows sent (see lastSubmitTimesOf). */
export function lastSubmitTimesQuery(workTable: string): string {
  return `SELECT "computingSite" AS "queue", MAX("submitTime") AS "t" FROM ${workTable} WHERE "computingSite" IS NOT NULL AND "submitTime" IS NOT NULL GROUP BY "computingSite" ORDER BY "computingSite"`;
}

export function lastSubmitTimesOf(rows: ReadonlyArray<Readonly<Record<string, unknown>>>): Map<string, Date> {
  return new Map(rows.map((row) => [String(row.queue), new Date(Number(row.t))]));
}

/** Workers per queue in one of the statuses last seen before a time (see Store.getUnseenWorkerCountsByQueue). */
export function unseenWorkersQuery<P>(workTable: string, statuses: readonly string[], beforeMs: number, inList: InList<P>): Condition<P | number> {
  const status = inList('status', statuses);
  return {
    sql: `SELECT "computingSite" AS "queue", COUNT(*) AS "n" FROM ${workTable} WHERE "computingSite" IS NOT NULL AND ${status.sql} AND COALESCE("checkTime", "modificationTime", "submitTime") < ? GROUP BY "computingSite" ORDER BY "computingSite"`,
    parameters: [...status.parameters, beforeMs],
  };
}

export function countsOf(rows: ReadonlyArray<Readonly<Record<string, unknown>>>): Map<string, number> {
  return new Map(rows.map((row) => [String(row.queue), Number(row.n)]));
}
