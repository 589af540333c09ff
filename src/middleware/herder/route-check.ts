// harvester's sshTunnelTest.py, step by step: config, jump host TCP, jump host auth, remote host, port
// forward, bot hello and auth, a no-op call, then one cheap call of each remote plugin through the herder.
// Each step is reported with its time; the first failure names the step, host and user and a likely fix.
import type { MiddlewareConfig, QueueConfig } from '../../config/index.js';
import type { Logger } from '../../logging/index.js';
import { pluginKinds, type ContractsByKind, type PluginContext, type PluginKind } from '../../plugins/contracts.js';
import type { PluginFactory } from '../../plugins/index.js';
import { JobSpec } from '../../spec/index.js';
import type { ClientSession } from '../protocol/index.js';
import { connectRoute, formatHostPort, quotedDetail, routeFromMiddleware, SshStepError, UnixForwardError, type SshLink } from '../ssh/index.js';
import { BotStreamOpener, type OpenedBotStream, type TransportUsed } from './bot-stream.js';
import { handshakeWithBot } from './bot-handshake.js';
import { NotOurBotError } from '../errors.js';
import { pingPayloadSchema, type PongPayload } from '../rpc/call-payload.js';
import { readBotSecret } from './bot-secret.js';
import { botSecretPath } from '../bot/paths.js';
import { describeRoute } from './route.js';

export interface CheckStep {
  readonly step: string;
  readonly target: string;
  readonly ms: number;
  readonly ok: boolean;
  readonly detail: string;
  /** On failure: what to look at. */
  readonly hint?: string;
}

export interface RouteCheckOptions {
  readonly queue: QueueConfig;
  readonly knownHostsFile: string;
  readonly factory: PluginFactory;
  readonly log: Logger;
  readonly onStep: (step: CheckStep) => void;
  readonly signal?: AbortSignal;
  /**
   * Record host keys that are neither in known_hosts nor pinned (`--accept-new-host-key`), each reported as a
   * 'host-key' step with its fingerprint. Without it such a key fails the hop, as in `harvester run`.
   */
  readonly acceptNewHostKeys?: boolean;
}

/** The cheapest call of each contract, with arguments that change nothing. */
const probes: { readonly [K in PluginKind]: { method: string; call: (p: ContractsByKind[K], ctx: PluginContext) => Promise<unknown> } } = {
  submitter: { method: 'submitWorkers([])', call: (p, ctx) => p.submitWorkers(ctx, []) },
  monitor: { method: 'checkWorkers([])', call: (p, ctx) => p.checkWorkers(ctx, []) },
  sweeper: { method: 'killWorkers([])', call: (p, ctx) => (p.killWorkers ? p.killWorkers(ctx, []) : Promise.resolve([])) },
  stager: { method: 'checkStageOutStatus(empty job)', call: (p, ctx) => p.checkStageOutStatus(ctx, new JobSpec({})) },
  preparator: { method: 'checkStageInStatus(empty job)', call: (p, ctx) => p.checkStageInStatus(ctx, new JobSpec({})) },
  messenger: { method: 'setupAccessPoints([])', call: (p, ctx) => p.setupAccessPoints(ctx, []) },
  workerMaker: { method: 'getNumJobsPerWorker(1)', call: (p, ctx) => p.getNumJobsPerWorker(ctx, 1) },
  throttler: { method: 'toBeThrottled()', call: (p, ctx) => p.toBeThrottled(ctx) },
};

/** The middleware elements the queue's plugin sections use, by key: empty for a queue that runs all locally. */
export function routedMiddlewares(queue: QueueConfig): Map<string, MiddlewareConfig> {
  const used = new Map<string, MiddlewareConfig>();
  for (const kind of pluginKinds) {
    const key = queue[kind]?.middleware;
    if (key !== undefined) used.set(key, queue.middlewares[key]!);
  }
  return used;
}

/** Runs every step for every middleware element the queue's sections use. Resolves to whether all passed. */
export async function checkQueueRoutes(opts: RouteCheckOptions): Promise<boolean> {
  const { queue } = opts;
  const used = routedMiddlewares(queue);
  const configStep = timer();
  if (used.size === 0) {
    opts.onStep({ ...configStep('config', queue.queueName), ok: false, detail: 'no plugin section of this queue has "middleware": nothing to test', hint: 'add "middleware": "rpc" to the sections that must run remotely' });
    return false;
  }
  opts.onStep({ ...configStep('config', queue.queueName), ok: true, detail: [...used].map(([key, mw]) => `${key}: ${describeRoute(mw)}`).join('; ') });
  for (const mw of used.values()) {
    if (!(await checkRoute(mw, opts))) return false;
  }
  return checkProbes(opts);
}

async function checkRoute(mw: MiddlewareConfig, opts: RouteCheckOptions): Promise<boolean> {
  const route = routeFromMiddleware(mw, { knownHostsFile: opts.knownHostsFile, acceptNewHostKeys: opts.acceptNewHostKeys === true });
  let link: SshLink;
  try {
    link = await connectRoute(route, {
      log: opts.log,
      signal: opts.signal,
      onHostKey: (accepted) => {
        if (accepted.how !== 'recorded') return;
        opts.onStep({
          step: 'host-key',
          target: formatHostPort(accepted.host, accepted.port),
          ms: 0,
          ok: true,
          detail: `new host key ${accepted.keyType} ${accepted.fingerprint} recorded in ${accepted.knownHostsFile} (compare it with the fingerprint the site publishes)`,
        });
      },
      onStep: (s) =>
        opts.onStep({
          step: s.step,
          target: `${s.user}@${s.host}:${s.port}`,
          ms: s.ms,
          ok: s.ok,
          detail: s.ok ? 'ok' : forQueue(s.error === undefined ? 'failed' : quotedDetail(s.error), opts.queue),
          ...(s.ok || !(s.error instanceof SshStepError) ? {} : { hint: forQueue(s.error.hint, opts.queue) }),
        }),
    });
  } catch (error) {
    // connectRoute reported the failing step through onStep; a failure before any step (key file) is reported here.
    if (error instanceof SshStepError && error.step === 'key-load') {
      // The jump host's key (jumpPrivateKey) can be the one at fault: name the file the error names.
      const keyPath = (error as { keyPath?: string }).keyPath ?? mw.privateKey ?? '';
      opts.onStep({ step: 'key-load', target: keyPath, ms: 0, ok: false, detail: quotedDetail(error), hint: error.hint });
    }
    return false;
  }
  let target = `${mw.sshUserName}@${mw.remoteHost}`;
  try {
    let step = timer();
    let opened: OpenedBotStream;
    try {
      opened = await new BotStreamOpener(mw, opts.log).open(link);
      target = `${mw.sshUserName}@${mw.remoteHost} ${describeUsed(opened.used)}`;
      opts.onStep({ ...step('bot-stream', target), ok: true, detail: `${opened.used.kind}: ${opened.used.why}` });
    } catch (error) {
      opts.onStep({
        ...step('bot-stream', `${target} (transport ${mw.transport})`),
        ok: false,
        detail: quotedDetail(error),
        hint:
          error instanceof UnixForwardError && error.prohibited
            ? error.hint
            : mw.launchBot
              ? 'launchBot is set: the herder will start the bot on the first call; run `harvester plugins try` to trigger it, or start it by hand'
              : `start the bot on ${mw.remoteHost}: ${mw.remoteCommand} --home ${mw.botHome} bot start --port ${mw.remoteBindPort} (or set "launchBot": true)`,
      });
      return false;
    }
    step = timer();
    let session: ClientSession;
    try {
      const secretFile = botSecretPath(mw.botHome);
      // Read once the bot said hello (a bot the stdio relay starts writes it as it starts).
      session = await handshakeWithBot(link, opened, mw, () => readBotSecret(link, secretFile));
      opts.onStep({ ...step('bot-hello-auth', target), ok: true, detail: `bot ${session.welcome.program.name} ${session.welcome.program.version}, protocol ${session.welcome.protocol}, started ${session.welcome.startedAt}` });
    } catch (error) {
      opts.onStep({ ...step('bot-hello-auth', target), ok: false, detail: message(error), hint:
          error instanceof NotOurBotError
            ? `what holds the port is not the bot: stop it, choose another remoteBindPort, or use "transport": "auto" (the bot's private unix socket)`
            : `the bot's secret is read over SFTP from ${botSecretPath(mw.botHome)} (relative to ${mw.sshUserName}'s home); check that the bot runs with --home ${mw.botHome} and the same harvester-ts version on both hosts` });
      return false;
    }
    step = timer();
    try {
      const reply = await session.call({ ping: true }, { deadlineMs: 10_000, method: 'ping' });
      const pong = reply.payload as unknown as PongPayload;
      opts.onStep({ ...step('no-op call', target), ok: pingPayloadSchema !== undefined && pong.pong === true, detail: `pong from pid ${pong.pid}, up ${pong.uptimeSeconds}s` });
    } catch (error) {
      opts.onStep({ ...step('no-op call', target), ok: false, detail: message(error), hint: 'see the bot log (<bot home>/logs/bot.log) on the remote host' });
      return false;
    } finally {
      session.close();
    }
    return true;
  } finally {
    link.close();
  }
}

async function checkProbes(opts: RouteCheckOptions): Promise<boolean> {
  const { queue } = opts;
  const controller = new AbortController();
  opts.signal?.addEventListener('abort', () => controller.abort(opts.signal?.reason), { once: true });
  const ctx: PluginContext = { queue, log: opts.log.child({ queue: queue.queueName, step: 'tunnel-test' }), signal: controller.signal };
  let allOk = true;
  for (const kind of pluginKinds) {
    const section = queue[kind];
    if (section?.middleware === undefined) continue;
    const step = timer();
    const probe = probes[kind] as { method: string; call: (p: unknown, ctx: PluginContext) => Promise<unknown> };
    try {
      const plugin = await opts.factory.forQueue(queue, kind);
      const result = await probe.call(plugin, ctx);
      opts.onStep({ ...step(`${kind} ${probe.method}`, section.name), ok: true, detail: summarize(result) });
    } catch (error) {
      allOk = false;
      opts.onStep({ ...step(`${kind} ${probe.method}`, section.name), ok: false, detail: message(error), hint: 'the route works: this is the plugin itself (see the bot log on the remote host)' });
    }
  }
  return allOk;
}

/** The transport's advice names no queue (routes are shared); here we know which one the operator tests. */
function forQueue(text: string, queue: QueueConfig): string {
  return text.replaceAll('--queue <queue>', `--queue ${queue.queueName}`);
}

function timer(): (step: string, target: string) => { step: string; target: string; ms: number } {
  const start = performance.now();
  return (step, target) => ({ step, target, ms: Math.round((performance.now() - start) * 10) / 10 });
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function summarize(value: unknown): string {
  const text = JSON.stringify(value) ?? 'undefined';
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function describeUsed(used: TransportUsed): string {
  switch (used.kind) {
    case 'unix':
      return `unix:${used.path}`;
    case 'tcp':
      return `127.0.0.1:${used.port}`;
    case 'stdio':
      return `stdio: ${used.command}`;
  }
}
