// `harvester status`: one screen saying whether this home's harvester is healthy — the running instance,
// each queue's workers and jobs by status and its last submission, the agents' last cycles, each route's
// health, and what needs attention first. Exit 0 healthy, 1 degraded (for cron jobs and Nagios checks).
// It reads the store and asks the running instance on its control socket; with the instance down it still
// shows what the store holds, and says the instance is down (degraded).
// Everything heavy (the store, the HTTP client) is imported when the command runs.
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { livePid } from '../../middleware/bot/pid-file.js';
import { monitoredWorkerStatuses } from '../../spec/index.js';
import { StoreSchemaMissingError } from '../../store/errors.js';
import { describeServer } from '../../store/server/settings.js';
import { CliContext } from '../context.js';
import { controlSocketPath } from '../control-socket.js';
import { ExitCode } from '../exit-codes.js';
import { homeAccessWarning } from '../home-dir.js';
import { requireStoreSupport } from '../open-store.js';
import { positiveInt } from '../options.js';
import { formatTable } from '../table.js';
import type { InstanceStatus } from '../instance-status.js';

interface StatusOptions {
  json?: boolean;
  pid?: string;
  stuckAfter: number;
  failingSubmissions: number;
}

/** Worker statuses in which a worker waits for an agent: a submission ('ready'), or the monitor's check. */
const activeStatuses = ['ready', ...monitoredWorkerStatuses];

// The instance's answer is input from another process: its shape is checked before it is trusted.
const instanceStatusSchema = z.looseObject({
  instance: z.looseObject({ pid: z.number(), startedAt: z.string(), uptimeSeconds: z.number(), version: z.string(), home: z.string(), metricsUrl: z.string().optional() }),
  queues: z.array(z.looseObject({ name: z.string(), routes: z.array(z.string()) })),
  agents: z.record(z.string(), z.looseObject({ at: z.string(), seconds: z.number(), cycles: z.number(), report: z.record(z.string(), z.number()), error: z.string().optional() })),
  submissions: z.record(
    z.string(),
    z.looseObject({ at: z.string(), submitted: z.number(), failed: z.number(), error: z.string().optional(), failingInARow: z.number() }),
  ),
  pluginCalls: z.record(z.string(), z.record(z.string(), z.looseObject({ at: z.string(), method: z.string(), seconds: z.number(), failed: z.boolean() }))),
  routes: z.array(
    z.looseObject({
      route: z.string(),
      queues: z.array(z.string()),
      used: z.boolean(),
      links: z.number(),
      linksUp: z.number(),
      reachable: z.boolean(),
      botVersion: z.string().optional(),
      roundTripMs: z.number().optional(),
      lastError: z.object({ message: z.string(), at: z.string() }).optional(),
    }),
  ),
});

export interface StatusReport {
  readonly healthy: boolean;
  /** What needs attention, most urgent first. */
  readonly attention: readonly string[];
  /** Worth knowing, not a degradation: e.g. a home other users can read. */
  readonly warnings: readonly string[];
  readonly running: boolean;
  readonly pid?: number;
  /** Why the instance could not be asked (down, no answer). */
  readonly instanceError?: string;
  readonly instance?: InstanceStatus;
  readonly queues: readonly {
    readonly name: string;
    readonly workers: Readonly<Record<string, number>>;
    readonly jobs: Readonly<Record<string, number>>;
    readonly stuckWorkers: number;
    /**
     * The newest submitTime of the queue's workers in the store (ISO), for a queue the running instance has no
     * submission record of: it is down, or restarted since, or the submissions came from `run --once/--until-done`.
     */
    readonly lastSubmitTime?: string;
  }[];
  readonly store: string;
}

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description("whether this home's harvester is healthy: instance, queues, agents, routes, what needs attention (exit 0 healthy, 1 degraded)")
    .option('--json', 'print the report as JSON')
    .option('--pid <file>', 'pid file of the running instance (default: <home>/harvester.pid)')
    .option('--stuck-after <seconds>', 'a worker waiting (ready, submitted, pending, idle, running) unchecked this long is stuck', positiveInt, 3600)
    .option('--failing-submissions <n>', "a queue whose last n submitWorkers calls submitted nothing needs attention", positiveInt, 3)
    .action(async (opts: StatusOptions, command: Command) => {
      requireStoreSupport();
      const ctx = CliContext.fromCommand(command, 'harvester.log');
      const report = await statusReport(ctx, opts);
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
      process.exitCode = report.healthy ? ExitCode.ok : ExitCode.failure;
    });
}

async function statusReport(ctx: CliContext, opts: StatusOptions): Promise<StatusReport> {
  const attention: string[] = [];
  const pidFile = resolve(opts.pid ?? join(ctx.master.home, 'harvester.pid'));
  const pid = livePid(pidFile);
  let instance: InstanceStatus | undefined;
  let instanceError: string | undefined;
  if (pid === undefined) {
    instanceError = `harvester run is not running (no live pid in ${pidFile})`;
  } else {
    const socket = controlSocketPath(ctx.master.home);
    try {
      const { askControlSocket } = await import('../../metrics/index.js');
      const answer = await askControlSocket(socket, '/status', 10_000);
      if (answer.status !== 200) throw new Error(`HTTP ${answer.status}: ${answer.body.trim()}`);
      instance = instanceStatusSchema.parse(JSON.parse(answer.body)) as unknown as InstanceStatus;
    } catch (error) {
      instanceError = `harvester run (pid ${pid}) did not answer on ${socket}: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
  if (instanceError !== undefined) attention.push(instanceError);

  if (instance !== undefined) {
    for (const route of instance.routes) {
      if (route.used && !route.reachable) {
        attention.push(`route ${route.route} is down (queues ${route.queues.join(', ')}): ${route.lastError?.message ?? 'the bot does not answer'}${route.lastError ? ` (${route.lastError.at})` : ''}`);
      }
    }
    for (const [queue, s] of Object.entries(instance.submissions)) {
      if (s.failingInARow >= opts.failingSubmissions) {
        attention.push(`queue ${queue}: the last ${s.failingInARow} submissions submitted nothing: ${s.error ?? `${s.failed} workers failed`} (${s.at})`);
      }
    }
    for (const [agent, cycle] of Object.entries(instance.agents)) {
      if (cycle.error !== undefined) attention.push(`agent ${agent}: its last cycle failed: ${cycle.error} (${cycle.at})`);
    }
  }

  const { openExistingStore, withStore } = await import('../open-store.js');
  // A server without harvester-ts tables yet is what a SQLite home without its file is: nothing stored yet.
  const store = await openExistingStore(ctx.master).catch((error: unknown) => {
    if (error instanceof StoreSchemaMissingError) return undefined;
    throw error;
  });
  const storeName = ctx.master.db.server === undefined ? ctx.master.db.databaseFile : describeServer(ctx.master.db.server);
  const queueNames = new Set<string>();
  try {
    for (const q of ctx.loadQueues().queues.values()) if (q.queueStatus === 'online') queueNames.add(q.queueName);
  } catch (error) {
    attention.push(`the queue configuration cannot be read: ${error instanceof Error ? error.message : String(error)}`);
  }
  const queues: StatusReport['queues'][number][] = [];
  if (store !== undefined) {
    await withStore(store, async (s) => {
      const stuckBefore = new Date(Date.now() - opts.stuckAfter * 1000);
      const [workers, jobs, stuck, lastSubmits] = await Promise.all([
        s.getWorkerStatsByQueue(),
        s.getJobStatsByQueue(),
        s.getUnseenWorkerCountsByQueue(activeStatuses, stuckBefore),
        s.getLastSubmitTimeByQueue(),
      ]);
      for (const name of [...workers.keys(), ...jobs.keys()]) queueNames.add(name);
      for (const name of [...queueNames].sort()) {
        const n = stuck.get(name) ?? 0;
        // Only the instance's memory knows what its last submitWorkers call came to; without it the store still
        // knows when the queue's newest worker was submitted.
        const lastSubmitTime = instance?.submissions[name] === undefined ? lastSubmits.get(name)?.toISOString() : undefined;
        queues.push({ name, workers: workers.get(name) ?? {}, jobs: jobs.get(name) ?? {}, stuckWorkers: n, ...(lastSubmitTime === undefined ? {} : { lastSubmitTime }) });
        if (n > 0) attention.push(`queue ${name}: ${n} worker${n === 1 ? '' : 's'} not checked for over ${opts.stuckAfter} s (stuck; see harvester workers list --queue ${name})`);
      }
    });
  } else {
    for (const name of [...queueNames].sort()) queues.push({ name, workers: {}, jobs: {}, stuckWorkers: 0 });
  }

  const homeWarning = homeAccessWarning(ctx.master.home);
  return {
    healthy: attention.length === 0,
    attention,
    warnings: homeWarning === undefined ? [] : [homeWarning],
    running: pid !== undefined,
    ...(pid === undefined ? {} : { pid }),
    ...(instanceError === undefined ? {} : { instanceError }),
    ...(instance === undefined ? {} : { instance }),
    queues,
    store: store === undefined ? `${storeName} (none yet)` : storeName,
  };
}

function counts(c: Readonly<Record<string, number>>): string {
  return (
    Object.entries(c)
      .filter(([, n]) => n > 0)
      .map(([status, n]) => `${status} ${n}`)
      .join(', ') || '-'
  );
}

function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`;
}

function ago(iso: string): string {
  return `${duration(Math.max(0, (Date.now() - Date.parse(iso)) / 1000))} ago`;
}

export function formatReport(r: StatusReport): string {
  const out: string[] = [];
  const i = r.instance?.instance;
  if (i !== undefined) {
    out.push(`harvester ${i.version}: running, pid ${i.pid}, up ${duration(i.uptimeSeconds)}, home ${i.home}`);
    if (i.metricsUrl !== undefined) out.push(`metrics: ${i.metricsUrl}`);
  } else {
    out.push(`harvester: ${r.instanceError ?? 'not running'}`);
  }
  out.push(`store: ${r.store}`, '');
  const submissions = r.instance?.submissions ?? {};
  out.push(
    formatTable(
      ['queue', 'workers', 'jobs', 'last submission'],
      r.queues.map((q) => {
        const s = submissions[q.name];
        const last =
          s !== undefined
            ? `${ago(s.at)}: ${s.error !== undefined && s.submitted === 0 ? `failed (${s.error})` : `${s.submitted} submitted, ${s.failed} failed`}`
            : q.lastSubmitTime !== undefined
              ? `${ago(q.lastSubmitTime)} (newest worker's submitTime)`
              : '-';
        return { queue: q.name, workers: counts(q.workers), jobs: counts(q.jobs), 'last submission': last };
      }),
    ),
  );
  const calls = r.instance?.pluginCalls ?? {};
  const activity = r.queues.filter((q) => calls[q.name] !== undefined);
  if (activity.length > 0) {
    out.push(
      '',
      formatTable(
        ['queue', 'last call of each plugin'],
        activity.map((q) => ({
          queue: q.name,
          'last call of each plugin': Object.entries(calls[q.name]!)
            .map(([kind, c]) => `${kind} ${ago(c.at)} (${c.method}${c.failed ? ', failed' : ''})`)
            .join(', '),
        })),
      ),
    );
  }
  const agents = Object.entries(r.instance?.agents ?? {});
  if (agents.length > 0) {
    out.push(
      '',
      formatTable(
        ['agent', 'last cycle', 'took', 'did'],
        agents.map(([agent, c]) => ({
          agent,
          'last cycle': ago(c.at),
          took: `${Math.round(c.seconds * 1000)} ms`,
          did: c.error !== undefined ? `error: ${c.error}` : counts(c.report) === '-' ? 'nothing to do' : counts(c.report),
        })),
      ),
    );
  }
  const routes = r.instance?.routes ?? [];
  if (routes.length > 0) {
    out.push(
      '',
      formatTable(
        ['route', 'reachable', 'bot', 'rtt', 'links', 'last error'],
        routes.map((route) => ({
          route: route.route,
          reachable: !route.used ? 'not used yet' : route.reachable ? 'yes' : 'NO',
          bot: route.botVersion ?? '-',
          rtt: route.roundTripMs === undefined ? '-' : `${route.roundTripMs} ms`,
          links: `${route.linksUp}/${route.links} up`,
          'last error': route.lastError === undefined ? '-' : `${ago(route.lastError.at)}: ${route.lastError.message}`,
        })),
      ),
    );
  }
  out.push('', ...r.warnings.map((w) => `warning: ${w}`));
  if (r.healthy) out.push('status: healthy');
  else out.push(`status: DEGRADED — needs attention:`, ...r.attention.map((a) => `  - ${a}`));
  return `${out.join('\n')}\n`;
}
