// `harvester bot start|stop|status`: the remote side's daemon, with the options of harvester's rpc_bot.py
// (--port 18861, --pid /var/tmp/harvester_rpc.pid, --stdout, --stderr, --backlog, --foreground).
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { Bot } from '../../middleware/bot/daemon.js';
import { isProcessAlive, livePid, readPid } from '../../middleware/bot/pid-file.js';
import { PluginFactory } from '../../plugins/index.js';
import { CliContext } from '../context.js';
import { daemonize, ReadinessReporter } from '../daemonize.js';
import { ExitCode } from '../exit-codes.js';
import { portNumber, positiveInt } from '../options.js';

interface StartOptions {
  port: number;
  pid: string;
  stdout?: string;
  stderr?: string;
  backlog: number;
  foreground?: boolean;
  ifNotRunning?: boolean;
  grace: number;
}

export function registerBotCommands(program: Command): void {
  const bot = program.command('bot').description('the bot that serves remote plugin calls on this host (run it on the remote host)');

  bot
    .command('start')
    .description('start the bot: listens on 127.0.0.1 only, daemonized unless --foreground')
    .option('--port <port>', 'port on 127.0.0.1 to listen on', portNumber, 18861)
    .option('--pid <file>', 'pid file', '/var/tmp/harvester_rpc.pid')
    .option('--stdout <file>', "daemon's stdout (default: <home>/logs/bot.stdout)")
    .option('--stderr <file>', "daemon's stderr (default: <home>/logs/bot.stderr)")
    .option('--backlog <n>', 'listen backlog', positiveInt, 511)
    .option('--grace <seconds>', 'on SIGTERM, how long calls in flight may still run', positiveInt, 30)
    .option('--foreground', 'stay in the foreground (logs to <home>/logs/bot.log)')
    .option('--if-not-running', 'exit 0 quietly when a bot is already running (used by on-demand launch)')
    .action(async (opts: StartOptions, command: Command) => {
      const ctx = CliContext.fromCommand(command, 'bot.log');
      const pidFile = resolve(opts.pid);
      const running = livePid(pidFile);
      if (running !== undefined) {
        if (opts.ifNotRunning) {
          process.stdout.write(`bot already running (pid ${running}, pid file ${pidFile})\n`);
          return;
        }
        process.stderr.write(`harvester: a bot is already running with pid ${running} (pid file ${pidFile}); stop it first with 'harvester bot stop --pid ${pidFile}'\n`);
        process.exitCode = ExitCode.failure;
        return;
      }
      if (!opts.foreground) {
        await startDaemon(command, ctx, opts, pidFile);
        return;
      }
      await runForeground(ctx, opts, pidFile);
    });

  bot
    .command('stop')
    .description('stop the bot: SIGTERM, then wait while it finishes calls in flight')
    .option('--pid <file>', 'pid file', '/var/tmp/harvester_rpc.pid')
    .option('--wait <seconds>', 'how long to wait for it to exit', positiveInt, 60)
    .action(async (opts: { pid: string; wait: number }) => {
      const pidFile = resolve(opts.pid);
      const pid = readPid(pidFile);
      if (pid === undefined || !isProcessAlive(pid)) {
        process.stdout.write(`no bot running (pid file ${pidFile}${pid === undefined ? ' absent' : ' is stale'})\n`);
        return;
      }
      process.kill(pid, 'SIGTERM');
      const deadline = Date.now() + opts.wait * 1000;
      while (isProcessAlive(pid) && Date.now() < deadline) await sleep(100);
      if (isProcessAlive(pid)) {
        process.stderr.write(`harvester: bot pid ${pid} still running after ${opts.wait}s; it may be finishing long calls (kill -9 ${pid} loses their outcome)\n`);
        process.exitCode = ExitCode.failure;
        return;
      }
      process.stdout.write(`bot stopped (pid ${pid})\n`);
    });

  bot
    .command('status')
    .description('whether a bot is running (exit 0) or not (exit 3)')
    .option('--pid <file>', 'pid file', '/var/tmp/harvester_rpc.pid')
    .action((opts: { pid: string }) => {
      const pidFile = resolve(opts.pid);
      const pid = readPid(pidFile);
      if (pid !== undefined && isProcessAlive(pid)) {
        process.stdout.write(`bot running (pid ${pid}, pid file ${pidFile})\n`);
        return;
      }
      process.stdout.write(`bot not running (pid file ${pidFile}${pid === undefined ? ' absent' : ` names pid ${pid}, which is gone`})\n`);
      process.exitCode = 3;
    });
}

/**
 * Node options of the daemon `bot start` spawns. A bot lives for weeks on a shared login node, mostly idle
 * between bursts of calls whose data dies with the call, so it trades a little peak throughput for memory:
 * - --max-semi-space-size=2: under load V8 grows its young generation to 2 x 16 MB and keeps it committed
 *   (resident) for good; 2 x 2 MB still holds the calls in flight. Measured with bench:middleware: ~28 MB
 *   less after the runs, calls/s unchanged within the machine's noise (scavenges are more frequent: ~2x
 *   the scavenge time at 64 calls in flight). 1 saves ~2 MB more for ~1.5x that scavenge time again.
 * - --expose-gc: lets the bot collect once it goes quiet (src/middleware/bot/idle-collector.ts) instead of
 *   keeping a burst's garbage until V8's next old-generation limit, a multiple of the live data.
 * Given on the daemon's command line, not in NODE_OPTIONS, so processes the plugins start do not inherit them.
 */
export const BOT_NODE_OPTIONS = ['--max-semi-space-size=2', '--expose-gc'] as const;

/**
 * Environment of the daemon `bot start` spawns (an operator's own value of a variable wins):
 * - MALLOC_MMAP_THRESHOLD_=65536: glibc serves allocations of 64 KB and more (socket reads, large frames and
 *   replies) with mmap and gives them back when freed. By default it raises that threshold after such a free,
 *   and later large buffers come from its heap and stay resident. Measured with bench:middleware: bot RSS after
 *   the runs 77-78 MB instead of 86-88 MB, calls/s unchanged within noise. Other C libraries ignore it.
 */
export const BOT_DAEMON_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: '65536' };

/** global.gc when the process was started with --expose-gc (the daemon is: see BOT_NODE_OPTIONS). */
function exposedGc(): (() => void) | undefined {
  const gc = (globalThis as { gc?: unknown }).gc;
  return typeof gc === 'function' ? () => void (gc as () => unknown)() : undefined;
}

async function runForeground(ctx: CliContext, opts: StartOptions, pidFile: string): Promise<void> {
  const readiness = new ReadinessReporter();
  const factory = new PluginFactory({ pluginDirs: ctx.master.pluginDirs, log: ctx.log });
  const collectGarbage = exposedGc();
  if (collectGarbage === undefined) {
    ctx.log.info({ nodeOptions: BOT_NODE_OPTIONS.join(' ') }, 'bot runs without --expose-gc: it keeps garbage until V8 collects it (start it with these node options to give memory back when idle)');
  }
  const bot = new Bot({
    home: ctx.master.home,
    port: opts.port,
    pidFile,
    backlog: opts.backlog,
    graceMs: opts.grace * 1000,
    pluginDirs: ctx.master.pluginDirs,
    factory,
    log: ctx.log,
    ...(collectGarbage === undefined ? {} : { collectGarbage }),
    onReady: ({ port, pid }) => {
      if (!readiness.ready(`${pid} ${port}`)) process.stdout.write(`bot listening on 127.0.0.1:${port} (pid ${pid})\n`);
    },
  });
  try {
    await bot.start();
  } catch (error) {
    ctx.log.error({ err: error, port: opts.port, pidFile }, 'bot failed to start');
    readiness.failed(error instanceof Error ? error.message : String(error));
    throw error;
  }
  const stop = (signal: string): void => {
    ctx.log.info({ signal }, 'signal received');
    void bot.stop();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  await bot.whenStopped();
}

/** Starts `bot start --foreground` detached, its output in files, and returns once it listens (or failed). */
async function startDaemon(command: Command, ctx: CliContext, opts: StartOptions, pidFile: string): Promise<void> {
  const logDir = ctx.master.logDir;
  const stderrFile = resolve(opts.stderr ?? join(logDir, 'bot.stderr'));
  const answer = await daemonize({
    ctx,
    command,
    nodeOptions: BOT_NODE_OPTIONS,
    defaultEnv: BOT_DAEMON_ENV,
    args: ['bot', 'start', '--port', String(opts.port), '--pid', pidFile, '--backlog', String(opts.backlog), '--grace', String(opts.grace)],
    stdoutFile: opts.stdout ?? join(logDir, 'bot.stdout'),
    stderrFile,
  });
  if (answer.ready) {
    const [pid, port] = answer.detail.split(' ');
    process.stdout.write(`bot started (pid ${pid}, 127.0.0.1:${port}, pid file ${pidFile}, logs ${join(logDir, 'bot.log')})\n`);
    return;
  }
  process.stderr.write(`harvester: bot failed to start: ${answer.error} (see ${stderrFile})\n`);
  process.exitCode = ExitCode.failure;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
