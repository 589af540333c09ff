// One measured run, in a child process of the benchmark: bare inside hv-hpc as the testbed user (sbatch runs the
// jobs as that user, as the bot does), or in hv-core with every plugin call going through the jump host to the
// bot on hpc. The plugins are built and warmed up (tunnels up, plugins built in the bot) before the clock starts.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../src/logging/index.js';
import type { BotClient } from '../src/middleware/herder/bot-client.js';
import { RpcMiddlewareProvider } from '../src/middleware/herder/rpc-provider.js';
import type { RemoteCallTiming } from '../src/middleware/rpc/call-payload.js';
import { killWorkersOf, PluginFactory } from '../src/plugins/index.js';
import { remoteBot } from '../test/support/remote-bot.js';
import { partsOf } from './cases.js';
import type { Cleanups } from './cleanups.js';
import { BenchEnvironmentError, loadTestbed } from './environment.js';
import { installedExample } from '../test/support/bot-install.js';
import { slurmBenchPlugins, slurmBenchQueue, slurmWorkers, type SlurmBenchPlugins } from './hpc-queue.js';
import type { HpcMode, HpcRun, HpcScenario, RemoteCall, RunPhase } from './hpc-results.js';
import { lifecycle, steadyChecks, type LifecyclePlan } from './hpc-scenarios.js';
import { serveShadowMonitor, ShadowMonitor } from './hpc-shadow.js';
import { reconnectNote, TunnelsNotUpError } from './transports.js';
import { cheapCall } from './workload.js';

export interface RunRequest {
  readonly mode: HpcMode;
  readonly scenario: HpcScenario;
  readonly workers: number;
  readonly harvesterID: string;
  /** A directory the testbed user owns; the access points go below it. */
  readonly root: string;
  readonly partition: string;
  readonly command: string;
  readonly lifecycle: LifecyclePlan;
  /** reference, paired: how many checks of all live workers. */
  readonly checks: number;
  /** bot mode: the bot the top process started on hpc. */
  readonly botName: string;
  readonly botPort: number;
  /** paired: the unix socket of the bare shadow monitor. */
  readonly shadowSocket?: string;
}

/** What a bare shadow monitor needs: the same queue as the run it shadows. */
export type ShadowRequest = Pick<RunRequest, 'harvesterID' | 'partition' | 'command'> & { readonly socket: string };

/** Tunnels in the bot mode's pool (as the middleware benchmark). */
const tunnels = 3;

interface Opened {
  readonly plugins: SlurmBenchPlugins;
  readonly client?: BotClient;
}

/** Builds each plugin once (the bot builds its own on the first call) and, through the bot, brings every tunnel up. */
async function warmUp(opened: Opened): Promise<void> {
  const { plugins, client } = opened;
  await cheapCall(plugins);
  const ctx = plugins.context();
  await plugins.submitter.submitWorkers(ctx, []);
  await plugins.monitor.checkWorkers(ctx, []);
  await killWorkersOf(plugins.sweeper, ctx, []);
  if (client === undefined) return;
  const deadline = Date.now() + 30_000;
  while (!client.status().every((s) => s.state === 'up')) {
    if (Date.now() > deadline) throw new TunnelsNotUpError(client.description, client.status().map((s) => `slot ${s.slot} ${s.state}`).join(', '));
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const queueOptionsOf = (request: Pick<RunRequest, 'harvesterID' | 'partition' | 'command'>) => ({ harvesterID: request.harvesterID, partition: request.partition, command: request.command });

async function openBare(request: Pick<RunRequest, 'harvesterID' | 'partition' | 'command'>, log: Logger): Promise<Opened> {
  return { plugins: await slurmBenchPlugins(new PluginFactory({ log }), slurmBenchQueue('bench_hpc_bare', queueOptionsOf(request)), log) };
}

async function open(request: RunRequest, log: Logger, cleanups: Cleanups): Promise<Opened> {
  if (request.mode === 'bare') return openBare(request, log);
  const queueOptions = queueOptionsOf(request);
  const factory = new PluginFactory({ log });
  const testbed = loadTestbed();
  if (testbed === undefined) throw new BenchEnvironmentError('the testbed has no env.json', 'load testbed in hv-core');
  const scratch = await mkdtemp(join(tmpdir(), 'hv-bench-hpc-'));
  cleanups.add('remove the known_hosts scratch directory', () => rm(scratch, { recursive: true, force: true }));
  const provider = new RpcMiddlewareProvider({ knownHostsFile: join(scratch, 'known_hosts'), log });
  cleanups.add('close the tunnels through the jump host', () => provider.close());
  factory.registerMiddleware(provider);
  // Submitting 1000 workers is one call: give it room beyond the default 60 s of the test rpc element.
  const rpc = (await remoteBot(testbed, request.botName, request.botPort)).rpc({ numTunnels: tunnels, callTimeout: 600 });
  // The bot cannot read the repository on hpc: it uses the template remote-install put there.
  const queue = slurmBenchQueue('bench_hpc_bot', { ...queueOptions, rpc, templateFile: installedExample(testbed, 'slurm/harvester_slurm_submit.sh') });
  const plugins = await slurmBenchPlugins(factory, queue, log);
  return { plugins, client: provider.clientFor(queue.middlewares['rpc']!) };
}

const recordedMethods = new Set(['submitter.submitWorkers', 'monitor.checkWorkers', 'sweeper.killWorkers']);

function remoteCallOf(timing: RemoteCallTiming, phase: RunPhase): RemoteCall {
  const base = { phase, method: timing.method, specs: timing.specs, roundTripMs: timing.roundTripMs };
  const parts = partsOf(timing);
  return parts === undefined ? base : { ...base, parts };
}

export async function measureRun(request: RunRequest, log: Logger, cleanups: Cleanups, progress: (line: string) => void): Promise<HpcRun> {
  if ((request.scenario === 'paired') !== (request.shadowSocket !== undefined && request.mode === 'bot')) {
    throw new BenchEnvironmentError('a paired run is a bot run with a shadow socket, and only it has one', 'run arguments');
  }
  const opened = await open(request, log, cleanups);
  await warmUp(opened);
  let shadow: ShadowMonitor | undefined;
  if (request.shadowSocket !== undefined) {
    const connected = await ShadowMonitor.connect(request.shadowSocket);
    shadow = connected;
    cleanups.add('close the shadow monitor connection', async () => connected.close());
  }
  const { plugins, client } = opened;
  const remoteCalls: RemoteCall[] = [];
  let phase: RunPhase = 'submit';
  const stopTimings = client?.onTiming((timing) => {
    if (recordedMethods.has(timing.method)) remoteCalls.push(remoteCallOf(timing, phase));
  });
  const hooks = { progress, phase: (next: RunPhase) => (phase = next) };
  const workers = slurmWorkers(request.root, request.workers, plugins.queue.queueName);
  progress(`${request.mode}: ${request.scenario} of ${request.workers} workers (harvesterID ${request.harvesterID})`);
  const measures =
    request.scenario === 'lifecycle'
      ? await lifecycle(plugins, workers, request.lifecycle, hooks)
      : await steadyChecks(plugins, workers, request.checks, request.lifecycle, hooks, shadow);
  stopTimings?.();
  const notes = client === undefined ? [] : reconnectNote({ transport: 'ssh-jump', plugins, client, close: async () => undefined });
  return { scenario: request.scenario, mode: request.mode, harvesterID: request.harvesterID, ...measures, remoteCalls, notes };
}

/**
 * The bare shadow of a paired run: serves checks on the socket until stdin closes (the top process ends it).
 * Prints "ready" on stdout once it listens.
 */
export async function serveShadow(request: ShadowRequest, log: Logger): Promise<void> {
  const opened = await openBare(request, log);
  await warmUp(opened);
  const server = await serveShadowMonitor(request.socket, opened.plugins);
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => {
    process.stdin.on('end', resolve).on('close', resolve).resume();
  });
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
