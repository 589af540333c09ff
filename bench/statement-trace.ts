// Counts what a server store sends its database: a ServerDriver wrapper that records every transaction and
// statement (by store operation and statement shape), with the parameters sent, the rows back and the time
// until the driver answered. For finding where a cycle's time goes on PostgreSQL or MariaDB (bench/core-trace.ts).
import type { Parameter, ServerDriver, SqlSession } from '../src/store/server/session.js';

export interface StatementFigures {
  /** Store operation, then the statement's shape (value lists collapsed). */
  readonly key: string;
  readonly count: number;
  /** Sum of the statements' own times (overlapping when pipelined). */
  readonly ms: number;
  readonly parameters: number;
  readonly rows: number;
}

export interface TraceTotals {
  readonly transactions: number;
  readonly statements: number;
  /** Statements + BEGIN and COMMIT of each transaction: what the client waits for, when not pipelined. */
  readonly roundTrips: number;
  readonly byStatement: readonly StatementFigures[];
}

/** `(?, ?), (?, ?), ...` → `(?, ?) x2`, so statements of different batch sizes share a shape. */
export function statementShape(sql: string): string {
  const tuple = String.raw`\((?:\?(?:::\w+)?,\s*)*\?(?:::\w+)?\)`;
  const repeated = new RegExp(`${tuple}(?:,\\s*${tuple})+`, 'g');
  const collapsed = sql.replace(/\s+/g, ' ').replace(repeated, (m) => `${m.slice(0, m.indexOf(')') + 1)} x${m.split('),').length}`);
  return collapsed.length > 150 ? `${collapsed.slice(0, 147)}...` : collapsed;
}

function parameterCount(parameters: readonly Parameter[]): number {
  return parameters.reduce<number>((n, p) => n + (Array.isArray(p) ? p.length : 1), 0);
}

export class StatementTrace {
  #transactions = 0;
  readonly #shapes = new Map<string, string>();
  #byKey = new Map<string, { count: number; ms: number; parameters: number; rows: number }>();

  /** The driver, with every transaction and statement recorded here. */
  wrap(driver: ServerDriver): ServerDriver {
    const record = (operation: string, sql: string, parameters: readonly Parameter[], ms: number, rows: number): void => {
      let shape = this.#shapes.get(sql);
      if (shape === undefined) {
        shape = statementShape(sql);
        if (this.#shapes.size < 10_000) this.#shapes.set(sql, shape);
      }
      const key = `${operation} | ${shape}`;
      const figures = this.#byKey.get(key) ?? { count: 0, ms: 0, parameters: 0, rows: 0 };
      figures.count += 1;
      figures.ms += ms;
      figures.parameters += parameterCount(parameters);
      figures.rows += rows;
      this.#byKey.set(key, figures);
    };
    const traced = (operation: string, session: SqlSession): SqlSession => ({
      query: async (sql, parameters = []) => {
        const started = performance.now();
        const rows = await session.query(sql, parameters);
        record(operation, sql, parameters, performance.now() - started, rows.length);
        return rows;
      },
      execute: async (sql, parameters = []) => {
        const started = performance.now();
        const changed = await session.execute(sql, parameters);
        record(operation, sql, parameters, performance.now() - started, changed);
        return changed;
      },
    });
    return {
      dialect: driver.dialect,
      database: driver.database,
      schema: driver.schema,
      transaction: (operation, work) => {
        this.#transactions += 1;
        return driver.transaction(operation, (session) => work(traced(operation, session)));
      },
      close: () => driver.close(),
    };
  }

  /** What was recorded since the last take, and starts afresh. */
  take(): TraceTotals {
    const byStatement = [...this.#byKey].map(([key, f]) => ({ key, ...f })).sort((a, b) => b.ms - a.ms);
    const statements = byStatement.reduce((n, s) => n + s.count, 0);
    const totals = { transactions: this.#transactions, statements, roundTrips: statements + 2 * this.#transactions, byStatement };
    this.#transactions = 0;
    this.#byKey = new Map();
    return totals;
  }
}
