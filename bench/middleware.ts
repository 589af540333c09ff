// `npm run bench:middleware`: how much the RPC middleware costs next to calling plugins bare. Prints a
// fixed-width table (medians, p90, PASS/MISS against the targets, harvester's rpyc numbers) and
// writes bench-results/middleware.json.
//
// As root it needs the testbed: it brings it up if it is down (and takes it down again at the end), then
// runs itself again inside hv-core, which in turn runs a child inside hv-hpc for the loopback-SSH cases.
// Without root only the local cases run (bare, and the herder to an in-process bot over loopback TCP).
import { fileURLToPath } from 'node:url';
import { BenchArgumentError, exitOnArgumentError, parseBenchArgs } from './arguments.js';
import { createLogger } from '../src/logging/index.js';
import { defaultPlan, type BenchPlan } from './cases.js';
import { Cleanups, cleanUpOnSignals } from './cleanups.js';
import { ensureTestbed, inCoreNamespace, isRoot, rerunIn, runTestbedScript, testbedScript } from './environment.js';
import { evaluateTargets, renderTable, writeReport } from './report.js';
import { runCore } from './run-core.js';
import { runHpcLoopback } from './run-hpc.js';

const defaultOutput = fileURLToPath(new URL('../../bench-results/middleware.json', import.meta.url));

/** Fewer and shorter runs, to check that everything works; the numbers are not worth keeping. */
const quickPlan: BenchPlan = {
  workload: { warmups: 1, runs: 3 },
  latency: { warmups: 5, runs: 30 },
  throughput: { concurrency: 64, seconds: 1, runs: 1, warmupSeconds: 0.5 },
};

const progress = (line: string): void => {
  process.stderr.write(`bench: ${line}\n`);
};

interface Args {
  readonly role: 'top' | 'core' | 'hpc-loopback';
  readonly quick: boolean;
  readonly output: string;
  readonly echoPort: number;
  readonly botPort: number;
  readonly botHome: string;
  /** Set by the top process when it brought the testbed up for this run. */
  readonly testbedBroughtUp: boolean;
}

const program = 'bench';
const usage = 'node dist/bench/middleware.js [--quick] [--output FILE] (--role core|hpc-loopback and the ports: set by the top process)';

function parse(argv: string[]): Args {
  const { values } = parseBenchArgs(program, usage, {
    args: argv,
    options: {
      role: { type: 'string', default: 'top' },
      quick: { type: 'boolean', default: false },
      output: { type: 'string', default: defaultOutput },
      'echo-port': { type: 'string', default: '0' },
      'bot-port': { type: 'string', default: '0' },
      'bot-home': { type: 'string', default: '' },
      'testbed-brought-up': { type: 'boolean', default: false },
    },
  });
  const role = values.role;
  if (role !== 'top' && role !== 'core' && role !== 'hpc-loopback') throw new BenchArgumentError(`unknown --role ${role}`);
  return {
    role,
    quick: values.quick,
    output: values.output,
    echoPort: Number(values['echo-port']),
    botPort: Number(values['bot-port']),
    botHome: values['bot-home'],
    testbedBroughtUp: values['testbed-brought-up'],
  };
}

/** The options a re-run in a namespace inherits. */
function passOn(args: Args): string[] {
  return [...(args.quick ? ['--quick'] : []), '--output', args.output];
}

async function measureAndReport(args: Args, ssh: boolean, notes: string[]): Promise<void> {
  const started = performance.now();
  const plan = args.quick ? quickPlan : defaultPlan;
  const cleanups = new Cleanups();
  cleanUpOnSignals(cleanups, progress);
  const log = createLogger({ level: 'warn', name: 'bench' });
  let run;
  try {
    run = await runCore({ ssh, quick: args.quick, plan, log, cleanups, progress });
  } finally {
    await cleanups.runAll();
  }
  const targets = evaluateTargets(run.cases, run.bot);
  notes.push(...run.notes);
  if (args.testbedBroughtUp) notes.push('the testbed was down: this run brought it up and takes it down again');
  if (args.quick) notes.push('--quick: fewer and shorter runs; do not compare these numbers');
  process.stdout.write(renderTable(run.cases, targets, run.bot, notes));
  const wallSeconds = (performance.now() - started) / 1000;
  await writeReport(args.output, { plan, cases: run.cases, targets, bot: run.bot, notes, wallSeconds });
  progress(`wrote ${args.output} (${wallSeconds.toFixed(0)} s)`);
}

async function hpcChild(args: Args): Promise<void> {
  const cleanups = new Cleanups();
  cleanUpOnSignals(cleanups, progress);
  const log = createLogger({ level: 'warn', name: 'bench-hpc' });
  try {
    const output = await runHpcLoopback({ botPort: args.botPort, botHome: args.botHome, echoPort: args.echoPort, plan: args.quick ? quickPlan : defaultPlan, log, cleanups, progress });
    process.stdout.write(JSON.stringify(output));
  } finally {
    await cleanups.runAll();
  }
}

async function top(args: Args): Promise<number> {
  if (!isRoot()) {
    const note = 'not root: only the local cases ran (bare, loopback TCP); run as root for the SSH cases (testbed)';
    progress(note);
    await measureAndReport(args, false, [note]);
    return 0;
  }
  const broughtUp = await ensureTestbed(progress);
  try {
    if (inCoreNamespace()) {
      await measureAndReport({ ...args, testbedBroughtUp: broughtUp }, true, []);
      return 0;
    }
    const { child, exit } = rerunIn('hv-core', ['--role', 'core', ...passOn(args), ...(broughtUp ? ['--testbed-brought-up'] : [])]);
    // The child cleans up on a signal; we wait for it, then take the testbed down if we brought it up.
    const forward = (signal: NodeJS.Signals): void => {
      child.kill(signal);
    };
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    return await exit;
  } finally {
    if (broughtUp) {
      progress('taking the testbed down again (scripts/testbed down)');
      await runTestbedScript(testbedScript, ['down']);
    }
  }
}

async function main(): Promise<number> {
  const args = parse(process.argv.slice(2));
  if (args.role === 'hpc-loopback') {
    await hpcChild(args);
    return 0;
  }
  if (args.role === 'core') {
    await measureAndReport(args, true, []);
    return 0;
  }
  return top(args);
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    exitOnArgumentError(program, usage, error);
    process.stderr.write(`bench: failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    if (error instanceof AggregateError) for (const inner of error.errors) process.stderr.write(`  ${inner instanceof Error ? inner.message : String(inner)}\n`);
    process.exit(1);
  },
);
