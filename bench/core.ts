// `npm run bench:core`: what the core costs with nothing slow behind it. The real Submitter, Monitor and Sweeper
// drive workers of a NoJob queue with the dummy plugins over a real SqliteStore on a temporary file, with a
// clock the benchmark moves. Prints a fixed-width table (medians, p90, where the time goes, PASS/MISS against
// the targets) and writes bench-results/core.json. `--quick`: the same cases, small (CI smoke). `--engine`
// postgresql|mariadb: the same on the test database servers (scripts/db-servers), written to core-<engine>.json;
// `--cases`: a comma-separated subset of lifecycle, cycles, claims.
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createLogger } from '../src/logging/index.js';
import { claimCase, cycleCases, defaultCorePlan, lifecycleCases, quickCorePlan } from './core-cases.js';
import { evaluateCoreTargets, monitorTargetWorkers, renderCoreTable, writeCoreReport, type MemoryMark } from './core-report.js';
import { peakRssMB, type CoreCaseResult } from './core-results.js';
import { benchEngines, setBenchEngine, type BenchEngine } from './core-store.js';

const defaultOutput = fileURLToPath(new URL('../../bench-results/core.json', import.meta.url));

const progress = (line: string): void => {
  process.stderr.write(`bench: ${line}\n`);
};

const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      quick: { type: 'boolean', default: false },
      output: { type: 'string' },
      engine: { type: 'string', default: 'sqlite' },
      cases: { type: 'string', default: 'lifecycle,cycles,claims' },
    },
  });
  const engine = values.engine as BenchEngine;
  if (!(benchEngines as readonly string[]).includes(engine)) throw new Error(`--engine must be one of ${benchEngines.join(', ')}`);
  setBenchEngine(engine);
  const chosen = new Set(values.cases.split(','));
  const output = values.output ?? (engine === 'sqlite' ? defaultOutput : defaultOutput.replace(/core\.json$/, `core-${engine}.json`));
  const plan = values.quick ? quickCorePlan : defaultCorePlan;
  const started = performance.now();
  const loadAtStart = load();
  // warn: the agents' info lines would cost what the table measures (and fill the terminal).
  const log = createLogger({ level: 'warn', name: 'bench-core' });
  const cases: CoreCaseResult[] = [];
  const memory: MemoryMark[] = [{ after: 'start', peakRssMB: peakRssMB() }];

  if (chosen.has('lifecycle')) {
    cases.push(...(await lifecycleCases(plan.lifecycle, log, progress)));
    memory.push({ after: `the lifecycle of ${plan.lifecycle.workers}`, peakRssMB: peakRssMB() });
  }
  if (chosen.has('cycles')) {
    cases.push(...(await cycleCases(plan.cycles, log, progress)));
    memory.push({ after: `the cycles over ${plan.cycles.large}`, peakRssMB: peakRssMB() });
  }
  if (chosen.has('claims')) {
    cases.push(await claimCase(plan.claims, log, progress));
    memory.push({ after: 'the claims', peakRssMB: peakRssMB() });
  }

  const targets = evaluateCoreTargets(cases, plan);
  const notes = [
    `load average (1/5/15 min) ${loadAtStart} at the start, ${load()} at the end: the machine may be shared; numbers are medians of runs`,
    'stages time only the agents\' cycles; the dummy batch system moving workers along (status files) is not counted',
    `store engine: ${engine}`,
    'where the time goes: store = store calls; plugins = the dummy plugins (status files in each access point); agent = the rest (for the submitter: creating the access point directories)',
  ];
  if (values.quick) notes.push(`--quick: fewer and smaller runs (no ${monitorTargetWorkers}-worker monitor target); do not compare these numbers`);
  process.stdout.write(renderCoreTable(cases, targets, memory, notes));
  const wallSeconds = (performance.now() - started) / 1000;
  await writeCoreReport(output, { plan, cases, targets, memory, notes, wallSeconds });
  progress(`wrote ${output} (${wallSeconds.toFixed(0)} s)`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
