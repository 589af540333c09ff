// The middleware layer's public face for the layers above (store, agents, cli).
import type { Logger } from '../logging/index.js';
import type { PluginFactory } from '../plugins/index.js';
import { RpcMiddlewareProvider } from './herder/rpc-provider.js';

export { describeRoute } from './herder/route.js';
export { BotClient } from './herder/bot-client.js';
export { RpcMiddlewareProvider } from './herder/rpc-provider.js';
export * from './errors.js';

export interface MiddlewareSetup {
  readonly master: { readonly knownHostsFile: string };
  readonly log: Logger;
}

/**
 * Registers every middleware this build knows (today: harvester's RpcHerder) with a plugin factory.
 * Returns how to stop what they start (tunnel pools); safe to call twice.
 */
export function registerMiddlewareProviders(factory: PluginFactory, setup: MiddlewareSetup): () => Promise<void> {
  const rpc = new RpcMiddlewareProvider({ knownHostsFile: setup.master.knownHostsFile, log: setup.log });
  factory.registerMiddleware(rpc);
  return () => rpc.close();
}
