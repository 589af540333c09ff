// The middleware layer's public face for the layers above (store, agents, cli).
import type { Logger } from '../logging/index.js';
import type { PluginFactory } from '../plugins/index.js';
import { RpcMiddlewareProvider } from './herder/rpc-provider.js';

export { describeRoute, routeLabel } from './herder/route.js';
export { BotClient, type BotClientSnapshot, type BotHealthSample } from './herder/bot-client.js';
import type { BotClient } from './herder/bot-client.js';
export { RpcMiddlewareProvider } from './herder/rpc-provider.js';
export * from './errors.js';

export interface MiddlewareSetup {
  readonly master: { readonly knownHostsFile: string };
  readonly log: Logger;
}

export interface RegisteredMiddleware {
  /** Stops what the providers started (tunnel pools); safe to call twice. */
  close(): Promise<void>;
  /** The routes' clients made so far (metrics, `harvester status`). */
  routes(): readonly BotClient[];
}

/** Registers every middleware this build knows (today: harvester's RpcHerder) with a plugin factory. */
export function registerMiddlewareProviders(factory: PluginFactory, setup: MiddlewareSetup): RegisteredMiddleware {
  const rpc = new RpcMiddlewareProvider({ knownHostsFile: setup.master.knownHostsFile, log: setup.log });
  factory.registerMiddleware(rpc);
  return { close: () => rpc.close(), routes: () => rpc.routes() };
}
