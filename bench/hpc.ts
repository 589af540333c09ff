// `npm run bench:hpc`: the SLURM plugins on the testbed's real SLURM, run in the bot through the jump host and
// run bare in hv-hpc (as the testbed user). 1000 workers with a short payload are submitted, monitored to the
// end and swept, and 200 workers with a long payload are submitted and checked while live (harvester's own
// measurement). Prints a table (submit throughput, monitor cycle, whole run, the bot/bare ratios, harvester's
// numbers) and writes bench-results/hpc.json. Needs root and the testbed; brings it up if it is down (and down
// again at the end). Every run is checked: all workers submitted, final, swept; sacct holds one job per worker.
import { fileURLToPath } from 'node:url';
import type { parseArgs } from 'node:util';
import { BenchArgumentError, exitOnArgumentError, parseBenchArgs } from './arguments.js';
import { createLogger } from '../src/logging/index.js';
import { Cleanups, cleanUpOnSignals } from './cleanups.js';
import { BenchEnvironmentError, ensureTestbed, isRoot, loadTestbed, runTestbedScript, testbedScript } from './environment.js';
import { renderHpcTable, writeHpcReport } from './hpc-report.js';
import { evaluateHpcTargets, summarizeRuns, type HpcPlan } from './hpc-summary.js';
import type { HpcMode, HpcScenario } from './hpc-results.js';
import { measureRun, serveShadow } from './hpc-run.js';
import { runTop } from './hpc-top.js';

const defaultOutput = fileURLToPath(new URL('../../bench-results/hpc.json', import.meta.url));

const fullPlan: HpcPlan = {
  lifecycle: { workers: 1000, runs: 3, command: 'sleep 1', intervalMs: 1000 },
  reference: { workers: 200, runs: 3, checks: 5, command: 'sleep 600' },
  paired: { workers: 1000, runs: 1, checks: 15, command: 'sleep 600' },
};

/** A small version, to check that everything works; the numbers are not worth keeping. */
const quickPlan: HpcPlan = {
  lifecycle: { ...fullPlan.lifecycle, workers: 100, runs: 1 },
  reference: { ...fullPlan.reference, runs: 1, checks: 3 },
  paired: { ...fullPlan.paired, workers: 200, checks: 5 },
};

const progress = (line: string): void => {
  process.stderr.write(`bench-hpc: ${line}\n`);
};

const program = 'bench-hpc';
const usage = 'node dist/bench/hpc.js [--quick] [--output FILE] [--runs N] [--workers N] (--role run|shadow: set by the top process)';

const options = {
  role: { type: 'string', default: 'top' },
  quick: { type: 'boolean', default: false },
  output: { type: 'string', default: defaultOutput },
  // The top's overrides of the plan.
  runs: { type: 'string' },
  workers: { type: 'string' },
  // What the top tells a run child.
  mode: { type: 'string' },
  scenario: { type: 'string' },
  'harvester-id': { type: 'string' },
  root: { type: 'string' },
  partition: { type: 'string' },
  command: { type: 'string' },
  'interval-ms': { type: 'string' },
  checks: { type: 'string' },
  'bot-name': { type: 'string' },
  'bot-port': { type: 'string' },
  shadow: { type: 'string' },
  // What the top tells a shadow child.
  socket: { type: 'string' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof options }>>['values'];

function required(values: Values, name: keyof Values): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new BenchArgumentError(`--${name} is required with --role ${values.role}`);
  return value;
}

function wholeNumber(text: string, name: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new BenchArgumentError(`--${name} must be a positive whole number, got '${text}'`);
  return n;
}

async function runRole(values: Values): Promise<void> {
  const mode = required(values, 'mode');
  const scenario = required(values, 'scenario');
  if (mode !== 'bare' && mode !== 'bot') throw new BenchArgumentError(`unknown --mode ${mode}`);
  if (scenario !== 'lifecycle' && scenario !== 'reference' && scenario !== 'paired') throw new BenchArgumentError(`unknown --scenario ${scenario}`);
  const cleanups = new Cleanups();
  cleanUpOnSignals(cleanups, progress);
  const log = createLogger({ level: 'warn', name: `bench-hpc-${mode}` });
  try {
    const run = await measureRun(
      {
        mode: mode satisfies HpcMode,
        scenario: scenario satisfies HpcScenario,
        workers: wholeNumber(required(values, 'workers'), 'workers'),
        harvesterID: required(values, 'harvester-id'),
        root: required(values, 'root'),
        partition: required(values, 'partition'),
        command: required(values, 'command'),
        lifecycle: { intervalMs: wholeNumber(required(values, 'interval-ms'), 'interval-ms'), hangGuardMs: 15 * 60_000, sweepConcurrency: 32 },
        checks: wholeNumber(required(values, 'checks'), 'checks'),
        botName: required(values, 'bot-name'),
        botPort: wholeNumber(required(values, 'bot-port'), 'bot-port'),
        ...(values.shadow === undefined ? {} : { shadowSocket: values.shadow }),
      },
      log,
      cleanups,
      progress,
    );
    process.stdout.write(JSON.stringify(run));
  } finally {
    await cleanups.runAll();
  }
}

async function shadowRole(values: Values): Promise<void> {
  const log = createLogger({ level: 'warn', name: 'bench-hpc-shadow' });
  await serveShadow({ harvesterID: required(values, 'harvester-id'), partition: required(values, 'partition'), command: required(values, 'command'), socket: required(values, 'socket') }, log);
}

function planOf(values: Values): HpcPlan {
  const base = values.quick ? quickPlan : fullPlan;
  return {
    ...base,
    lifecycle: {
      ...base.lifecycle,
      ...(values.runs === undefined ? {} : { runs: wholeNumber(values.runs, 'runs') }),
      ...(values.workers === undefined ? {} : { workers: wholeNumber(values.workers, 'workers') }),
    },
  };
}

async function top(values: Values): Promise<void> {
  if (!isRoot()) throw new BenchEnvironmentError('the HPC benchmark needs root: it uses the testbed (network namespaces, sshd, SLURM); run it as root', 'check root');
  const started = performance.now();
  const plan = planOf(values);
  const broughtUp = await ensureTestbed(progress);
  const cleanups = new Cleanups();
  cleanUpOnSignals(cleanups, progress);
  if (broughtUp) {
    cleanups.add('take the testbed down again (scripts/testbed down)', () => runTestbedScript(testbedScript, ['down']));
  }
  try {
    const testbed = loadTestbed();
    if (testbed === undefined) throw new BenchEnvironmentError('the testbed has no env.json', 'load testbed');
    if (testbed.slurmctldPid() === undefined) {
      throw new BenchEnvironmentError(`SLURM is not running on hpc (no live slurmctld per ${testbed.slurm.slurmctldPidFile}); run scripts/testbed up and read ${testbed.slurm.logDir}`, 'check SLURM');
    }
    const runs = await runTop({ testbed, plan, cleanups, progress });
    const summary = summarizeRuns(runs);
    const targets = evaluateHpcTargets(summary);
    const notes = runs.flatMap((r) => r.notes.map((n) => `${r.scenario} ${r.mode} (${r.harvesterID}): ${n}`));
    if (broughtUp) notes.push('the testbed was down: this run brought it up and takes it down again');
    if (values.quick) notes.push('--quick: fewer and smaller runs; do not compare these numbers');
    process.stdout.write(renderHpcTable(plan, summary, targets, notes));
    const wallSeconds = (performance.now() - started) / 1000;
    await writeHpcReport(values.output, { plan, runs, summary, targets, notes, wallSeconds });
    progress(`wrote ${values.output} (${wallSeconds.toFixed(0)} s)`);
  } finally {
    await cleanups.runAll();
  }
}

async function main(): Promise<void> {
  const { values } = parseBenchArgs(program, usage, { args: process.argv.slice(2), options });
  if (values.role === 'run') return runRole(values);
  if (values.role === 'shadow') return shadowRole(values);
  if (values.role !== 'top') throw new BenchArgumentError(`unknown --role ${values.role}`);
  return top(values);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    exitOnArgumentError(program, usage, error);
    process.stderr.write(`bench-hpc: failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    if (error instanceof AggregateError) for (const inner of error.errors) process.stderr.write(`  ${inner instanceof Error ? inner.message : String(inner)}\n`);
    process.exit(1);
  },
);
