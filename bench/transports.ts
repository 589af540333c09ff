// The ways the benchmark reaches the plugins: bare, through the herder to a bot in this process over
// loopback TCP (no SSH), and through the herder over real SSH (loopback sshd or the jump host). Each opens
// with its tunnels already up, so no measured run pays for connecting.
import { join } from 'node:path';
import type { Logger } from '../src/logging/index.js';
import { RpcMiddlewareProvider } from '../src/middleware/herder/rpc-provider.js';
import type { BotClient } from '../src/middleware/herder/bot-client.js';
import { PluginFactory } from '../src/plugins/index.js';
import { startLocalBot } from '../test/support/local-bot.js';
import type { Transport } from './results.js';
import { benchPlugins, benchQueue, cheapCall, type BenchPlugins } from './workload.js';

export interface OpenTransport {
  readonly transport: Transport;
  readonly plugins: BenchPlugins;
  /** The herder's client, for middleware transports. */
  readonly client?: BotClient;
  close(): Promise<void>;
}

/**
 * Tunnels that came up again after being lost since the transport opened (0 for bare). Non-zero means a
 * run paid for reconnecting: on the shared testbed, another test may stop and start an sshd.
 */
export function reconnects(open: OpenTransport): number {
  if (open.client === undefined) return 0;
  const slots = open.client.status();
  return slots.reduce((sum, slot) => sum + slot.connects, 0) - slots.length;
}

/** The pool did not bring all its tunnels up in time. */
export class TunnelsNotUpError extends Error {
  constructor(
    readonly route: string,
    readonly states: string,
  ) {
    super(`not every tunnel to ${route} came up within 30 s: ${states}`);
    this.name = 'TunnelsNotUpError';
  }
}

export async function openBare(log: Logger): Promise<OpenTransport> {
  const factory = new PluginFactory({ log });
  const plugins = await benchPlugins(factory, benchQueue('bench_bare'), log);
  return { transport: 'bare', plugins, close: async () => undefined };
}

export async function openTcpLoopback(log: Logger, numTunnels: number): Promise<OpenTransport> {
  const bot = await startLocalBot('loopback', { log });
  try {
    const queue = benchQueue('bench_tcp', bot.rpc({ numTunnels }));
    const plugins = await benchPlugins(bot.factory, queue, log);
    const client = bot.provider.clientFor(queue.middlewares['rpc']!);
    await warmUp(plugins, client);
    return { transport: 'tcp-loopback', plugins, client, close: () => bot.close() };
  } catch (error) {
    await bot.close();
    throw error;
  }
}

/** Through the production SSH transport; `rpc` is the queue's "rpc" element. */
export async function openSsh(transport: 'ssh-loopback' | 'ssh-jump' | 'ssh-jump-tcp' | 'ssh-jump-stdio', rpc: Record<string, unknown>, scratch: string, log: Logger): Promise<OpenTransport> {
  const provider = new RpcMiddlewareProvider({ knownHostsFile: join(scratch, `known_hosts-${transport}`), log });
  try {
    const factory = new PluginFactory({ log });
    factory.registerMiddleware(provider);
    const queue = benchQueue(`bench_${transport.replaceAll('-', '_')}`, rpc);
    const plugins = await benchPlugins(factory, queue, log);
    const client = provider.clientFor(queue.middlewares['rpc']!);
    await warmUp(plugins, client);
    return { transport, plugins, client, close: () => provider.close() };
  } catch (error) {
    await provider.close();
    throw error;
  }
}

/** One call (starts the pool), then waits until every slot is up. */
async function warmUp(plugins: BenchPlugins, client: BotClient): Promise<void> {
  await cheapCall(plugins);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const slots = client.status();
    if (slots.every((s) => s.state === 'up')) return;
    if (Date.now() > deadline) throw new TunnelsNotUpError(client.description, slots.map((s) => `slot ${s.slot} ${s.state}`).join(', '));
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A note when the transport's tunnels had to reconnect during its runs. */
export function reconnectNote(open: OpenTransport): string[] {
  const count = reconnects(open);
  return count > 0
    ? [`${open.transport}: ${count} tunnel reconnect(s) during the runs (an sshd restarted: another test on the shared testbed?); its numbers include them`]
    : [];
}
