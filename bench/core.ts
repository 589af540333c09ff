// `npm run bench:core`: what the core costs with nothing slow behind it. The real Submitter, Monitor and Sweeper
// drive workers of a NoJob queue with the dummy plugins over a real SqliteStore on a temporary file, with a
// clock the benchmark moves. Prints a fixed-width table (medians, p90, where the time goes, PASS/MISS against
// the targets) and writes bench-results/core.json. `--quick`: the same cases, small (CI smoke). `--engine`
// postgresql|mariadb: the same on the test database servers (scripts/db-servers), written to core-<engine>.json;
// `--cases`: a comma-separated subset of lifecycle, cycles, claims.
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { BenchArgumentError, exitOnArgumentError, parseBenchArgs } from './arguments.js';
import { createLogger } from '../src/logging/index.js';
import { claimCase, cycleCases, defaultCorePlan, lifecycleCases, metricsCostCases, quickCorePlan, wrapperCostUs, type MetricsMode } from './core-cases.js';
import { evaluateCoreTargets, metricsCostLines, monitorTargetWorkers, renderCoreTable, writeCoreReport, type MemoryMark } from './core-report.js';
import { peakRssMB, type CoreCaseResult } from './core-results.js';
import { parseQueueConfig } from '../src/config/index.js';
import { benchQueueConfigText, benchQueueName } from './core-environment.js';

/** The benchmark's queue (for the wrapper's own cost: its labels). */
function wrapperQueue() {
  const queue = parseQueueConfig(benchQueueConfigText(1), 'bench-queue.json').queues.get(benchQueueName);
  if (queue === undefined) throw new Error('the benchmark queue did not build');
  return queue;
}
import { benchEngines, setBenchEngine, type BenchEngine } from './core-store.js';

const defaultOutput = fileURLToPath(new URL('../../bench-results/core.json', import.meta.url));

const progress = (line: string): void => {
  process.stderr.write(`bench: ${line}\n`);
};

const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

const program = 'bench-core';
const usage = 'node dist/bench/core.js [--quick] [--output FILE] [--engine sqlite|postgresql|mariadb] [--cases lifecycle,cycles,claims] [--metrics off|on|both] [--metrics-cost-only]';

async function main(): Promise<number> {
  const { values } = parseBenchArgs(program, usage, {
    args: process.argv.slice(2),
    options: {
      quick: { type: 'boolean', default: false },
      output: { type: 'string' },
      engine: { type: 'string', default: 'sqlite' },
      cases: { type: 'string', default: 'lifecycle,cycles,claims' },
      // both: every lifecycle and cycle case with metrics off and on, run by run (order alternating).
      metrics: { type: 'string', default: 'both' },
      // Only the paired off/on monitor cycles (the cost of metrics), not the rest of the benchmark.
      'metrics-cost-only': { type: 'boolean', default: false },
    },
  });
  const engine = values.engine as BenchEngine;
  if (!(benchEngines as readonly string[]).includes(engine)) throw new BenchArgumentError(`--engine must be one of ${benchEngines.join(', ')}`);
  setBenchEngine(engine);
  const chosen = new Set(values.cases.split(','));
  const output = values.output ?? (engine === 'sqlite' ? defaultOutput : defaultOutput.replace(/core\.json$/, `core-${engine}.json`));
  const modesByOption: Record<string, readonly MetricsMode[]> = { off: ['off'], on: ['on'], both: ['off', 'on'] };
  const modes = modesByOption[values.metrics];
  if (modes === undefined) throw new BenchArgumentError(`--metrics takes off, on or both, not '${values.metrics}'`);
  const scrapes: number[] = [];
  const costNotes: string[] = [];
  const plan = values.quick ? quickCorePlan : defaultCorePlan;
  const started = performance.now();
  const loadAtStart = load();
  // warn: the agents' info lines would cost what the table measures (and fill the terminal).
  const log = createLogger({ level: 'warn', name: 'bench-core' });
  const cases: CoreCaseResult[] = [];
  const memory: MemoryMark[] = [{ after: 'start', peakRssMB: peakRssMB() }];

  if (!values['metrics-cost-only']) {
    if (chosen.has('lifecycle')) {
      cases.push(...(await lifecycleCases(plan.lifecycle, log, progress, modes, scrapes)));
      memory.push({ after: `the lifecycle of ${plan.lifecycle.workers}`, peakRssMB: peakRssMB() });
    }
    if (chosen.has('cycles')) {
      cases.push(...(await cycleCases(plan.cycles, log, progress, modes, scrapes)));
      memory.push({ after: `the cycles over ${plan.cycles.large}`, peakRssMB: peakRssMB() });
    }
    if (chosen.has('claims')) {
      cases.push(await claimCase(plan.claims, log, progress));
      memory.push({ after: 'the claims', peakRssMB: peakRssMB() });
    }
  }
  if (modes.length > 1 || values['metrics-cost-only']) {
    cases.push(...(await metricsCostCases(values.quick ? { sizes: [1_000], warmups: 1, runs: 5 } : { sizes: [1_000, 10_000], warmups: 2, runs: 15 }, log, progress)));
    memory.push({ after: 'the paired metrics cycles', peakRssMB: peakRssMB() });
    const perCall = await wrapperCostUs(wrapperQueue(), 100_000);
    const on10k = cases.find((c) => c.id === 'metricsCost/monitor-no-change/N=10000@metrics');
    costNotes.push(
      `the timed-plugin wrapper costs ${perCall} us per plugin call (100,000 calls of a no-op method, bare and wrapped, alternating; median of 7)` +
        (on10k === undefined ? '' : `; the monitor makes ~${Math.ceil(10_000 / 32)} plugin calls and a few claims per 10,000-worker cycle: ~${((Math.ceil(10_000 / 32) * perCall) / 1000).toFixed(2)} ms of its ${on10k.median.toFixed(0)} ms`),
    );
  }

  const targets = evaluateCoreTargets(cases, plan);
  const notes = [
    `load average (1/5/15 min) ${loadAtStart} at the start, ${load()} at the end: the machine may be shared; numbers are medians of runs`,
    'stages time only the agents\' cycles; the dummy batch system moving workers along (status files) is not counted',
    `store engine: ${engine}`,
    'where the time goes: store = store calls; plugins = the dummy plugins (status files in each access point); agent = the rest (for the submitter: creating the access point directories)',
  ];
  if (modes.includes('on')) {
    const sorted = [...scrapes].sort((a, b) => a - b);
    const mid = sorted.length === 0 ? undefined : sorted[Math.floor(sorted.length / 2)];
    notes.push(
      `metrics on: the agents report to a HarvesterMetrics registry through the same wrappers as harvester run (cycle observer, timed claims and plugin calls)` +
        (sorted.length === 0 ? '' : `; ${sorted.length} scrapes after the stages, untimed, median ${mid?.toFixed(1) ?? '-'} ms, max ${sorted.at(-1)?.toFixed(1) ?? '-'} ms`),
      "claimWorkers measures the store alone (no wrapper): run with metrics off only",
    );
  }
  notes.push(...costNotes);
  if (values.quick) notes.push(`--quick: fewer and smaller runs (no ${monitorTargetWorkers}-worker monitor target); do not compare these numbers`);
  process.stdout.write(renderCoreTable(cases, targets, memory, notes));
  if (modes.length > 1) process.stdout.write(metricsCostLines(cases));
  const wallSeconds = (performance.now() - started) / 1000;
  await writeCoreReport(output, { plan, cases, targets, memory, notes, wallSeconds, metrics: values.metrics });
  progress(`wrote ${output} (${wallSeconds.toFixed(0)} s)`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    exitOnArgumentError(program, usage, error);
    process.stderr.write(`bench: failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
