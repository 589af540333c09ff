// harvester's table names and the quoting of identifiers: the same on every engine (SQLite, PostgreSQL,
// MariaDB), so a database copied from one engine to another holds the same tables.
export const JOB_TABLE = 'job_table';
export const WORK_TABLE = 'work_table';
export const FILE_TABLE = 'file_table';
export const JOB_WORKER_TABLE = 'jw_table';
export const QUEUE_TABLE = 'pq_table';
export const SCHEMA_VERSION_TABLE = 'schema_version';
/** The embedded job queue (`harvester jobs add`): entries waiting for a job fetcher. */
export const JOB_QUEUE_TABLE = 'job_queue_table';
/** Named id sequences that survive deletion of their rows (PandaIDs of embedded jobs). */
export const SEQUENCE_TABLE = 'sequence_table';
export const PANDAID_SEQUENCE = 'PandaID';
/** Dialog messages waiting for the propagator (harvester's diag_table). */
export const DIAG_TABLE = 'diag_table';

/** Identifiers are harvester's mixed-case names: always quoted (MariaDB runs with ANSI_QUOTES). */
export function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}
