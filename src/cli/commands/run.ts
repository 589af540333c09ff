// `harvester run`: the product's main job. Starts every agent for every online queue, as a daemon with a pid
// file unless --foreground; SIGTERM/SIGINT stop it gracefully (cycles in progress finish, locks are given
// back). --once runs one cycle of every agent in job order and exits; --until-done repeats such passes until
// no job or worker is left in progress (scripts, the demo, tests).
// The agents, the store and SQLite are imported when the command runs, not when the CLI loads: the bot on a
// login node runs the same CLI and should not carry them.
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { HarvesterAgents, PassReport } from '../../agents/harvester-agents.js';
import { acquirePidFile, livePid, releasePidFile } from '../../middleware/bot/pid-file.js';
import { StoreClosedError, StoreCorruptError, StoreDiskFullError, StoreReadOnlyError } from '../../store/errors.js';
import type { Store } from '../../store/store.js';
import { CliContext } from '../context.js';
import { daemonize, ReadinessReporter } from '../daemonize.js';
import { ExitCode } from '../exit-codes.js';
import { homeAccessWarning } from '../home-dir.js';
import { requireStoreSupport } from '../open-store.js';
import { positiveInt } from '../options.js';
import { formatTable } from '../table.js';

interface RunOptions {
  once?: boolean;
  untilDone?: boolean;
  foreground?: boolean;
  pid?: string;
  pause: number;
  timeout: number;
  stdout?: string;
  stderr?: string;
}

/** Worker statuses in which a worker still needs an agent. */
const activeWorkerStatuses = ['ready', 'submitted', 'running', 'idle', 'pending'];
/** Job sub-statuses in which a job still needs an agent. */
const activeJobSubStatuses = ['fetched', 'preparing', 'prepared', 'queued', 'submitted', 'ready', 'pending', 'running', 'idle', 'to_transfer', 'transferring'];

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('run the agents for every online queue (a daemon with a pid file, unless --foreground/--once/--until-done)')
    .option('--once', 'run one cycle of every agent, in job order, and exit')
    .option('--until-done', 'repeat such passes until no job or worker is in progress, then exit')
    .option('--foreground', 'run the agents in the foreground until SIGTERM/SIGINT')
    .option('--pid <file>', 'pid file (default: <home>/harvester.pid)')
    .option('--pause <seconds>', 'with --until-done: pause between passes', positiveInt, 1)
    .option('--timeout <seconds>', 'with --until-done: give up (exit 1) after this long', positiveInt, 3600)
    .option('--stdout <file>', "daemon's stdout (default: <home>/logs/harvester.stdout)")
    .option('--stderr <file>', "daemon's stderr (default: <home>/logs/harvester.stderr)")
    .action(async (opts: RunOptions, command: Command) => {
      requireStoreSupport();
      const ctx = CliContext.fromCommand(command, 'harvester.log');
      const homeWarning = homeAccessWarning(ctx.master.home);
      if (homeWarning !== undefined) process.stderr.write(`harvester: warning: ${homeWarning}\n`);
      const pidFile = resolve(opts.pid ?? join(ctx.master.home, 'harvester.pid'));
      if (opts.once || opts.untilDone) {
        await runPasses(ctx, opts);
        return;
      }
      const running = livePid(pidFile);
      if (running !== undefined) {
        process.stderr.write(`harvester: already running with pid ${running} (pid file ${pidFile}); stop it with 'kill ${running}'\n`);
        process.exitCode = ExitCode.failure;
        return;
      }
      if (opts.foreground) {
        await runForeground(ctx, pidFile);
        return;
      }
      // Bad input is reported here, with exit 2, rather than by a daemon that failed to start (exit 1).
      const { selectOnlineQueues } = await import('../agent-runtime.js');
      selectOnlineQueues(ctx);
      const stderrFile = opts.stderr ?? join(ctx.master.logDir, 'harvester.stderr');
      const answer = await daemonize({
        ctx,
        command,
        args: ['run', '--pid', pidFile],
        stdoutFile: opts.stdout ?? join(ctx.master.logDir, 'harvester.stdout'),
        stderrFile,
      });
      if (answer.ready) {
        process.stdout.write(`harvester started (pid ${answer.detail}, pid file ${pidFile}, logs ${join(ctx.master.logDir, 'harvester.log')})\n`);
      } else {
        process.stderr.write(`harvester: failed to start: ${answer.error} (see ${stderrFile})\n`);
        process.exitCode = ExitCode.failure;
      }
    });
}

async function loadAgents() {
  const [{ HarvesterAgents }, { openAgentRuntime }] = await Promise.all([import('../../agents/harvester-agents.js'), import('../agent-runtime.js')]);
  return { HarvesterAgents, openAgentRuntime };
}

async function runForeground(ctx: CliContext, pidFile: string): Promise<void> {
  const { HarvesterAgents, openAgentRuntime } = await loadAgents();
  const { startMonitoring } = await import('../monitoring.js');
  const readiness = new ReadinessReporter();
  let runtime;
  let monitoring;
  try {
    acquirePidFile(pidFile, { what: 'harvester', stopCommand: `kill $(cat ${pidFile})` });
    runtime = await openAgentRuntime(ctx);
    monitoring = await startMonitoring(ctx, runtime.env);
  } catch (error) {
    await runtime?.close();
    releasePidFile(pidFile);
    readiness.failed(error instanceof Error ? error.message : String(error));
    throw error;
  }
  const agents = new HarvesterAgents(monitoring.env);
  const stopped = new Promise<string>((resolveStop) => {
    process.once('SIGTERM', () => resolveStop('SIGTERM'));
    process.once('SIGINT', () => resolveStop('SIGINT'));
  });
  try {
    agents.start();
    const queues = runtime.env.queues.map((q) => q.queueName).join(', ');
    if (!readiness.ready(String(process.pid))) process.stdout.write(`harvester running (pid ${process.pid}, queues ${queues}); stop with SIGTERM or Ctrl-C\n`);
    const signal = await stopped;
    ctx.log.info({ signal }, 'signal received; stopping the agents');
    await agents.stop(signal);
  } finally {
    await monitoring.close();
    await runtime.close();
    releasePidFile(pidFile);
  }
  ctx.log.info('harvester stopped');
}

async function runPasses(ctx: CliContext, opts: RunOptions): Promise<void> {
  const { HarvesterAgents, openAgentRuntime } = await loadAgents();
  const runtime = await openAgentRuntime(ctx);
  const agents = new HarvesterAgents(runtime.env);
  let interrupted: string | undefined;
  const onSignal = (signal: string) => () => {
    interrupted = signal;
  };
  const onTerm = onSignal('SIGTERM');
  const onInt = onSignal('SIGINT');
  process.once('SIGTERM', onTerm);
  process.once('SIGINT', onInt);
  let failure: { error: unknown } | undefined;
  try {
    await (opts.once ? runOnePass(agents) : runUntilDone(agents, runtime.env.store, opts, () => interrupted));
  } catch (error) {
    failure = { error };
  }
  process.removeListener('SIGTERM', onTerm);
  process.removeListener('SIGINT', onInt);
  let closeFailure: { error: unknown } | undefined;
  try {
    await agents.stop();
    await runtime.close();
  } catch (error) {
    closeFailure = { error };
  }
  if (failure !== undefined) {
    // Giving back locks fails the same way when the database is what failed: report the first error.
    if (closeFailure !== undefined) {
      ctx.log.error({ err: closeFailure.error }, 'could not release locks or close the store after the run failed; the locks expire after lockInterval');
    }
    throw failure.error;
  }
  if (closeFailure !== undefined) throw closeFailure.error;
}

async function runOnePass(agents: HarvesterAgents): Promise<void> {
  const pass = await agents.runPass();
  printPass(pass);
  throwIfStoreUnusable(pass);
  if (pass.some((p) => p.error !== undefined)) process.exitCode = ExitCode.failure;
}

async function runUntilDone(agents: HarvesterAgents, store: Store, opts: RunOptions, interrupted: () => string | undefined): Promise<void> {
  const deadline = Date.now() + opts.timeout * 1000;
  for (let passes = 1; ; passes++) {
    throwIfStoreUnusable(await agents.runPass());
    const left = await workLeft(store);
    if (left === undefined) {
      // One more pass so the propagator reports the last changes.
      throwIfStoreUnusable(await agents.runPass());
      process.stdout.write(`all work done after ${passes + 1} passes\n`);
      return;
    }
    const stopped = interrupted();
    if (stopped !== undefined || Date.now() > deadline) {
      process.stderr.write(`harvester: ${stopped ?? `still in progress after ${opts.timeout} s`}: ${left}\n`);
      process.exitCode = ExitCode.failure;
      return;
    }
    await new Promise((r) => setTimeout(r, opts.pause * 1000));
  }
}

/**
 * A pass whose cycles failed because the database cannot be used at all (disk full, read-only, corrupt) ends
 * --once/--until-done with that error: passes after it would only fail the same way. The daemon keeps going
 * instead, and recovers once the disk has room again.
 */
function throwIfStoreUnusable(pass: readonly PassReport[]): void {
  const fatal = pass.find(
    (p) => p.error instanceof StoreDiskFullError || p.error instanceof StoreReadOnlyError || p.error instanceof StoreCorruptError || p.error instanceof StoreClosedError,
  );
  if (fatal !== undefined) throw fatal.error;
}

/** What is still in progress, in words, or undefined when nothing is. */
async function workLeft(store: Store): Promise<string | undefined> {
  const [queued, jobs, workers] = await Promise.all([
    store.listQueuedJobs({ limit: 1 }),
    store.listJobs({ subStatus: activeJobSubStatuses, limit: 1 }),
    store.listWorkers({ status: activeWorkerStatuses, limit: 1 }),
  ]);
  const parts: string[] = [];
  if (queued.length > 0) parts.push('jobs waiting in the embedded queue');
  if (jobs.length > 0) parts.push(`job ${jobs[0]!.PandaID} is ${jobs[0]!.subStatus}`);
  if (workers.length > 0) parts.push(`worker ${workers[0]!.workerID} is ${workers[0]!.status}`);
  return parts.length === 0 ? undefined : parts.join(', ');
}

function printPass(reports: readonly PassReport[]): void {
  const rows = reports.map(({ agent, report, error }) => ({
    agent,
    did: error !== undefined ? `error: ${error instanceof Error ? error.message : String(error)}` : Object.entries(report)
      .filter(([, n]) => n > 0)
      .map(([what, n]) => `${what} ${n}`)
      .join(', ') || 'nothing to do',
  }));
  process.stdout.write(`${formatTable(['agent', 'did'], rows)}\n`);
}
