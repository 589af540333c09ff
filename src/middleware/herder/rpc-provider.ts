// Plugs the RPC herder into the plugin factory: every section with "middleware": "<key>" whose element is
// harvester's RpcHerder (module ...harvestermiddleware.rpc_herder) is answered by a remote-plugin proxy.
// Clients (and so tunnel pools) are shared by route: queues that go the same way share one pool.
import type { MiddlewareConfig } from '../../config/index.js';
import type { Logger } from '../../logging/index.js';
import type { ContractsByKind, PluginKind } from '../../plugins/contracts.js';
import type { MiddlewareProvider, MiddlewareWrapArgs } from '../../plugins/index.js';
import { routeKey, routeFromMiddleware, type LinkConnector } from '../ssh/index.js';
import type { BotLink } from './bot-link.js';
import { BotClient } from './bot-client.js';
import { remotePlugin } from './remote-plugin.js';

export const rpcHerderModules = ['pandaharvester.harvestermiddleware.rpc_herder', 'rpc_herder'] as const;

export interface RpcProviderOptions {
  readonly knownHostsFile: string;
  readonly log: Logger;
  /** Default SSH; tests and benchmarks pass local links (see bot-link.ts). */
  readonly connect?: LinkConnector<BotLink>;
}

export class RpcMiddlewareProvider implements MiddlewareProvider {
  readonly name = 'RpcHerder';
  readonly modules = rpcHerderModules;
  private readonly clients = new Map<string, BotClient>();

  constructor(private readonly opts: RpcProviderOptions) {}

  matches(mw: MiddlewareConfig): boolean {
    return mw.name === 'RpcHerder' || mw.module.endsWith('rpc_herder');
  }

  /**
   * The client for a route and bot, created on first use and shared afterwards. The key holds the SSH route
   * and every setting of the bot's side: two queues that name another botHome or launch command must not
   * share a client (it would read the wrong secret, or start the wrong bot).
   */
  clientFor(mw: MiddlewareConfig): BotClient {
    const bot = [mw.botHome, mw.remoteCommand, mw.remoteSetup ?? '', String(mw.launchBot), String(mw.connectTimeout), mw.transport].join('\u0000');
    const key = `${routeKey(routeFromMiddleware(mw, { knownHostsFile: this.opts.knownHostsFile }))}\u0000${bot}`;
    let client = this.clients.get(key);
    if (client === undefined) {
      client = new BotClient(mw, this.opts);
      this.clients.set(key, client);
    }
    return client;
  }

  /** The clients made so far, one per route and bot (metrics, `harvester status`). */
  routes(): readonly BotClient[] {
    return [...this.clients.values()];
  }

  async wrap<K extends PluginKind>(args: MiddlewareWrapArgs<K>): Promise<ContractsByKind[K]> {
    return remotePlugin({
      queue: args.queue,
      kind: args.kind,
      section: args.section,
      client: this.clientFor(args.middleware),
      bare: args.bare,
      callTimeoutMs: args.middleware.callTimeout * 1000,
    });
  }

  async close(): Promise<void> {
    const clients = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(clients.map((c) => c.stop()));
  }
}
