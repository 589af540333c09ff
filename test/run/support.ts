// Homes, processes and inspections for the end-to-end tests of `harvester run`: a home with a harvester.json
// whose agents cycle at sub-second pace, queues running real local processes, `harvester run` started as a
// child process we can signal, and read-only looks at the SQLite file and the logs it leaves behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { isProcessAlive } from '../../src/middleware/bot/pid-file.js';
import { cliMain, sharedQueueSections, writeJson, type TempDirs } from '../cli/support.js';

/**
 * Agent settings that make a run take seconds: every agent cycles every 0.2 s, rows and queues locked by a dead
 * process are taken over after 3 s, plugin calls give up after 10 s. The sweeper keeps everything (its defaults).
 */
export const fastAgentSettings = {
  jobfetcher: { sleepTime: 0.2, lockInterval: 3 },
  preparator: { sleepTime: 0.2, lockInterval: 3, checkInterval: 0.2 },
  submitter: { sleepTime: 0.2, lockInterval: 3, checkInterval: 0.2, queueLockInterval: 3, pluginTimeout: 10 },
  monitor: { sleepTime: 0.2, lockInterval: 3, checkInterval: 0.2 },
  stager: { sleepTime: 0.2, lockInterval: 3, checkInterval: 0.2 },
  propagator: { sleepTime: 0.2, lockInterval: 3 },
  sweeper: { sleepTime: 0.2, lockInterval: 3, checkInterval: 0.2 },
} as const;

export interface LocalQueueOptions {
  /** LocalProcessSubmitter's submittedLog: one "<workerID> <pid>" line per payload actually started. */
  readonly submittedLog?: string;
  /** Queue-level keys (nQueueLimitWorker, maxNewWorkersPerCycle, ...) over the defaults below. */
  readonly queue?: Record<string, unknown>;
}

/** A queue like the shipped example's 'local': one job per worker, each worker a local process. */
export function localProcessQueue(opts: LocalQueueOptions = {}): Record<string, unknown> {
  return {
    queueStatus: 'online',
    prodSourceLabel: 'managed',
    nQueueLimitJob: 50,
    nQueueLimitWorker: 20,
    maxWorkers: 40,
    maxNewWorkersPerCycle: 20,
    mapType: 'OneToOne',
    submitter: {
      name: 'LocalProcessSubmitter',
      module: 'harvester_ts.local_process_submitter',
      ...(opts.submittedLog === undefined ? {} : { submittedLog: opts.submittedLog }),
    },
    monitor: { name: 'LocalProcessMonitor', module: 'harvester_ts.local_process_monitor' },
    sweeper: { name: 'LocalProcessSweeper', module: 'harvester_ts.local_process_sweeper' },
    ...sharedQueueSections,
    ...opts.queue,
  };
}

export interface RunHomeOptions {
  /** The queue configuration file the home's harvester.json names (absolute). */
  readonly queueConfigFile: string;
  /** db.database_filename; default <home>/harvester.db. */
  readonly database?: string;
  /** More harvester.json keys (logDir, ...), over the fast agent settings. */
  readonly extra?: Record<string, unknown>;
}

export interface RunHome {
  readonly home: string;
  readonly database: string;
  readonly logFile: string;
  readonly pidFile: string;
}

/** A new home whose harvester.json has the fast agent settings and names the queue configuration (and database). */
export function makeRunHome(dirs: TempDirs, prefix: string, opts: RunHomeOptions): RunHome {
  const home = dirs.make(prefix);
  const database = opts.database ?? join(home, 'harvester.db');
  writeJson(join(home, 'harvester.json'), {
    queueConfigFile: opts.queueConfigFile,
    db: { database_filename: database },
    ...fastAgentSettings,
    ...opts.extra,
  });
  return { home, database, logFile: join(home, 'logs', 'harvester.log'), pidFile: join(home, 'harvester.pid') };
}

/** Stands in for the user's HOME of started processes, as runCli's does. */
const fakeUserHome = mkdtempSync(join(tmpdir(), 'hv-run-user-'));
process.on('exit', () => rmSync(fakeUserHome, { recursive: true, force: true }));

/** A `harvester` process started in the background, for tests that signal it. */
export class HarvesterProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  /** Exit code (null after a signal) and signal, once it has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly args: readonly string[],
    home: string,
  ) {
    this.child = spawn(process.execPath, [cliMain, ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: fakeUserHome, HARVESTER_HOME: home },
      cwd: fakeUserHome,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.stdout += chunk));
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`harvester ${this.args.join(' ')} did not start: ${this.stderr}`);
    return this.child.pid;
  }

  /** Waits for the exit, killing the process (SIGKILL) when it takes longer than timeoutMs: a hang is a failure. */
  async exit(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.child.kill('SIGKILL');
    }, timeoutMs);
    try {
      const result = await this.exited;
      if (timedOut) {
        throw new Error(`harvester ${this.args.join(' ')} did not exit within ${timeoutMs} ms; stdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      }
      return result;
    } finally {
      clearTimeout(timer);
    }
  }

  /** For after() hooks: no process of ours outlives its test. */
  killIfRunning(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/** Polls `check` until it returns a value other than undefined; throws naming `what` after timeoutMs. */
export async function waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 20_000, pauseMs = 10): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${timeoutMs} ms`);
    await sleep(pauseMs);
  }
}

/** kill() only queues SIGSTOP: waits (briefly, synchronously) until the kernel reports the process stopped. */
export function waitUntilStopped(pid: number): void {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'T') return;
    if (Date.now() > deadline) throw new Error(`process ${pid} did not stop after SIGSTOP: ${stat}`);
  }
}

/** Waits until the process is gone (a zombie counts as gone: its parent may be an init that reaps late). */
export function waitForProcessGone(pid: number, timeoutMs = 20_000): Promise<true> {
  return waitFor(`process ${pid} to exit`, () => (isProcessAlive(pid) ? undefined : true), timeoutMs, 50);
}

/** How many lines of `file` start with each first word ("<workerID> <pid>" lines -> workerID -> count). */
export function countByFirstWord(file: string): Map<string, number> {
  const counts = new Map<string, number>();
  if (!existsSync(file)) return counts;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const key = line.trim().split(/\s+/)[0];
    if (key === undefined || key === '') continue;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** Keys counted more than once, for assertion messages. */
export function repeated(counts: ReadonlyMap<string, number>): string[] {
  return [...counts].filter(([, n]) => n > 1).map(([key, n]) => `${key} x${n}`);
}

/** Rows of a read-only query on a database file that a running harvester may be writing (WAL lets us read). */
export function queryDatabase<T>(file: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

export interface LogRecord {
  readonly pid: number;
  readonly msg: string;
  readonly agent?: string;
  readonly err?: { readonly type?: string; readonly message?: string };
  readonly [key: string]: unknown;
}

/** The JSON lines of a harvester log file. */
export function logRecords(file: string): LogRecord[] {
  if (!existsSync(file)) return [];
  const lines = readFileSync(file, 'utf8').split('\n');
  // The last piece is a line still being written (or '' after the final newline): read complete lines only.
  lines.pop();
  return lines.filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as LogRecord);
}

/** Agents that logged 'agent stopped' in process `pid`. */
export function stoppedAgents(logFile: string, pid: number): string[] {
  return logRecords(logFile)
    .filter((r) => r.pid === pid && r.msg === 'agent stopped' && typeof r.agent === 'string')
    .map((r) => r.agent!)
    .sort();
}

/** A job command that appends its PandaID to `outputs` (one line per payload run). */
export function recordingCommand(outputs: string): string {
  return `echo "$HARVESTER_PANDA_ID" >> '${outputs}'`;
}

/** Job states as `jobs list --json` prints them. */
export interface ListedJob {
  readonly PandaID: number;
  readonly computingSite: string;
  readonly status: string;
  readonly subStatus: string;
  readonly command: string | null;
}

/** Worker states as `workers list --json` prints them. */
export interface ListedWorker {
  readonly workerID: number;
  readonly queueName: string | null;
  readonly status: string;
  readonly batchID: string | null;
  readonly diagMessage: string | null;
}

/** Count of each value of `key` in `rows`, as a plain object for deepEqual. */
export function tally<T>(rows: readonly T[], key: (row: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const row of rows) out[key(row)] = (out[key(row)] ?? 0) + 1;
  return out;
}
