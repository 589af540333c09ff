// `harvester bot start|stop|status|connect`: the remote side's daemon, with the options of harvester's
// rpc_bot.py (--port 18861, --pid, --stdout, --stderr, --backlog, --foreground), plus its unix socket
// (<home>/bot.sock) and `bot connect`, the relay to that socket for the herder's stdio transport.
import { connect, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { createLogger, type Logger } from '../../logging/index.js';
import { Bot, ensureBotHome } from '../../middleware/bot/daemon.js';
import { botPidPath, botSocketPath, botStartLockPath } from '../../middleware/bot/paths.js';
import { isOurBot, isProcessAlive, pidFileProblem, readPid } from '../../middleware/bot/pid-file.js';
import { relay } from '../../middleware/bot/relay.js';
import { DEFAULT_BOT_HANDSHAKE_TIMEOUT_MS } from '../../middleware/bot/server.js';
import { acquireStartLock } from '../../middleware/bot/start-lock.js';
import { probeSocket } from '../../middleware/bot/unix-socket.js';
import { PluginFactory } from '../../plugins/index.js';
import { CliContext } from '../context.js';
import { daemonize, ReadinessReporter, type DaemonAnswer } from '../daemonize.js';
import { ExitCode } from '../exit-codes.js';
import { portNumber, positiveInt } from '../options.js';

/** The bot's log rotates at this size (bot.log, then bot.log.1 ... bot.log.BOT_LOG_KEEP): a flood cannot fill the disk. */
export const BOT_LOG_MAX_BYTES = 20 * 1024 * 1024;
export const BOT_LOG_KEEP = 4;
/** How long `bot connect` waits for a bot it (or another) starts to answer on the socket. */
const CONNECT_START_TIMEOUT_MS = 60_000;
const DEFAULT_BACKLOG = 511;
const DEFAULT_GRACE_S = 30;
const DEFAULT_HANDSHAKE_TIMEOUT_S = DEFAULT_BOT_HANDSHAKE_TIMEOUT_MS / 1000;

interface StartOptions {
  port: number;
  socket?: string;
  pid?: string;
  stdout?: string;
  stderr?: string;
  backlog: number;
  foreground?: boolean;
  ifNotRunning?: boolean;
  grace: number;
  handshakeTimeout: number;
}

interface ConnectOptions {
  socket?: string;
  port: number;
  pid?: string;
}

/** The files a bot command works on: its options, else the defaults in the bot's home. */
interface BotFiles {
  readonly home: string;
  readonly pidFile: string;
  readonly socketPath: string;
}

function botFiles(ctx: CliContext, opts: { pid?: string; socket?: string }): BotFiles {
  const home = ctx.master.home;
  return { home, pidFile: resolve(opts.pid ?? botPidPath(home)), socketPath: resolve(opts.socket ?? botSocketPath(home)) };
}

/** The bot's JSON-lines log, <logDir>/bot.log, rotated by size. */
function botLogger(ctx: CliContext): Logger {
  return createLogger({
    level: ctx.master.logLevel,
    name: 'harvester',
    file: join(ctx.master.logDir, 'bot.log'),
    rotate: { maxBytes: BOT_LOG_MAX_BYTES, keep: BOT_LOG_KEEP },
  });
}

/** A pid the bot may signal or count as running: named by a trustworthy pid file, alive, and a bot of this user. */
type PidCheck =
  | { readonly kind: 'running'; readonly pid: number }
  | { readonly kind: 'absent' }
  | { readonly kind: 'stale'; readonly pid: number }
  | { readonly kind: 'not-ours'; readonly pid: number; readonly reason: string }
  | { readonly kind: 'untrusted-file'; readonly reason: string };

function checkPidFile(pidFile: string): PidCheck {
  const problem = pidFileProblem(pidFile);
  if (problem !== undefined) return { kind: 'untrusted-file', reason: problem };
  const pid = readPid(pidFile);
  if (pid === undefined) return { kind: 'absent' };
  if (!isProcessAlive(pid)) return { kind: 'stale', pid };
  const verdict = isOurBot(pid);
  return verdict.ours ? { kind: 'running', pid } : { kind: 'not-ours', pid, reason: verdict.reason };
}

const pidHelp = 'pid file (default: <home>/bot.pid; harvester uses /var/tmp/harvester_rpc.pid)';
const socketHelp = 'unix socket (default: <home>/bot.sock)';

export function registerBotCommands(program: Command): void {
  const bot = program.command('bot').description('the bot that serves remote plugin calls on this host (run it on the remote host)');

  bot
    .command('start')
    .description('start the bot: listens on 127.0.0.1 and on its unix socket only, daemonized unless --foreground')
    .option('--port <port>', 'port on 127.0.0.1 to listen on', portNumber, 18861)
    .option('--socket <path>', socketHelp)
    .option('--pid <file>', pidHelp)
    .option('--stdout <file>', "daemon's stdout (default: <home>/logs/bot.stdout)")
    .option('--stderr <file>', "daemon's stderr (default: <home>/logs/bot.stderr)")
    .option('--backlog <n>', 'listen backlog', positiveInt, DEFAULT_BACKLOG)
    .option('--grace <seconds>', 'on SIGTERM, how long calls in flight may still run', positiveInt, DEFAULT_GRACE_S)
    .option('--handshake-timeout <seconds>', 'how long a new connection may take to authenticate', positiveInt, DEFAULT_HANDSHAKE_TIMEOUT_S)
    .option('--foreground', 'stay in the foreground (logs to <home>/logs/bot.log)')
    .option('--if-not-running', 'exit 0 quietly when a bot is already running (used by on-demand launch)')
    .action(async (opts: StartOptions, command: Command) => {
      const ctx = CliContext.fromCommand(command, 'bot.log');
      const files = botFiles(ctx, opts);
      const { pidFile } = files;
      const check = checkPidFile(pidFile);
      if (check.kind === 'untrusted-file') {
        process.stderr.write(`harvester: refusing the pid file ${pidFile}: ${check.reason}\n`);
        process.exitCode = ExitCode.failure;
        return;
      }
      if (check.kind === 'running') {
        if (opts.ifNotRunning) {
          process.stdout.write(`bot already running (pid ${check.pid}, pid file ${pidFile})\n`);
          return;
        }
        process.stderr.write(`harvester: a bot is already running with pid ${check.pid} (pid file ${pidFile}); stop it first with 'harvester bot stop --pid ${pidFile}'\n`);
        process.exitCode = ExitCode.failure;
        return;
      }
      if (!opts.foreground) {
        const answer = await startDaemon(command, ctx, files, opts);
        if (answer.ready) {
          const [pid, port] = answer.detail.split(' ');
          process.stdout.write(`bot started (pid ${pid}, 127.0.0.1:${port}, socket ${files.socketPath}, pid file ${pidFile}, logs ${join(ctx.master.logDir, 'bot.log')})\n`);
          return;
        }
        process.stderr.write(`harvester: bot failed to start: ${answer.error} (see ${daemonStderr(ctx, opts)})\n`);
        process.exitCode = ExitCode.failure;
        return;
      }
      await runForeground(ctx, opts, files);
    });

  bot
    .command('stop')
    .description('stop the bot: SIGTERM, then wait while it finishes calls in flight')
    .option('--pid <file>', pidHelp)
    .option('--wait <seconds>', 'how long to wait for it to exit', positiveInt, 60)
    .action(async (opts: { pid?: string; wait: number }, command: Command) => {
      const { pidFile } = botFiles(CliContext.fromCommand(command, 'bot.log'), opts);
      const check = checkPidFile(pidFile);
      switch (check.kind) {
        case 'untrusted-file':
          process.stderr.write(`harvester: refusing the pid file ${pidFile}: ${check.reason}; no signal sent\n`);
          process.exitCode = ExitCode.failure;
          return;
        case 'not-ours':
          process.stderr.write(`harvester: refusing to signal pid ${check.pid} named in ${pidFile}: ${check.reason}\n`);
          process.exitCode = ExitCode.failure;
          return;
        case 'absent':
        case 'stale':
          process.stdout.write(`no bot running (pid file ${pidFile}${check.kind === 'absent' ? ' absent' : ' is stale'})\n`);
          return;
        case 'running':
          break;
      }
      const { pid } = check;
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
    .option('--pid <file>', pidHelp)
    .action((opts: { pid?: string }, command: Command) => {
      const { pidFile } = botFiles(CliContext.fromCommand(command, 'bot.log'), opts);
      const check = checkPidFile(pidFile);
      if (check.kind === 'running') {
        process.stdout.write(`bot running (pid ${check.pid}, pid file ${pidFile})\n`);
        return;
      }
      const why =
        check.kind === 'absent'
          ? ' absent'
          : check.kind === 'stale'
            ? ` names pid ${check.pid}, which is gone`
            : check.kind === 'not-ours'
              ? ` names pid ${check.pid}, which is not this user's bot: ${check.reason}`
              : ` is not trusted: ${check.reason}`;
      process.stdout.write(`bot not running (pid file ${pidFile}${why})\n`);
      process.exitCode = 3;
    });

  bot
    .command('connect')
    .description("relay stdin/stdout to the bot's unix socket, starting the bot first when none answers (the herder's stdio transport)")
    .option('--socket <path>', socketHelp)
    .option('--port <port>', 'port on 127.0.0.1 of a bot this starts', portNumber, 18861)
    .option('--pid <file>', pidHelp)
    .action(async (opts: ConnectOptions, command: Command) => {
      const ctx = CliContext.fromCommand(command, 'bot.log');
      const files = botFiles(ctx, opts);
      const socket = await connectOrStart(command, ctx, files, opts);
      const outcome = await relay(socket, process.stdin, process.stdout);
      if (outcome.error !== undefined) {
        process.stderr.write(`harvester: bot connect: the relay to ${files.socketPath} broke: ${outcome.error.message}\n`);
        process.exitCode = ExitCode.failure;
      }
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

async function runForeground(ctx: CliContext, opts: StartOptions, files: BotFiles): Promise<void> {
  const readiness = new ReadinessReporter();
  const log = botLogger(ctx);
  const factory = new PluginFactory({ pluginDirs: ctx.master.pluginDirs, log });
  const collectGarbage = exposedGc();
  if (collectGarbage === undefined) {
    log.info({ nodeOptions: BOT_NODE_OPTIONS.join(' ') }, 'bot runs without --expose-gc: it keeps garbage until V8 collects it (start it with these node options to give memory back when idle)');
  }
  const bot = new Bot({
    home: files.home,
    port: opts.port,
    socketPath: files.socketPath,
    pidFile: files.pidFile,
    backlog: opts.backlog,
    graceMs: opts.grace * 1000,
    handshakeTimeoutMs: opts.handshakeTimeout * 1000,
    pluginDirs: ctx.master.pluginDirs,
    factory,
    log,
    ...(collectGarbage === undefined ? {} : { collectGarbage }),
    onReady: ({ port, pid, socketPath }) => {
      if (!readiness.ready(`${pid} ${port}`)) process.stdout.write(`bot listening on 127.0.0.1:${port} and ${socketPath} (pid ${pid})\n`);
    },
  });
  try {
    await bot.start();
  } catch (error) {
    log.error({ err: error, port: opts.port, pidFile: files.pidFile, socket: files.socketPath }, 'bot failed to start');
    readiness.failed(error instanceof Error ? error.message : String(error));
    throw error;
  }
  const stop = (signal: string): void => {
    log.info({ signal }, 'signal received');
    void bot.stop();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  await bot.whenStopped();
}

function daemonStderr(ctx: CliContext, opts: { stderr?: string }): string {
  return resolve(opts.stderr ?? join(ctx.master.logDir, 'bot.stderr'));
}

/** Starts `bot start --foreground` detached, its output in files, and returns once it listens (or failed). */
async function startDaemon(command: Command, ctx: CliContext, files: BotFiles, opts: Omit<StartOptions, 'foreground' | 'ifNotRunning'>): Promise<DaemonAnswer> {
  // The daemon runs in its home: a home that does not exist yet is made first (0700), or the spawn fails.
  ensureBotHome(files.home);
  const logDir = ctx.master.logDir;
  return daemonize({
    ctx,
    command,
    nodeOptions: BOT_NODE_OPTIONS,
    defaultEnv: BOT_DAEMON_ENV,
    args: [
      'bot', 'start',
      '--port', String(opts.port),
      '--socket', files.socketPath,
      '--pid', files.pidFile,
      '--backlog', String(opts.backlog),
      '--grace', String(opts.grace),
      '--handshake-timeout', String(opts.handshakeTimeout),
    ],
    stdoutFile: opts.stdout ?? join(logDir, 'bot.stdout'),
    stderrFile: daemonStderr(ctx, opts),
  });
}

/** Connects to the bot's socket; a refused or absent socket is undefined, any other failure is thrown. */
function tryConnect(path: string): Promise<Socket | undefined> {
  return new Promise((resolvePromise, reject) => {
    const socket = connect({ path });
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      resolvePromise(socket);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') resolvePromise(undefined);
      else reject(new Error(`cannot connect to the bot socket ${path}: ${error.message}`));
    });
  });
}

/** Polls the socket until something answers, up to timeoutMs. */
async function waitForSocket(path: string, timeoutMs: number): Promise<Socket | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const socket = await tryConnect(path);
    if (socket !== undefined || Date.now() > deadline) return socket;
    await sleep(100);
  }
}

/**
 * The bot's socket, connected: at once when a bot answers, else after starting one (the daemon `bot start`
 * makes). Starts are serialized by a lock file in the home, so `bot connect`s racing each other make one bot.
 */
async function connectOrStart(command: Command, ctx: CliContext, files: BotFiles, opts: ConnectOptions): Promise<Socket> {
  const { socketPath, pidFile } = files;
  const first = await tryConnect(socketPath);
  if (first !== undefined) return first;
  ensureBotHome(files.home);
  const release = await acquireStartLock(botStartLockPath(files.home), { timeoutMs: CONNECT_START_TIMEOUT_MS });
  try {
    // Another `bot connect` may have started it while we waited for the lock.
    const again = await tryConnect(socketPath);
    if (again !== undefined) return again;
    const check = checkPidFile(pidFile);
    if (check.kind === 'untrusted-file') throw new Error(`refusing the pid file ${pidFile}: ${check.reason}`);
    if (check.kind === 'running') return await socketOfRunningBot(check.pid, files);
    const answer = await startDaemon(command, ctx, files, { port: opts.port, backlog: DEFAULT_BACKLOG, grace: DEFAULT_GRACE_S, handshakeTimeout: DEFAULT_HANDSHAKE_TIMEOUT_S });
    if (!answer.ready) {
      // A bot started by someone else at the same moment won the pid file: use it.
      const now = checkPidFile(pidFile);
      if (now.kind === 'running') return await socketOfRunningBot(now.pid, files);
      throw new Error(`no bot answers on ${socketPath} and starting one failed: ${answer.error} (see ${daemonStderr(ctx, {})})`);
    }
    const socket = await waitForSocket(socketPath, CONNECT_START_TIMEOUT_MS);
    if (socket === undefined) throw new Error(`started a bot (${answer.detail.split(' ')[0] ?? '?'}), but nothing answers on ${socketPath}`);
    return socket;
  } finally {
    release();
  }
}

/** A bot runs (its pid file says so) but its socket did not answer yet: it may be starting; wait a little. */
async function socketOfRunningBot(pid: number, files: BotFiles): Promise<Socket> {
  const socket = await waitForSocket(files.socketPath, 10_000);
  if (socket !== undefined) return socket;
  const probe = await probeSocket(files.socketPath);
  throw new Error(
    `a bot runs with pid ${pid} (pid file ${files.pidFile}) but ${probe === 'absent' ? 'it has no socket' : 'nothing answers on its socket'} ${files.socketPath}; ` +
      `stop it ('harvester bot stop --pid ${files.pidFile}') so a new one can start, or give its --socket`,
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
