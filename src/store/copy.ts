// `harvester db copy`: moves a SQLite database (jobs, workers, files, job-worker relations, queue locks, the
// embedded job queue, the PandaID sequence, dialog messages) into an empty PostgreSQL or MariaDB database,
// row for row with the same ids, in one transaction, then checks that every table holds as many rows as the
// source. Key generators are moved past every id SQLite ever handed out, so a workerID is never reused.
import { FileSpec, JobSpec, WorkSpec } from '../spec/index.js';
import { StoreError } from './errors.js';
import { workerInternalColumns } from './lock-columns.js';
import { openServerStore } from './server/open-server-store.js';
import type { Parameter, ServerDriver, SqlSession } from './server/session.js';
import type { ServerConnectionSettings } from './server/settings.js';
import { loadSqliteDriver } from './sqlite/driver.js';
import { DIAG_TABLE, FILE_TABLE, JOB_QUEUE_TABLE, JOB_TABLE, JOB_WORKER_TABLE, QUEUE_TABLE, SEQUENCE_TABLE, WORK_TABLE, quote } from './sql/tables.js';
import { SqliteStore } from './sqlite-store.js';

/** A copy refused (target not empty) or failed its check (counts differ). */
export class StoreCopyError extends StoreError {
  constructor(database: string, reason: string) {
    super(database, 'copy', reason);
    this.name = 'StoreCopyError';
  }
}

interface CopiedTable {
  readonly table: string;
  readonly columns: readonly string[];
  /** The key the target engine assigns, to move past the source's. */
  readonly autoKey?: string;
  /** Rows already there after the migration (the sequence row): replaced, not refused. */
  readonly replace?: boolean;
}

/** In the order foreign keys allow. */
const copiedTables: readonly CopiedTable[] = [
  { table: JOB_TABLE, columns: JobSpec.columns.map((c) => c.name) },
  { table: WORK_TABLE, columns: [...WorkSpec.columns, ...workerInternalColumns].map((c) => c.name), autoKey: 'workerID' },
  { table: FILE_TABLE, columns: FileSpec.columns.map((c) => c.name), autoKey: 'fileID' },
  { table: JOB_WORKER_TABLE, columns: ['PandaID', 'workerID', 'relationType'] },
  { table: QUEUE_TABLE, columns: ['queueName', 'lockedBy', 'lockTime', 'submitTime'] },
  { table: JOB_QUEUE_TABLE, columns: ['PandaID', 'queueName', 'jobParams', 'taskID', 'currentPriority', 'nCore', 'creationTime', 'takenBy', 'takenTime'] },
  { table: SEQUENCE_TABLE, columns: ['name', 'next'], replace: true },
  { table: DIAG_TABLE, columns: ['diagID', 'moduleName', 'identifier', 'creationTime', 'lockTime', 'messageLevel', 'lockedBy', 'diagMessage'], autoKey: 'diagID' },
];

export type CopyCounts = Readonly<Record<string, number>>;

/** Rows per INSERT: well below both engines' limit of 65,535 parameters for the widest table. */
const ROWS_PER_INSERT = 500;

/**
 * Copies the SQLite file into the server database, which must hold no rows (a fresh schema). Returns the
 * rows copied per table. Throws StoreCopyError when the target is not empty or the counts differ after.
 */
export async function copySqliteToServer(file: string, target: ServerConnectionSettings, progress: (line: string) => void = () => undefined): Promise<CopyCounts> {
  // Opening through the store brings an older file to the current schema first.
  await (await SqliteStore.open(file)).close();
  const Driver = await loadSqliteDriver(file);
  const source = new Driver(file, { readonly: true, fileMustExist: true });
  try {
    const store = await openServerStore(target);
    await store.close();
    const driver = await serverDriver(target);
    try {
      const counts: Record<string, number> = {};
      const next = sqliteNextKeys(source);
      await driver.transaction('copy', async (s) => {
        await refuseNonEmpty(s, driver);
        for (const table of copiedTables) {
          counts[table.table] = await copyTable(source, s, table);
          progress(`${table.table}: ${counts[table.table]} rows`);
        }
      });
      // Separately: on MariaDB, ALTER TABLE commits.
      for (const table of copiedTables) {
        if (table.autoKey === undefined) continue;
        const n = next.get(table.table) ?? 1;
        await driver.transaction('copy', (s) => driver.dialect.advanceKey(s, table.table, table.autoKey as string, n));
      }
      await driver.transaction('copy', async (s) => {
        for (const table of copiedTables) {
          const [row] = await s.query(`SELECT COUNT(*) AS "n" FROM ${quote(table.table)}`);
          const found = Number(row?.n);
          if (found !== counts[table.table]) {
            throw new StoreCopyError(driver.database, `${table.table} holds ${found} rows after the copy, the source ${counts[table.table]}: check the target database`);
          }
        }
      });
      return counts;
    } finally {
      await driver.close();
    }
  } finally {
    source.close();
  }
}

async function serverDriver(settings: ServerConnectionSettings): Promise<ServerDriver> {
  if (settings.engine === 'postgresql') return (await import('./postgresql/driver.js')).PostgresqlDriver.create(settings);
  return (await import('./mariadb/driver.js')).MariadbDriver.create(settings);
}

async function refuseNonEmpty(s: SqlSession, driver: ServerDriver): Promise<void> {
  const found: string[] = [];
  for (const table of copiedTables) {
    if (table.replace === true) continue;
    const [row] = await s.query(`SELECT COUNT(*) AS "n" FROM ${quote(table.table)}`);
    const n = Number(row?.n);
    if (n > 0) found.push(`${table.table} has ${n} rows`);
  }
  if (found.length > 0) {
    throw new StoreCopyError(driver.database, `the target database is not empty (${found.join(', ')}); nothing was copied: copy into a new, empty database`);
  }
}

/** The next key SQLite would assign per AUTOINCREMENT table (sqlite_sequence remembers deleted rows' keys). */
function sqliteNextKeys(source: import('better-sqlite3').Database): Map<string, number> {
  const rows = source.prepare('SELECT name, seq FROM sqlite_sequence').all() as { name: string; seq: number }[];
  return new Map(rows.map((r) => [r.name, Number(r.seq) + 1]));
}

async function copyTable(source: import('better-sqlite3').Database, s: SqlSession, table: CopiedTable): Promise<number> {
  const names = table.columns.map(quote).join(', ');
  if (table.replace === true) await s.execute(`DELETE FROM ${quote(table.table)}`);
  const select = source.prepare(`SELECT ${names} FROM ${quote(table.table)}`).raw(true);
  let batch: unknown[][] = [];
  let copied = 0;
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const row = `(${table.columns.map(() => '?').join(', ')})`;
    await s.execute(`INSERT INTO ${quote(table.table)} (${names}) VALUES ${batch.map(() => row).join(', ')}`, batch.flat() as Parameter[]);
    copied += batch.length;
    batch = [];
  };
  for (const values of select.iterate() as Iterable<unknown[]>) {
    batch.push(values);
    if (batch.length === ROWS_PER_INSERT) await flush();
  }
  await flush();
  return copied;
}
