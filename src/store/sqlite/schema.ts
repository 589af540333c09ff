// The SQLite schema: harvester's tables (job_table, work_table, file_table, jw_table, pq_table) built from
// the specs' column definitions, and the migrations that bring a database file to the current version.
//
// Migrations are numbered; schema_version holds the last one applied. After them, every open adds the spec
// columns (and indexes) a table lacks, so a column added to a spec needs no migration of its own; renaming
// or dropping one does.
import type Database from 'better-sqlite3';
import { FileSpec, JobSpec, WorkSpec, type ColumnDef, type ColumnKind } from '../../spec/index.js';
import { workerInternalColumns } from '../lock-columns.js';
import { DIAG_TABLE, FILE_TABLE, JOB_QUEUE_TABLE, JOB_TABLE, JOB_WORKER_TABLE, PANDAID_SEQUENCE, QUEUE_TABLE, SCHEMA_VERSION_TABLE, SEQUENCE_TABLE, WORK_TABLE, quote } from '../sql/tables.js';

/** The schema version this code writes and understands. */
export const SCHEMA_VERSION = 3;

/** The declared SQLite type of a column kind (sql/values.ts: how each kind is stored). */
export function sqliteTypeOf(kind: ColumnKind): 'INTEGER' | 'TEXT' {
  return kind === 'integer' || kind === 'timestamp' ? 'INTEGER' : 'TEXT';
}

interface TableSpec {
  readonly table: string;
  readonly columns: readonly ColumnDef[];
  /** Columns the store keeps beyond the spec's. */
  readonly internal?: readonly ColumnDef[];
  /** Overrides a column's declaration (primary keys, references). */
  readonly declarations?: Readonly<Record<string, string>>;
}

const specTables: readonly TableSpec[] = [
  {
    table: JOB_TABLE,
    columns: JobSpec.columns,
    // A rowid alias: an insert without PandaID gets max+1 (the embedded job source's ids).
    declarations: { PandaID: 'INTEGER PRIMARY KEY' },
  },
  {
    table: WORK_TABLE,
    columns: WorkSpec.columns,
    internal: workerInternalColumns,
    // AUTOINCREMENT: a workerID is never reused, even after its worker is deleted.
    declarations: { workerID: 'INTEGER PRIMARY KEY AUTOINCREMENT' },
  },
  {
    table: FILE_TABLE,
    columns: FileSpec.columns,
    declarations: {
      fileID: 'INTEGER PRIMARY KEY AUTOINCREMENT',
      PandaID: `INTEGER REFERENCES ${quote(JOB_TABLE)} (${quote('PandaID')}) ON DELETE CASCADE`,
    },
  },
];

function columnDeclaration(spec: TableSpec, column: ColumnDef): string {
  return `${quote(column.name)} ${spec.declarations?.[column.name] ?? sqliteTypeOf(column.kind)}`;
}

function allColumns(spec: TableSpec): readonly ColumnDef[] {
  return [...spec.columns, ...(spec.internal ?? [])];
}

function indexStatements(spec: TableSpec): string[] {
  return spec.columns
    .filter((c) => c.index === true && c.primaryKey !== true)
    .map((c) => `CREATE INDEX IF NOT EXISTS ${quote(`${spec.table}_${c.name}`)} ON ${quote(spec.table)} (${quote(c.name)})`);
}

/** Version 1: harvester's tables, from the spec columns. */
function createVersion1(db: Database.Database): void {
  for (const spec of specTables) {
    db.exec(`CREATE TABLE ${quote(spec.table)} (${allColumns(spec).map((c) => columnDeclaration(spec, c)).join(', ')})`);
  }
  db.exec(`CREATE TABLE ${quote(JOB_WORKER_TABLE)} (
    "PandaID" INTEGER NOT NULL REFERENCES ${quote(JOB_TABLE)} ("PandaID") ON DELETE CASCADE,
    "workerID" INTEGER NOT NULL REFERENCES ${quote(WORK_TABLE)} ("workerID") ON DELETE CASCADE,
    "relationType" TEXT,
    PRIMARY KEY ("PandaID", "workerID"))`);
  db.exec(`CREATE INDEX ${quote(`${JOB_WORKER_TABLE}_workerID`)} ON ${quote(JOB_WORKER_TABLE)} ("workerID")`);
  db.exec(`CREATE TABLE ${quote(QUEUE_TABLE)} (
    "queueName" TEXT PRIMARY KEY, "lockedBy" TEXT, "lockTime" INTEGER, "submitTime" INTEGER)`);
  // The claim queries filter on a status and order by the lock/due time: one index serves both.
  db.exec(`CREATE INDEX "work_table_status_modificationTime" ON ${quote(WORK_TABLE)} ("status", "modificationTime")`);
  db.exec(`CREATE INDEX "job_table_subStatus_PandaID" ON ${quote(JOB_TABLE)} ("subStatus", "PandaID")`);
}

/** Version 2: the embedded job queue, and the PandaID sequence it shares with insertJobs. */
function createVersion2(db: Database.Database): void {
  db.exec(`CREATE TABLE ${quote(JOB_QUEUE_TABLE)} (
    "PandaID" INTEGER PRIMARY KEY,
    "queueName" TEXT NOT NULL,
    "jobParams" TEXT NOT NULL,
    "taskID" INTEGER,
    "currentPriority" INTEGER,
    "nCore" INTEGER,
    "creationTime" INTEGER NOT NULL,
    "takenBy" TEXT,
    "takenTime" INTEGER)`);
  // takeQueuedJobs picks one queue's entries by priority, then age.
  db.exec(`CREATE INDEX ${quote(`${JOB_QUEUE_TABLE}_queueName_currentPriority`)} ON ${quote(JOB_QUEUE_TABLE)} ("queueName", "currentPriority", "PandaID")`);
  db.exec(`CREATE TABLE ${quote(SEQUENCE_TABLE)} ("name" TEXT PRIMARY KEY, "next" INTEGER NOT NULL)`);
  // Start past every job a version-1 file holds: rowid-assigned ids of embedded jobs included.
  db.prepare(`INSERT INTO ${quote(SEQUENCE_TABLE)} ("name", "next") SELECT ?, COALESCE(MAX("PandaID"), 0) + 1 FROM ${quote(JOB_TABLE)}`).run(PANDAID_SEQUENCE);
}

/** Version 3: harvester's diag_table, the agents' dialog messages for PanDA. */
function createVersion3(db: Database.Database): void {
  db.exec(`CREATE TABLE ${quote(DIAG_TABLE)} (
    "diagID" INTEGER PRIMARY KEY AUTOINCREMENT,
    "moduleName" TEXT NOT NULL,
    "identifier" TEXT,
    "creationTime" INTEGER NOT NULL,
    "lockTime" INTEGER,
    "messageLevel" TEXT NOT NULL,
    "lockedBy" TEXT,
    "diagMessage" TEXT NOT NULL)`);
}

const migrations: ReadonlyArray<{ readonly version: number; readonly apply: (db: Database.Database) => void }> = [
  { version: 1, apply: createVersion1 },
  { version: 2, apply: createVersion2 },
  { version: 3, apply: createVersion3 },
];

/** The version recorded in the file, 0 for a database without harvester tables. Read-only. */
export function readSchemaVersion(db: Database.Database): number {
  const table = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?").get(SCHEMA_VERSION_TABLE);
  if (table === undefined) return 0;
  const row = db.prepare(`SELECT MAX("version") AS version FROM ${quote(SCHEMA_VERSION_TABLE)}`).get() as { version: number | null };
  return row.version ?? 0;
}

/**
 * Applies the migrations after `from` (up to `to`, default: the current version; a lower `to` builds an old
 * file for upgrade tests) and adds missing spec columns and indexes. Runs inside the caller's immediate
 * transaction, so two processes opening a new file at once migrate it once.
 */
export function migrate(db: Database.Database, from: number, to: number = SCHEMA_VERSION): void {
  db.exec(`CREATE TABLE IF NOT EXISTS ${quote(SCHEMA_VERSION_TABLE)} ("version" INTEGER NOT NULL, "appliedAt" INTEGER NOT NULL)`);
  for (const migration of migrations) {
    if (migration.version <= from || migration.version > to) continue;
    migration.apply(db);
    db.prepare(`INSERT INTO ${quote(SCHEMA_VERSION_TABLE)} ("version", "appliedAt") VALUES (?, ?)`).run(migration.version, Date.now());
  }
  addMissingColumns(db);
}

function addMissingColumns(db: Database.Database): void {
  for (const spec of specTables) {
    const present = new Set((db.prepare(`SELECT name FROM pragma_table_info(?)`).all(spec.table) as { name: string }[]).map((r) => r.name));
    for (const column of allColumns(spec)) {
      if (!present.has(column.name)) {
        db.exec(`ALTER TABLE ${quote(spec.table)} ADD COLUMN ${quote(column.name)} ${sqliteTypeOf(column.kind)}`);
      }
    }
    for (const statement of indexStatements(spec)) db.exec(statement);
  }
}
