// The bot's side of a plugin call: validate the payload, build (once, kept in a bounded cache) the plugin the
// section names — a built-in, or a file under the bot's own plugin directories, never an arbitrary module
// named on the wire — run the method, and send back the result together with the fields the plugin changed
// on each argument spec.
import type { Logger } from '../../logging/index.js';
import { builtinPlugins, resolveAccessPointsUnder, type PluginFactory } from '../../plugins/index.js';
import { isFilePath, loadUserPlugin, PluginPathRefusedError } from '../../plugins/user-plugins.js';
import { camelCase, contractMethods, type AnyPlugin, type PluginContext } from '../../plugins/contracts.js';
import { collectSpecs, decodeValues, encodeValue, SpecDecodeError, type JsonValue } from '../../spec/index.js';
import { MethodNotFoundError, RemoteMethodError } from '../errors.js';
import {
  callPayloadSchema,
  pingPayloadSchema,
  queueFromWire,
  sectionFromWire,
  WirePayloadError,
  type BotOffer,
  type CallPayload,
  type PongPayload,
  type ReplyPayload,
} from '../rpc/call-payload.js';
import type { PluginSection, QueueConfig } from '../../config/index.js';
import { jsonTextDepth, MAX_JSON_DEPTH } from '../protocol/json-depth.js';
import { DEFAULT_PLUGIN_CACHE_SIZE, PluginCache, type Lease } from './plugin-cache.js';

interface BuiltPlugin {
  readonly plugin: AnyPlugin;
  readonly section: PluginSection;
}

/** Distinct queue texts kept parsed; a herder sends one per queue (a new one after a config change). */
const QUEUE_CACHE_SIZE = 256;
/** Child loggers kept (one per queue and method). */
const LOGGER_CACHE_SIZE = 1024;

export interface BotDispatcherOptions {
  /** Built plugins kept (least recently used evicted first; one in use never). */
  readonly pluginCacheSize?: number;
}

export interface CallInfo {
  readonly id: string;
  readonly signal: AbortSignal;
}

export class BotDispatcher {
  /** By queue, kind and section text: the section text is the key as sent, so it is parsed only once. */
  private readonly plugins: PluginCache<BuiltPlugin>;
  /** Parsed queues by their text, oldest first (evicted beyond QUEUE_CACHE_SIZE). */
  private readonly queues = new Map<string, QueueConfig>();
  /** One child logger per queue and method: making one per call cost ~10% of a no-op call's CPU. */
  private readonly loggers = new Map<string, Logger>();

  constructor(
    private readonly factory: PluginFactory,
    private readonly pluginDirs: readonly string[],
    private readonly log: Logger,
    /** The bot's home: a relative access point a call carries is under it (plugins/access-point.ts). */
    private readonly home: string,
    options: BotDispatcherOptions = {},
  ) {
    this.plugins = new PluginCache(options.pluginCacheSize ?? DEFAULT_PLUGIN_CACHE_SIZE);
  }

  /** Built plugins held (for inspection and tests). */
  get cachedPlugins(): number {
    return this.plugins.size;
  }

  /** What the bot tells the herder in its welcome, so optional methods (killWorkers) fall back correctly. */
  offer(): BotOffer {
    return {
      plugins: builtinPlugins().map((p) => ({
        kind: p.kind,
        className: p.className,
        modules: [p.shortModule, p.harvesterModule],
        methods: contractMethods[p.kind]
          .filter((m) => typeof (p.pluginClass.prototype as Record<string, unknown>)[m.name] === 'function')
          .map((m) => m.name),
      })),
      pluginDirs: [...this.pluginDirs],
    };
  }

  readonly handle = async (raw: JsonValue, call: CallInfo): Promise<JsonValue> => {
    if (pingPayloadSchema.safeParse(raw).success) {
      const pong: PongPayload = { pong: true, pid: process.pid, uptimeSeconds: Math.round(process.uptime()) };
      return pong as unknown as JsonValue;
    }
    const parsed = callPayloadSchema.safeParse(raw);
    if (!parsed.success) {
      throw new RemoteMethodError(`malformed call payload: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, { callId: call.id }, { callEffect: 'not-run' });
    }
    const payload = parsed.data;
    const method = camelCase(payload.method);
    const context = { queue: payload.queueName, method: `${payload.kind}.${method}`, callId: call.id };
    if (!contractMethods[payload.kind].some((m) => m.name === method)) {
      throw new MethodNotFoundError(`${method} is not a method of the ${payload.kind} contract`, context);
    }
    const lease = this.pluginFor(payload, call.id);
    try {
      return await this.run(payload, call, context, await lease.value);
    } finally {
      lease.release();
    }
  };

  private async run(payload: CallPayload, call: CallInfo, context: { queue: string; method: string; callId: string }, built: BuiltPlugin): Promise<JsonValue> {
    const { plugin, section } = built;
    const method = camelCase(payload.method);
    const fn = (plugin as unknown as Record<string, unknown>)[method];
    if (typeof fn !== 'function') {
      throw new MethodNotFoundError(`${section.name} has no method ${method}`, context);
    }
    const decodeStart = performance.now();
    const args = wireInput(() => decodeValues(payload.args), call.id);
    // Collected before the call: the plugin may replace nested arrays, but these are the objects the caller holds.
    const specs = collectSpecs(args);
    // Before tracking changes: the core keeps the relative value, this side's meaning of it is not sent back.
    resolveAccessPointsUnder(this.home, specs);
    for (const spec of specs) spec.resetChanges();
    const ctx: PluginContext = {
      queue: this.queueFor(payload, call.id),
      log: this.loggerFor(payload.queueName, context.method),
      signal: call.signal,
    };
    const pluginStart = performance.now();
    const value = (await (fn as (...a: unknown[]) => Promise<unknown>).call(plugin, ctx, ...args)) as unknown;
    const encodeStart = performance.now();
    const encoded = encodeValue(value);
    const mutations = specs.map((s) => (s.hasChanges() ? s.getChanges() : null)) as ReplyPayload['mutations'];
    const reply: ReplyPayload = {
      value: encoded,
      botTimes: { decodeMs: pluginStart - decodeStart, pluginMs: encodeStart - pluginStart, encodeMs: performance.now() - encodeStart },
      mutations,
    };
    return reply as unknown as JsonValue;
  }

  private loggerFor(queue: string, method: string): Logger {
    const key = `${queue}\u0000${method}`;
    let log = this.loggers.get(key);
    if (log === undefined) {
      log = this.log.child({ queue, method });
      if (this.loggers.size >= LOGGER_CACHE_SIZE) this.loggers.delete(this.loggers.keys().next().value!);
      this.loggers.set(key, log);
    }
    return log;
  }

  private queueFor(payload: CallPayload, callId: string): QueueConfig {
    let queue = this.queues.get(payload.queue);
    if (queue === undefined) {
      queue = wireInput(() => queueFromWire(shallowText(payload.queue, 'queue')), callId);
      if (this.queues.size >= QUEUE_CACHE_SIZE) this.queues.delete(this.queues.keys().next().value!);
      this.queues.set(payload.queue, queue);
    }
    return queue;
  }

  private pluginFor(payload: CallPayload, callId: string): Lease<BuiltPlugin> {
    const key = `${payload.queueName}\u0000${payload.kind}\u0000${payload.section}`;
    return this.plugins.acquire(key, () => {
      const section = wireInput(() => sectionFromWire(shallowText(payload.section, 'section')), callId);
      return this.build(payload, section).then((plugin) => ({ plugin, section }));
    });
  }

  /**
   * A built-in through the factory; a file only from the bot's plugin directories: the path is resolved
   * (links included) and checked by the very lookup that gives loadUserPlugin the file it imports.
   */
  private async build(payload: CallPayload, section: PluginSection): Promise<AnyPlugin> {
    if (!isFilePath(section.module)) return (await this.factory.create({ queueName: payload.queueName, kind: payload.kind, section })) as AnyPlugin;
    const request = { queueName: payload.queueName, kind: payload.kind, module: section.module, className: section.name };
    try {
      return await loadUserPlugin(request, this.pluginDirs, { ...section.options, queueName: payload.queueName }, { confined: true });
    } catch (error) {
      if (!(error instanceof PluginPathRefusedError)) throw error;
      throw new MethodNotFoundError(
        `refusing to load plugin module '${section.module}': ${error.message}`,
        { queue: payload.queueName, method: `${payload.kind}.${payload.method}` },
        { cause: error },
      );
    }
  }
}

/**
 * A section or queue travels as JSON text inside the frame, out of reach of the frame's depth check; parsing
 * and freezing it walk it recursively, so its own depth is checked first.
 */
function shallowText(text: string, what: string): string {
  if (jsonTextDepth(text) > MAX_JSON_DEPTH) throw new WirePayloadError(`${what}: nests arrays or objects deeper than ${MAX_JSON_DEPTH} levels`);
  return text;
}

/**
 * Parses a section, queue or the arguments of a call; a malformed one fails the call as malformed, naming
 * what is wrong. The plugin has not run yet.
 */
function wireInput<T>(parse: () => T, callId: string): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof WirePayloadError || error instanceof SpecDecodeError) {
      throw new RemoteMethodError(`malformed call payload: ${error.message}`, { callId }, { cause: error, callEffect: 'not-run' });
    }
    throw error;
  }
}
