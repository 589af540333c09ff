// Runs the built `harvester` command (dist/src/cli/main.js) as a child process, the way an operator does, in
// throw-away directories: every run gets an explicit environment, so neither the caller's HARVESTER_HOME nor
// ~/.harvester is ever read or written.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: this module is dist/test/cli/support.js. */
export const packageRoot: string = fileURLToPath(new URL('../../../', import.meta.url));
export const cliMain: string = join(packageRoot, 'dist', 'src', 'cli', 'main.js');
export const shippedExample: string = join(packageRoot, 'examples', 'panda_queueconfig.json');

/** Fixtures stay in the source tree (tsc does not copy JSON). */
export function fixturePath(name: string): string {
  return join(packageRoot, 'test', 'cli', 'fixtures', name);
}

export interface CliResult {
  readonly args: readonly string[];
  /** Exit code; null when the process died of a signal. */
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The CLI did not finish in time: a hang is a failure of its own, not something to wait out. */
export class CliTimeoutError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly timeoutMs: number,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`harvester ${args.join(' ')} did not exit within ${timeoutMs} ms; stdout so far:\n${stdout}\nstderr so far:\n${stderr}`);
    this.name = 'CliTimeoutError';
  }
}

export interface RunOptions {
  /** HARVESTER_HOME for the run; unset when absent. */
  readonly home?: string;
  /** Extra environment variables (secrets for {"env": ...}, for instance). */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  readonly timeoutMs?: number;
}

/** A directory standing in for the user's HOME, so a missing --home/HARVESTER_HOME never reaches ~/.harvester. */
const fakeUserHome = mkdtempSync(join(tmpdir(), 'hv-cli-user-'));
process.on('exit', () => rmSync(fakeUserHome, { recursive: true, force: true }));

export function runCli(args: readonly string[], opts: RunOptions = {}): Promise<CliResult> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: fakeUserHome, ...opts.env };
  if (opts.home !== undefined) env.HARVESTER_HOME = opts.home;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [cliMain, ...args], { env, cwd: opts.cwd ?? fakeUserHome, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new CliTimeoutError(args, timeoutMs, stdout, stderr));
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      resolvePromise({ args, status, stdout, stderr });
    });
  });
}

/** Temporary directories of one test file, removed together at the end. */
export class TempDirs {
  private readonly made: string[] = [];

  /** A new empty directory (real path, so it compares equal to what the CLI prints). */
  make(prefix: string): string {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), `hv-cli-${prefix}-`)));
    this.made.push(dir);
    return dir;
  }

  cleanup(): void {
    for (const dir of this.made.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

export function writeJson(file: string, value: unknown): string {
  writeFileSync(file, JSON.stringify(value, null, 2) + '\n');
  return file;
}

/** Every regular file under `dir`, recursively. */
export function filesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    const stat = statSync(path);
    if (stat.isDirectory()) found.push(...filesUnder(path));
    else if (stat.isFile()) found.push(path);
  }
  return found;
}

export function readText(file: string): string {
  return readFileSync(file, 'utf8');
}

/** Non-empty lines of a command's output. */
export function outputLines(text: string): string[] {
  return text.split('\n').filter((line) => line.trim() !== '');
}

/**
 * The rows of the first table in `text` whose header holds `firstColumn` (the CLI's formatTable: a header, a
 * line of dashes, then rows). Columns are cut where the dashes are, so empty cells come out as ''.
 */
export function parseTable(text: string, firstColumn: string): Record<string, string>[] {
  const lines = text.split('\n');
  const start = lines.findIndex((line, i) => line.startsWith(firstColumn) && /^-+( +-+)*$/.test(lines[i + 1] ?? ''));
  if (start < 0) throw new Error(`no table starting with column '${firstColumn}' in:\n${text}`);
  const header = lines[start]!;
  const spans: { name: string; from: number; to: number }[] = [];
  for (const match of lines[start + 1]!.matchAll(/-+/g)) {
    const from = match.index;
    const to = from + match[0].length;
    spans.push({ name: header.slice(from, to).trim(), from, to });
  }
  const rows: Record<string, string>[] = [];
  for (const line of lines.slice(start + 2)) {
    if (line.trim() === '') break;
    const row: Record<string, string> = {};
    spans.forEach((span, i) => {
      // The last column runs to the end of the line (cells are padded to the widest, the last is not).
      row[span.name] = line.slice(span.from, i === spans.length - 1 ? undefined : span.to).trim();
    });
    rows.push(row);
  }
  return rows;
}

/** A local queue with the dummy plugins, as harvester's tests configure one. */
/** The sections every test queue has alike, whatever runs its workers. */
export const sharedQueueSections = {
  preparator: { name: 'DummyPreparator', module: 'pandaharvester.harvesterpreparator.dummy_preparator' },
  stager: { name: 'DummyStager', module: 'pandaharvester.harvesterstager.dummy_stager' },
  messenger: {
    name: 'SharedFileMessenger',
    module: 'pandaharvester.harvestermessenger.shared_file_messenger',
    accessPoint: 'workdir/${workerID}',
  },
  workerMaker: { name: 'SimpleWorkerMaker', module: 'pandaharvester.harvesterworkermaker.simple_worker_maker' },
};

export function dummyLocalQueue(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    queueStatus: 'online',
    prodSourceLabel: 'managed',
    maxWorkers: 4,
    mapType: 'NoJob',
    submitter: { name: 'DummySubmitter', module: 'pandaharvester.harvestersubmitter.dummy_submitter' },
    monitor: { name: 'DummyMonitor', module: 'pandaharvester.harvestermonitor.dummy_monitor' },
    sweeper: { name: 'DummySweeper', module: 'pandaharvester.harvestersweeper.dummy_sweeper' },
    ...sharedQueueSections,
    ...overrides,
  };
}
