// The schema of the server engines (PostgreSQL, MariaDB): the same tables as SQLite's (harvester's
// job_table, work_table, file_table, jw_table, pq_table, with the embedded job queue, the PandaID sequence
// and diag_table), with the same value representation (timestamps as BIGINT milliseconds, dicts as JSON
// text), built from the specs' column definitions. Versions are the server engines' own (schema_version);
// after the migrations, every open adds the spec columns a table lacks, as SQLite does.
import { FileSpec, JobSpec, WorkSpec, type ColumnDef } from '../../spec/index.js';
import { workerInternalColumns } from '../lock-columns.js';
import {
  DIAG_TABLE,
  FILE_TABLE,
  JOB_QUEUE_TABLE,
  JOB_TABLE,
  JOB_WORKER_TABLE,
  PANDAID_SEQUENCE,
  QUEUE_TABLE,
  SCHEMA_VERSION_TABLE,
  SEQUENCE_TABLE,
  WORK_TABLE,
  quote,
} from '../sql/tables.js';
import type { ServerDialect, SqlSession } from './session.js';

/** The schema version of the server engines that this code writes and understands. */
export const SERVER_SCHEMA_VERSION = 3;

interface TableSpec {
  readonly table: string;
  readonly columns: readonly ColumnDef[];
  readonly internal?: readonly ColumnDef[];
  /** The key the engine assigns (workerID, fileID); PandaID comes from the sequence table. */
  readonly autoKey?: string;
  readonly references?: Readonly<Record<string, string>>;
}

const specTables: readonly TableSpec[] = [
  { table: JOB_TABLE, columns: JobSpec.columns },
  { table: WORK_TABLE, columns: WorkSpec.columns, internal: workerInternalColumns, autoKey: 'workerID' },
  { table: FILE_TABLE, columns: FileSpec.columns, autoKey: 'fileID', references: { PandaID: `REFERENCES ${quote(JOB_TABLE)} ("PandaID") ON DELETE CASCADE` } },
];

/** Text columns that take part in an index beyond the spec's own flags (the claim indexes). */
const extraIndexed: ReadonlySet<string> = new Set(['status', 'subStatus', 'computingSite']);

function isIndexed(column: ColumnDef): boolean {
  return column.index === true || column.primaryKey === true || extraIndexed.has(column.name);
}

function allColumns(spec: TableSpec): readonly ColumnDef[] {
  return [...spec.columns, ...(spec.internal ?? [])];
}

function columnDeclaration(dialect: ServerDialect, spec: TableSpec, column: ColumnDef): string {
  if (column.name === spec.autoKey) return `${quote(column.name)} ${dialect.autoKey}`;
  const type = dialect.columnType(column.kind, isIndexed(column));
  const key = column.primaryKey === true ? ' PRIMARY KEY' : '';
  const reference = spec.references?.[column.name] === undefined ? '' : ` ${spec.references[column.name]}`;
  return `${quote(column.name)} ${type}${key}${reference}`;
}

/** The name of a one-column index that a spec column's index flag gives (version 1). */
function indexName(table: string, column: string): string {
  return `${table}_${column}`;
}

function indexStatements(spec: TableSpec): string[] {
  return spec.columns
    .filter((c) => c.index === true && c.primaryKey !== true && c.name !== spec.autoKey)
    .map((c) => `CREATE INDEX ${quote(indexName(spec.table, c.name))} ON ${quote(spec.table)} (${quote(c.name)})`);
}

/** Version 1: everything SQLite's versions 1 to 3 hold. */
async function createVersion1(session: SqlSession, d: ServerDialect): Promise<void> {
  const text = (indexed: boolean) => d.columnType('text', indexed);
  const int = d.columnType('integer', false);
  for (const spec of specTables) {
    await session.execute(`CREATE TABLE ${quote(spec.table)} (${allColumns(spec).map((c) => columnDeclaration(d, spec, c)).join(', ')})${d.tableOptions}`);
    for (const statement of indexStatements(spec)) await session.execute(statement);
  }
  await session.execute(`CREATE TABLE ${quote(JOB_WORKER_TABLE)} (
    "PandaID" ${int} NOT NULL REFERENCES ${quote(JOB_TABLE)} ("PandaID") ON DELETE CASCADE,
    "workerID" ${int} NOT NULL REFERENCES ${quote(WORK_TABLE)} ("workerID") ON DELETE CASCADE,
    "relationType" ${text(false)},
    PRIMARY KEY ("PandaID", "workerID"))${d.tableOptions}`);
  await session.execute(`CREATE INDEX ${quote(`${JOB_WORKER_TABLE}_workerID`)} ON ${quote(JOB_WORKER_TABLE)} ("workerID")`);
  await session.execute(`CREATE TABLE ${quote(QUEUE_TABLE)} (
    "queueName" ${text(true)} PRIMARY KEY, "lockedBy" ${text(false)}, "lockTime" ${int}, "submitTime" ${int})${d.tableOptions}`);
  await session.execute(`CREATE INDEX "work_table_status_modificationTime" ON ${quote(WORK_TABLE)} ("status", "modificationTime")`);
  await session.execute(`CREATE INDEX "work_table_computingSite_status" ON ${quote(WORK_TABLE)} ("computingSite", "status")`);
  await session.execute(`CREATE INDEX "job_table_subStatus_PandaID" ON ${quote(JOB_TABLE)} ("subStatus", "PandaID")`);
  await session.execute(`CREATE TABLE ${quote(JOB_QUEUE_TABLE)} (
    "PandaID" ${int} PRIMARY KEY,
    "queueName" ${text(true)} NOT NULL,
    "jobParams" ${d.columnType('dict', false)} NOT NULL,
    "taskID" ${int},
    "currentPriority" ${int},
    "nCore" ${int},
    "creationTime" ${int} NOT NULL,
    "takenBy" ${text(false)},
    "takenTime" ${int})${d.tableOptions}`);
  await session.execute(`CREATE INDEX ${quote(`${JOB_QUEUE_TABLE}_queueName_currentPriority`)} ON ${quote(JOB_QUEUE_TABLE)} ("queueName", "currentPriority", "PandaID")`);
  await session.execute(`CREATE TABLE ${quote(SEQUENCE_TABLE)} ("name" ${text(true)} PRIMARY KEY, "next" ${int} NOT NULL)${d.tableOptions}`);
  await session.execute(`INSERT INTO ${quote(SEQUENCE_TABLE)} ("name", "next") VALUES (?, 1)`, [PANDAID_SEQUENCE]);
  await session.execute(`CREATE TABLE ${quote(DIAG_TABLE)} (
    "diagID" ${d.autoKey},
    "moduleName" ${text(false)} NOT NULL,
    "identifier" ${text(false)},
    "creationTime" ${int} NOT NULL,
    "lockTime" ${int},
    "messageLevel" ${text(false)} NOT NULL,
    "lockedBy" ${text(false)},
    "diagMessage" ${text(false)} NOT NULL)${d.tableOptions}`);
}

/**
 * Version 2: the worker table costs less to update. Every claim of the monitor, the sweeper and the submitter
 * sets modificationTime (their lock time and due time), so its two indexes took a new entry per claimed row,
 * and no query reads them (claims select by computingSite and status, then sort what they take);
 * work_table_computingSite repeats the first column of work_table_computingSite_status. On PostgreSQL the table's
 * pages also keep room (fillfactor 70): an update that changes no indexed column (a claim, a write-back without
 * a status change) then stays on its page and writes no index entry at all (a HOT update).
 */
async function migrateVersion2(session: SqlSession, d: ServerDialect): Promise<void> {
  for (const index of ['work_table_modificationTime', 'work_table_status_modificationTime', 'work_table_computingSite']) {
    await session.execute(d.dropIndex(WORK_TABLE, index));
  }
  if (d.engine === 'postgresql') await session.execute(`ALTER TABLE ${quote(WORK_TABLE)} SET (fillfactor = 70)`);
}

/**
 * The worker table's indexes dropped in version 3 (they came with harvester's column flags). A write-back that
 * changes a status cannot be a HOT update on PostgreSQL, and then writes an entry into every index of the
 * table: each of these cost one per worker of every such monitor cycle. No claim or listing can use them:
 * eventFeedTime, nJobsToReFill and configID are read by no query; submitTime only by per-queue aggregates that
 * read every row anyway; lastUpdate by the propagator's worker claim, whose condition ORs it with the
 * unindexed propagatorLock: with 20,000 rows both engines scanned the table and sorted with or without the
 * index (EXPLAIN; 35-50 ms either way).
 */
export const workerIndexesDroppedInVersion3 = ['submitTime', 'lastUpdate', 'eventFeedTime', 'nJobsToReFill', 'configID'].map((column) => indexName(WORK_TABLE, column));

/** Version 3: the worker table without the indexes that cost every status change (workerIndexesDroppedInVersion3). */
async function migrateVersion3(session: SqlSession, d: ServerDialect): Promise<void> {
  for (const index of workerIndexesDroppedInVersion3) await session.execute(d.dropIndex(WORK_TABLE, index));
}

const migrations: ReadonlyArray<{ readonly version: number; readonly apply: (session: SqlSession, dialect: ServerDialect) => Promise<void> }> = [
  { version: 1, apply: createVersion1 },
  { version: 2, apply: migrateVersion2 },
  { version: 3, apply: migrateVersion3 },
];

/** The version recorded in the database, 0 for a database without harvester tables. */
export async function readServerSchemaVersion(session: SqlSession, dialect: ServerDialect): Promise<number> {
  const tables = await session.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = ${dialect.currentSchema} AND table_name = ?`, [
    SCHEMA_VERSION_TABLE,
  ]);
  if (tables.length === 0) return 0;
  const [row] = await session.query(`SELECT MAX("version") AS "version" FROM ${quote(SCHEMA_VERSION_TABLE)}`);
  return Number(row?.version ?? 0);
}

/** Applies the migrations after `from` and adds missing spec columns (the caller holds the schema lock). */
export async function migrateServer(session: SqlSession, dialect: ServerDialect, from: number): Promise<void> {
  const int = dialect.columnType('integer', false);
  if (from === 0) {
    await session.execute(`CREATE TABLE IF NOT EXISTS ${quote(SCHEMA_VERSION_TABLE)} ("version" ${int} NOT NULL, "appliedAt" ${int} NOT NULL)${dialect.tableOptions}`);
  }
  for (const migration of migrations) {
    if (migration.version <= from) continue;
    await migration.apply(session, dialect);
    await session.execute(`INSERT INTO ${quote(SCHEMA_VERSION_TABLE)} ("version", "appliedAt") VALUES (?, ?)`, [migration.version, Date.now()]);
  }
  await addMissingColumns(session, dialect);
}

/** The spec columns the tables lack, as "table.column" (every open adds them; see addMissingColumns). */
export async function missingServerColumns(session: SqlSession, dialect: ServerDialect): Promise<string[]> {
  return (await missingColumns(session, dialect)).map(({ table, column }) => `${table}.${column.name}`);
}

async function addMissingColumns(session: SqlSession, dialect: ServerDialect): Promise<void> {
  for (const { table, column } of await missingColumns(session, dialect)) {
    await session.execute(`ALTER TABLE ${quote(table)} ADD COLUMN ${quote(column.name)} ${dialect.columnType(column.kind, isIndexed(column))}`);
  }
}

async function missingColumns(session: SqlSession, dialect: ServerDialect): Promise<{ table: string; column: ColumnDef }[]> {
  const missing: { table: string; column: ColumnDef }[] = [];
  for (const spec of specTables) {
    const present = await columnNames(session, dialect, spec.table);
    for (const column of allColumns(spec)) if (!present.has(column.name)) missing.push({ table: spec.table, column });
  }
  return missing;
}

async function columnNames(session: SqlSession, dialect: ServerDialect, table: string): Promise<Set<string>> {
  const rows = await session.query(
    `SELECT column_name AS "name" FROM information_schema.columns WHERE table_schema = ${dialect.currentSchema} AND table_name = ?`,
    [table],
  );
  return new Set(rows.map((r) => String(r.name)));
}
