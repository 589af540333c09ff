// `node dist/bench/core-trace.js --engine postgresql|mariadb [--workers N] [--runs R]`: where a server store
// spends the core benchmark's cycles. Runs the lifecycle of N workers with one cycle per stage (as the
// benchmark's "cycles" case) and prints, per stage, its time, the transactions, statements and round trips it
// sent, and each statement shape with its count and time. Statement times are the client's wait for the
// driver's answer; pipelined statements overlap, so their sum can exceed the stage's time. `--server-pid-file`
// (Linux): also the CPU time the server (that process and its children) and this process spent in each stage,
// what the stage would take on a quiet machine where the wall time is not mostly waiting for a core.
import { BenchArgumentError, exitOnArgumentError, parseBenchArgs } from './arguments.js';
import { createLogger } from '../src/logging/index.js';
import { checkAllSwept, stageNames, runLifecycle, type StageName } from './core-lifecycle.js';
import { setBenchEngine, traceBenchStatements } from './core-store.js';
import { clientCpuMs, serverCpuMs } from './server-cpu.js';
import { StatementTrace, type TraceTotals } from './statement-trace.js';

const program = 'core-trace';
const usage = 'node dist/bench/core-trace.js [--engine postgresql|mariadb] [--workers N] [--runs N] [--server-pid-file FILE]';

async function main(): Promise<void> {
  const { values } = parseBenchArgs(program, usage, {
    args: process.argv.slice(2),
    options: {
      engine: { type: 'string', default: 'postgresql' },
      workers: { type: 'string', default: '10000' },
      runs: { type: 'string', default: '1' },
      'server-pid-file': { type: 'string' },
    },
  });
  if (values.engine !== 'postgresql' && values.engine !== 'mariadb') throw new BenchArgumentError('--engine must be postgresql or mariadb');
  const n = Number(values.workers);
  const runs = Number(values.runs);
  if (!Number.isSafeInteger(n) || n < 1 || !Number.isSafeInteger(runs) || runs < 1) throw new BenchArgumentError('--workers and --runs take positive integers');
  setBenchEngine(values.engine);
  const trace = new StatementTrace();
  traceBenchStatements(trace);
  const log = createLogger({ level: 'warn', name: 'bench-core-trace' });
  for (let run = 1; run <= runs; run++) {
    const byStage = new Map<StageName, TraceTotals>();
    const pidFile = values['server-pid-file'];
    const cpu = (): { client: number; server: number } => ({ client: clientCpuMs(), server: pidFile === undefined ? Number.NaN : serverCpuMs(pidFile) });
    const cpuByStage = new Map<StageName, { client: number; server: number }>();
    let cpuAtStart = cpu();
    const result = await runLifecycle({
      workers: n,
      batches: { submitter: n, monitor: n, sweeper: n },
      log,
      onStage: (stage, moment) => {
        const taken = trace.take();
        const now = cpu();
        if (moment === 'end') {
          byStage.set(stage, taken);
          cpuByStage.set(stage, { client: now.client - cpuAtStart.client, server: now.server - cpuAtStart.server });
        }
        cpuAtStart = now;
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
      const used = cpuByStage.get(stage);
      if (used !== undefined && pidFile !== undefined) lines.push(`  CPU: this process ${used.client.toFixed(0)} ms, the server ${used.server.toFixed(0)} ms`);
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
    exitOnArgumentError(program, usage, error);
    process.stderr.write(`core-trace: failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
