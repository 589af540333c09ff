// Typed errors of the store. Each names the database (a file for SQLite, later host/database for a server)
// and the store operation, so an operator reading one log line knows where to look. None carries values of
// rows beyond their ids: rows may hold job parameters an operator did not mean to put in a log.

/** The base of every store error: agents catch "the store failed" in one place. */
export class StoreError extends Error {
  constructor(
    /** Where the data lives: the SQLite file path, later "host/database". */
    readonly database: string,
    /** The store method that failed: "claimWorkers", "open"... */
    readonly operation: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${operation} on ${database}: ${message}`, options);
    this.name = 'StoreError';
  }
}

/** The database cannot be opened at all (missing directory, no permission, not a regular file). */
export class StoreOpenError extends StoreError {
  constructor(database: string, reason: string, options?: { cause?: unknown }) {
    super(database, 'open', `cannot open the database: ${reason}`, options);
    this.name = 'StoreOpenError';
  }
}

/** The file is not a database or its pages are damaged. */
export class StoreCorruptError extends StoreError {
  constructor(database: string, operation: string, detail: string, options?: { cause?: unknown }) {
    super(database, operation, `the database file is corrupt or not a database (${detail}); restore it from a backup or move it away to start empty`, options);
    this.name = 'StoreCorruptError';
  }
}

/** The database was written by a newer harvester-ts: opening it with this one could damage it. */
export class StoreSchemaTooNewError extends StoreError {
  constructor(
    database: string,
    readonly databaseVersion: number,
    readonly supportedVersion: number,
  ) {
    super(database, 'open', `the database has schema version ${databaseVersion}, newer than the ${supportedVersion} this harvester-ts knows; run a newer harvester-ts on it`);
    this.name = 'StoreSchemaTooNewError';
  }
}

/**
 * A command that never creates or migrates the schema (the admin commands that read) found none on the
 * server: nothing was created.
 */
export class StoreSchemaMissingError extends StoreError {
  constructor(
    database: string,
    readonly schema: string,
  ) {
    super(database, 'open', `database ${schema} holds no harvester-ts tables yet, and this command creates none: \`harvester run\` creates them when it starts`);
    this.name = 'StoreSchemaMissingError';
  }
}

/**
 * A command that never creates or migrates the schema found an older one (an older version, or columns this
 * version adds): nothing was changed.
 */
export class StoreSchemaTooOldError extends StoreError {
  constructor(
    database: string,
    readonly databaseVersion: number,
    readonly supportedVersion: number,
    readonly missingColumns: readonly string[],
  ) {
    const found =
      databaseVersion < supportedVersion
        ? `schema version ${databaseVersion}, older than the ${supportedVersion} this harvester-ts uses`
        : `schema version ${databaseVersion} without the column${missingColumns.length === 1 ? '' : 's'} ${missingColumns.slice(0, 5).join(', ')}${missingColumns.length > 5 ? ` and ${missingColumns.length - 5} more` : ''} this harvester-ts uses`;
    super(database, 'open', `the database has ${found}, and this command does not migrate: \`harvester run\` migrates it when it starts (as does \`harvester jobs add\`)`);
    this.name = 'StoreSchemaTooOldError';
  }
}

/** A write was refused because the file, its directory or the file system is read-only. */
export class StoreReadOnlyError extends StoreError {
  constructor(database: string, operation: string, detail: string, options?: { cause?: unknown }) {
    super(database, operation, `the database is read-only (${detail}); the file, its -wal/-shm files and its directory must be writable`, options);
    this.name = 'StoreReadOnlyError';
  }
}

/** A write did not fit: the disk (or quota) is full. Nothing of the failed operation was written. */
export class StoreDiskFullError extends StoreError {
  constructor(database: string, operation: string, options?: { cause?: unknown }) {
    super(database, operation, 'the disk holding the database is full; nothing of this operation was written', options);
    this.name = 'StoreDiskFullError';
  }
}

/** Another process held the database longer than the busy timeout. */
export class StoreBusyError extends StoreError {
  constructor(database: string, operation: string, readonly busyTimeoutMs: number, options?: { cause?: unknown }) {
    super(database, operation, `the database stayed locked by another connection for more than ${busyTimeoutMs} ms`, options);
    this.name = 'StoreBusyError';
  }
}

/** Any other failure of the database engine; the engine's error is the cause. */
export class StoreQueryError extends StoreError {
  constructor(database: string, operation: string, detail: string, options?: { cause?: unknown }) {
    super(database, operation, detail, options);
    this.name = 'StoreQueryError';
  }
}

/** The store was closed (graceful stop) and is used again. */
export class StoreClosedError extends StoreError {
  constructor(database: string, operation: string) {
    super(database, operation, 'the store is closed');
    this.name = 'StoreClosedError';
  }
}

export type RecordKind = 'job' | 'worker' | 'file' | 'queue';

/** A row asked for by id does not exist. */
export class StoreRecordNotFoundError extends StoreError {
  constructor(database: string, operation: string, readonly kind: RecordKind, readonly ids: readonly number[]) {
    super(database, operation, `no ${kind} with id ${ids.join(', ')}`);
    this.name = 'StoreRecordNotFoundError';
  }
}

/** An insert met ids already present; nothing of the operation was written. */
export class StoreDuplicateError extends StoreError {
  constructor(database: string, operation: string, readonly kind: RecordKind, readonly ids: readonly number[]) {
    super(database, operation, `${kind} id ${ids.join(', ')} already exists; nothing was inserted`);
    this.name = 'StoreDuplicateError';
  }
}

/**
 * An update on behalf of a lock owner found rows no longer locked by that owner (the lock expired and
 * someone else claimed them, or they were released). Nothing of the operation was written: the caller's
 * view of those rows is stale.
 */
export class StoreLockLostError extends StoreError {
  constructor(
    database: string,
    operation: string,
    readonly kind: RecordKind,
    readonly purpose: string,
    readonly owner: string,
    /** The rows whose lock was lost, with who holds them now (null: nobody, or the row is gone). */
    readonly lost: ReadonlyArray<{ readonly id: number; readonly holder: string | null }>,
  ) {
    const shown = lost.slice(0, 10).map((l) => `${l.id} (${l.holder === null ? 'unlocked or gone' : `now locked by ${l.holder}`})`);
    const more = lost.length > 10 ? ` and ${lost.length - 10} more` : '';
    super(database, operation, `${owner} no longer holds the ${purpose} lock of ${kind} ${shown.join(', ')}${more}; nothing was written`);
    this.name = 'StoreLockLostError';
  }
}

/** A spec field holds a value the database cannot keep exactly (a fraction in an integer column...). */
export class StoreValueError extends StoreError {
  constructor(
    database: string,
    operation: string,
    readonly specKind: string,
    readonly id: number | null,
    readonly field: string,
    readonly reason: string,
  ) {
    super(database, operation, `${specKind} ${id === null ? '(no id yet)' : id}: ${field} ${reason}; nothing was written`);
    this.name = 'StoreValueError';
  }
}

/** Arguments the store cannot act on (an owner without a purpose, a limit below 1...). */
export class StoreArgumentError extends StoreError {
  constructor(database: string, operation: string, reason: string) {
    super(database, operation, reason);
    this.name = 'StoreArgumentError';
  }
}

/**
 * The database server cannot be reached or refused the connection (wrong password, unknown database...).
 * The message names the server (host, port), the user and the step that failed, never the password.
 */
export class StoreConnectionError extends StoreError {
  constructor(
    database: string,
    operation: string,
    readonly step: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(database, operation, `${step}: ${reason}`, options);
    this.name = 'StoreConnectionError';
  }
}

/**
 * TLS to the server could not be set up as db.tls asks: the server's certificate did not verify, or the
 * server offers no TLS. A configuration error: never retried.
 */
export class StoreTlsError extends StoreConnectionError {
  constructor(database: string, operation: string, step: string, reason: string, options?: { cause?: unknown }) {
    super(database, operation, step, reason, options);
    this.name = 'StoreTlsError';
  }
}

/**
 * The connection was lost during COMMIT: the transaction may or may not have been applied, so it is never
 * repeated blindly; the caller re-judges from the store (an owned update that did apply finds its lock gone).
 * The server stores' claims settle it themselves, from the stamp on their rows.
 */
export class StoreCommitUnknownError extends StoreConnectionError {
  constructor(database: string, operation: string, step: string, options?: { cause?: unknown }) {
    super(database, operation, step, 'the connection was lost during COMMIT: the transaction may or may not have been applied', options);
    this.name = 'StoreCommitUnknownError';
  }
}
