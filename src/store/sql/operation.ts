// What every store operation carries, on every engine: where it runs (for the errors it raises), and the
// changes to the caller's specs that wait until its transaction committed.

/** Which database and operation an error names. */
export interface OperationContext {
  readonly database: string;
  readonly operation: string;
}

/** Work done inside a transaction that touches the caller's specs only once the transaction committed. */
export type AfterCommit = Array<() => void>;
