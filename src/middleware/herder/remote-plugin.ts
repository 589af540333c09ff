// The RPC herder: ONE generic proxy that implements every plugin contract (driven by `contractMethods`),
// instead of a hand-written forwarding method per contract method. A method listed in the section's
// bareFunctions runs locally on the bare plugin; every other method is one round trip to the bot, after
// which the fields the remote plugin changed are applied to the caller's own spec objects.
import type { PluginSection, QueueConfig } from '../../config/index.js';
import {
  contractMethods,
  optionalMethodFallbacks,
  type ContractsByKind,
  type PluginContext,
  type PluginKind,
} from '../../plugins/contracts.js';
import { collectSpecs, decodeValue, encodeValues, isPlainObject, SpecDecodeError, type EncodedFields, type Spec } from '../../spec/index.js';
import { MethodNotFoundError, ProtocolError } from '../errors.js';
import { pluginTarget } from '../rpc/call-payload.js';
import type { BotClient } from './bot-client.js';

export interface RemotePluginArgs<K extends PluginKind> {
  readonly queue: QueueConfig;
  readonly kind: K;
  readonly section: PluginSection;
  readonly client: BotClient;
  /** Builds the bare (local) plugin from the section's own settings, for bareFunctions. */
  readonly bare: () => Promise<ContractsByKind[K]>;
  /** Deadline of one remote call in ms. */
  readonly callTimeoutMs: number;
}

type AnyMethod = (ctx: PluginContext, ...args: unknown[]) => Promise<unknown>;

export function remotePlugin<K extends PluginKind>(args: RemotePluginArgs<K>): ContractsByKind[K] {
  const { queue, kind, section, client } = args;
  const bareFunctions = new Set(section.bareFunctions);
  const wire = pluginTarget(queue, kind, section);
  let barePlugin: Promise<ContractsByKind[K]> | undefined;
  const methods = new Map<string, AnyMethod | undefined>();

  const runBare = (method: string): AnyMethod => async (ctx, ...rest) => {
    barePlugin ??= args.bare();
    const plugin = (await barePlugin) as unknown as Record<string, unknown>;
    const fn = plugin[method];
    if (typeof fn !== 'function') {
      throw new MethodNotFoundError(`bare function ${method} is not a method of ${section.name}`, { queue: queue.queueName, method: `${kind}.${method}` });
    }
    return (fn as AnyMethod).call(plugin, ctx, ...rest);
  };

  const runRemote = (method: string): AnyMethod => {
    const qualified = `${kind}.${method}`;
    return async (ctx, ...rest) => {
      const encodeStart = performance.now();
      const specs = collectSpecs(rest);
      const payload = { ...wire, method, args: encodeValues(rest) };
      const callStart = performance.now();
      const reply = await client.call(payload, { deadlineMs: args.callTimeoutMs, signal: ctx.signal, method: qualified, queue: queue.queueName });
      const applyStart = performance.now();
      applyMutations(specs, reply.mutations, { queue: queue.queueName, method: qualified });
      const value = decodeValue(reply.value);
      client.reportTiming(ctx.log, {
        queue: queue.queueName,
        method: qualified,
        specs: specs.length,
        herderEncodeMs: callStart - encodeStart,
        roundTripMs: applyStart - callStart,
        herderApplyMs: performance.now() - applyStart,
        bot: reply.botTimes,
      });
      return value;
    };
  };

  /**
   * An optional method the bot's plugin lacks falls back on the required ones, through this same proxy. The
   * bot's offer says which built-ins have it; for a plugin the offer does not list (one from the bot's plugin
   * directories), the first MethodNotFoundError decides, and is remembered.
   */
  const lacking = new Set<string>();
  const runOptional = (method: string, remote: AnyMethod): AnyMethod => async (ctx, ...rest) => {
    const fallback = optionalMethodFallbacks[kind]?.[method];
    const runFallback = (): Promise<unknown> => {
      if (fallback === undefined) throw new MethodNotFoundError(`${section.name} on the bot has no ${method}`, { queue: queue.queueName, method: `${kind}.${method}` });
      return fallback(proxy as never, ctx, ...(rest as never[]));
    };
    if (lacking.has(method)) return runFallback();
    const offered = await client.offers(section, kind, method, ctx.signal);
    if (offered === false) {
      lacking.add(method);
      return runFallback();
    }
    try {
      return await remote(ctx, ...rest);
    } catch (error) {
      if (offered === undefined && error instanceof MethodNotFoundError) {
        lacking.add(method);
        return runFallback();
      }
      throw error;
    }
  };

  const proxy = new Proxy(Object.create(null) as object, {
    get(_target, property) {
      if (typeof property !== 'string') return undefined;
      if (methods.has(property)) return methods.get(property);
      const spec = contractMethods[kind].find((m) => m.name === property);
      let fn: AnyMethod | undefined;
      if (spec === undefined) fn = undefined;
      else if (bareFunctions.has(property)) fn = runBare(property);
      else if (spec.optional) fn = runOptional(property, runRemote(property));
      else fn = runRemote(property);
      methods.set(property, fn);
      return fn;
    },
    has(_target, property) {
      return typeof property === 'string' && contractMethods[kind].some((m) => m.name === property);
    },
  });
  return proxy as ContractsByKind[K];
}

/**
 * Applies the bot's per-spec changes to the caller's own specs (same order: the codec's collectSpecs). The
 * reply's shape is checked before anything is applied; a value that does not fit its field fails the call as
 * a ProtocolError (each spec's changes are checked as a whole, so no spec is left half-changed). The method
 * ran on the bot whatever its reply looks like, so these errors say 'may-have-run'.
 */
export function applyMutations(specs: readonly Spec[], mutations: readonly unknown[], context: { queue: string; method: string }): void {
  const ran = { callEffect: 'may-have-run' } as const;
  if (mutations.length !== specs.length) {
    throw new ProtocolError(`the bot returned changes for ${mutations.length} specs, the call carried ${specs.length}`, context, ran);
  }
  const bad = mutations.findIndex((changes) => changes !== null && !isPlainObject(changes));
  if (bad >= 0) throw new ProtocolError(`malformed reply: the changes of spec ${bad} are neither null nor an object`, context, ran);
  mutations.forEach((changes, i) => {
    if (changes === null) return;
    try {
      specs[i]!.applyChanges(changes as EncodedFields);
    } catch (error) {
      if (!(error instanceof SpecDecodeError)) throw error;
      throw new ProtocolError(`malformed reply: the changes of spec ${i} do not fit it: ${error.message}`, context, { ...ran, cause: error });
    }
  });
}
