// `node dist/bench/core-trace.js --engine postgresql|mariadb [--workers N] [--runs R]`: where a server store
// spends the core benchmark's cycles. Runs the lifecycle of N workers with one cycle per stage (as the
// benchmark's "cycles" case) and prints, per stage, its time, the transactions, statements and round trips it
// sent, and each statement shape with its count and time. Statement times are the client's wait for the
// driver's answer; pipelined statements overlap, so their sum can exceed the stage's time.
import { parseArgs } from 'node:util';
import { createLogger } from '../src/logging/index.js';
import { checkAllSwept, stageNames, runLifecycle, type StageName } from './core-lifecycle.js';
import { setBenchEngine, traceBenchStatements } from './core-store.js';
import { StatementTrace, type TraceTotals } from './statement-trace.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { engine: { type: 'string', default: 'postgresql' }, workers: { type: 'string', default: '10000' }, runs: { type: 'string', default: '1' } },
  });
  if (values.engine !== 'postgresql' && values.engine !== 'mariadb') throw new Error('--engine must be postgresql or mariadb');
  const n = Number(values.workers);
  const runs = Number(values.runs);
  if (!Number.isSafeInteger(n) || n < 1 || !Number.isSafeInteger(runs) || runs < 1) throw new Error('--workers and --runs take positive integers');
  setBenchEngine(values.engine);
  const trace = new StatementTrace();
  traceBenchStatements(trace);
  const log = createLogger({ level: 'warn', name: 'bench-core-trace' });
  for (let run = 1; run <= runs; run++) {
    const byStage = new Map<StageName, TraceTotals>();
    const result = await runLifecycle({
      workers: n,
      batches: { submitter: n, monitor: n, sweeper: n },
      log,
      onStage: (stage, moment) => {
        const taken = trace.take();
        if (moment === 'end') byStage.set(stage, taken);
      },
    });
    checkAllSwept(result);
    const lines = [`${values.engine}, ${n} workers, run ${run} of ${runs}`];
    for (const stage of stageNames) {
      const t = byStage.get(stage);
      const timed = result.stages.find((s) => s.stage === stage);
      if (t === undefined || timed === undefined) continue;
      lines.push(
        '',
        `${stage}: ${timed.ms.toFixed(0)} ms (store ${timed.storeMs.toFixed(0)} ms), ${timed.cycles} cycle(s): ${t.transactions} transactions, ${t.statements} statements, ${t.roundTrips} round trips`,
      );
      for (const s of t.byStatement) {
        lines.push(`  ${String(s.count).padStart(6)} x ${s.ms.toFixed(1).padStart(8)} ms (${(s.ms / s.count).toFixed(2)} ms each), ${s.parameters} params, ${s.rows} rows: ${s.key}`);
      }
    }
    process.stdout.write(`${lines.join('\n')}\n\n`);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`core-trace: failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
