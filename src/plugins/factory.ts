// The plugin factory: turns a queue's plugin section into a plugin object. Built-ins answer to harvester's
// module paths and to our short names; a file path loads a user plugin; a section routed through a middleware
// element ("middleware": "rpc") is handed to the provider registered for that element (the RPC herder lives in
// a higher layer and registers itself here, so this layer never imports it).
import type { MiddlewareConfig, PluginSection, QueueConfig } from '../config/index.js';
import type { Logger } from '../logging/index.js';
import type { AnyPlugin, ContractsByKind, PluginKind } from './contracts.js';
import { closest } from './edit-distance.js';
import {
  MiddlewareUnavailableError,
  PluginConstructionError,
  PluginError,
  UnknownPluginError,
  type PluginRequestContext,
} from './errors.js';
import type { PluginOptions } from './options.js';
import { builtinPlugins, modulesOfKind, type BuiltinPluginInfo } from './registry.js';
import { isFilePath, loadUserPlugin, locatePluginFile } from './user-plugins.js';

export interface PluginRequest<K extends PluginKind = PluginKind> {
  readonly queueName: string;
  readonly kind: K;
  readonly section: PluginSection;
}

/** What a provider decides on: the middleware element's name and module, as the queue configuration spells them. */
export type MiddlewareIdentity = Pick<MiddlewareConfig, 'name' | 'module'>;

export interface MiddlewareWrapArgs<K extends PluginKind> {
  readonly queue: QueueConfig;
  readonly kind: K;
  readonly section: PluginSection;
  readonly middleware: MiddlewareConfig;
  /** Builds the plugin locally (memoized), for bareFunctions. */
  readonly bare: () => Promise<ContractsByKind[K]>;
}

export interface MiddlewareProvider {
  /** Whether this provider serves the element (e.g. module ending "rpc_herder" or name "RpcHerder"). */
  matches(middleware: MiddlewareIdentity): boolean;
  wrap<K extends PluginKind>(args: MiddlewareWrapArgs<K>): Promise<ContractsByKind[K]>;
}

interface ResolutionBase {
  /** Things an operator should fix although the plugin was found (e.g. the class lives in a sibling module). */
  readonly warnings: readonly string[];
}
export interface BuiltinResolution extends ResolutionBase {
  readonly source: 'builtin';
  readonly info: BuiltinPluginInfo;
}
export interface FileResolution extends ResolutionBase {
  readonly source: 'file';
  /** Absolute path of the plugin file that will be imported. */
  readonly file: string;
  readonly className: string;
}
export interface MiddlewareResolution extends ResolutionBase {
  readonly source: 'middleware';
  readonly provider: MiddlewareProvider;
}
export type Resolution = BuiltinResolution | FileResolution | MiddlewareResolution;

/** A section's verdict for `queues check`: what keeps it from working (unresolvable, bad options), and warnings. */
export interface PluginCheck {
  readonly warnings: readonly string[];
  readonly problems: readonly string[];
}

export interface PluginCheckOptions {
  /** Also let the plugin class check the section's options (default true; false when they were not read). */
  readonly checkOptions?: boolean;
}

export interface PluginFactoryOptions {
  /** Directories relative plugin file paths are looked up in, in order. */
  readonly pluginDirs?: readonly string[];
  /** Where resolution warnings go when plugins are created. */
  readonly log?: Logger;
}

function requestContext(request: PluginRequest): PluginRequestContext {
  return { queueName: request.queueName, kind: request.kind, module: request.section.module, className: request.section.name };
}

/** harvester passes the queue name to every plugin's constructor along with the section's keys. */
function constructorOptions(request: PluginRequest): PluginOptions {
  return { ...request.section.options, queueName: request.queueName };
}

export class PluginFactory {
  private readonly pluginDirs: readonly string[];
  private readonly log: Logger | undefined;
  private readonly providers: MiddlewareProvider[] = [];
  private readonly cache = new Map<string, Promise<AnyPlugin>>();

  constructor(options: PluginFactoryOptions = {}) {
    this.pluginDirs = [...(options.pluginDirs ?? [])];
    this.log = options.log;
  }

  registerMiddleware(provider: MiddlewareProvider): void {
    this.providers.push(provider);
  }

  /** Finds what a section names, without loading files or building anything. Throws PluginError subclasses. */
  resolve(request: PluginRequest): Resolution {
    const context = requestContext(request);
    const { module, name } = request.section;
    if (isFilePath(module)) {
      return { source: 'file', file: locatePluginFile(context, this.pluginDirs), className: name, warnings: [] };
    }
    const all = builtinPlugins();
    const sameKind = all.filter((p) => p.kind === request.kind);
    const exact = sameKind.find(
      (p) => p.className === name && (p.harvesterModule === module || p.shortModule === module || module === ''),
    );
    if (exact !== undefined) return { source: 'builtin', info: exact, warnings: [] };

    const byClass = sameKind.find((p) => p.className === name);
    if (byClass !== undefined && modulesOfKind(request.kind).has(module)) {
      // harvester's wiki seed asks for DummySingletonSubmitter in dummy_submitter's module: Python would fail to
      // import it there, we find it and say where it really lives.
      const right = module.startsWith('pandaharvester.') ? byClass.harvesterModule : byClass.shortModule;
      return {
        source: 'builtin',
        info: byClass,
        warnings: [
          `queue '${request.queueName}', section '${request.kind}': class '${name}' is not in module '${module}'; ` +
            `it is in '${right}' (using it from there)`,
        ],
      };
    }

    const provider = this.providers.find((p) => p.matches({ name, module }));
    if (provider !== undefined) return { source: 'middleware', provider, warnings: [] };

    throw new UnknownPluginError(context, this.suggestionsFor(request.kind, name, module));
  }

  private suggestionsFor(kind: PluginKind, className: string, module: string): string[] {
    const sameKind = builtinPlugins().filter((p) => p.kind === kind);
    const keyed = new Map<string, string>();
    for (const p of sameKind) {
      keyed.set(p.className, `${p.harvesterModule}.${p.className}`);
    }
    const byClass = closest(className, keyed.keys()).map((c) => keyed.get(c)!);
    // An exact class with a misspelt module: suggest the right module first.
    const exactClass = sameKind.find((p) => p.className === className);
    const byModule = exactClass === undefined ? [] : [`${exactClass.harvesterModule}.${exactClass.className}`];
    // A class of another kind asked for in this section.
    const otherKind = builtinPlugins().find((p) => p.kind !== kind && p.className === className);
    const wrongKind = otherKind === undefined ? [] : [`${otherKind.harvesterModule}.${otherKind.className} (a ${otherKind.kind} plugin)`];
    const moduleTail = module.split('.').pop() ?? module;
    const byModuleName = closest(moduleTail, sameKind.map((p) => p.shortModule)).flatMap((m) =>
      sameKind.filter((p) => p.shortModule === m).map((p) => `${p.harvesterModule}.${p.className}`),
    );
    return [...new Set([...byModule, ...wrongKind, ...byClass, ...byModuleName])].slice(0, 4);
  }

  /**
   * `resolve` as a verdict for `queues check`, never throwing for plugin-layer problems; for a built-in whose
   * class can check options (checkOptions), its verdict on the section's options too.
   */
  check(request: PluginRequest, opts: PluginCheckOptions = {}): PluginCheck {
    let resolution: Resolution;
    try {
      resolution = this.resolve(request);
    } catch (error) {
      if (error instanceof PluginError) return { warnings: [], problems: [error.message] };
      throw error;
    }
    if (resolution.source === 'middleware') {
      return {
        warnings: resolution.warnings,
        problems: [`'${request.section.name}' (${request.section.module}) is a middleware element, not a ${request.kind} plugin`],
      };
    }
    const pluginClass = resolution.source === 'builtin' ? resolution.info.pluginClass : undefined;
    if (opts.checkOptions === false || pluginClass?.checkOptions === undefined) return { warnings: resolution.warnings, problems: [] };
    const verdict = pluginClass.checkOptions(constructorOptions(request), { remote: request.section.middleware !== undefined });
    return { warnings: [...resolution.warnings, ...verdict.warnings], problems: [...verdict.problems] };
  }

  /** Whether a registered provider serves a queue's middleware element; the problem as text when none does. */
  checkMiddleware(middleware: MiddlewareConfig): string | undefined {
    if (this.providers.some((p) => p.matches(middleware))) return undefined;
    return (
      `middleware element '${middleware.key}': no provider for name '${middleware.name}', module '${middleware.module}'` +
      ` (${this.providers.length} provider(s) registered)`
    );
  }

  /** Builds a bare plugin (never through middleware). A new object on every call; forQueue caches. */
  async create<K extends PluginKind>(request: PluginRequest<K>): Promise<ContractsByKind[K]> {
    const resolution = this.resolve(request);
    for (const warning of resolution.warnings) this.log?.warn({ queue: request.queueName, kind: request.kind }, warning);
    const options = constructorOptions(request);
    switch (resolution.source) {
      case 'builtin': {
        try {
          return new resolution.info.pluginClass(options) as ContractsByKind[K];
        } catch (error) {
          throw new PluginConstructionError(requestContext(request), { cause: error });
        }
      }
      case 'file':
        return (await loadUserPlugin(requestContext(request), this.pluginDirs, options)) as ContractsByKind[K];
      case 'middleware':
        throw new PluginError(
          `queue '${request.queueName}', section '${request.kind}': '${request.section.name}' (${request.section.module}) ` +
            'is a middleware element; name it in a top-level element and refer to it with "middleware"',
          { callEffect: 'not-run' },
        );
    }
  }

  /**
   * The plugin of `kind` for a queue, cached per (queue, kind): undefined when the queue has no such section,
   * the bare plugin when the section names no middleware, the registered provider's wrapper when it does.
   */
  forQueue<K extends PluginKind>(queue: QueueConfig, kind: K): Promise<ContractsByKind[K] | undefined> {
    const section = queue[kind];
    if (section === undefined) return Promise.resolve(undefined);
    const key = `${queue.queueName}\u0000${kind}`;
    let pending = this.cache.get(key);
    if (pending === undefined) {
      pending = this.build(queue, kind, section);
      this.cache.set(key, pending);
      // A failed build is not cached: the next cycle tries again (the file may have been fixed meanwhile).
      pending.catch(() => {
        if (this.cache.get(key) === pending) this.cache.delete(key);
      });
    }
    return pending as Promise<ContractsByKind[K]>;
  }

  /** Drops cached plugins of a queue (all queues when no name), e.g. after the configuration was reloaded. */
  forget(queueName?: string): void {
    for (const key of [...this.cache.keys()]) {
      if (queueName === undefined || key.startsWith(`${queueName}\u0000`)) this.cache.delete(key);
    }
  }

  private async build<K extends PluginKind>(queue: QueueConfig, kind: K, section: PluginSection): Promise<AnyPlugin> {
    const request: PluginRequest<K> = { queueName: queue.queueName, kind, section };
    if (section.middleware === undefined) return this.create(request);
    const middleware = queue.middlewares[section.middleware];
    if (middleware === undefined) {
      const defined = Object.keys(queue.middlewares).join(', ') || 'none';
      throw new MiddlewareUnavailableError(queue.queueName, kind, section.middleware, `the queue defines no such element (defined: ${defined})`);
    }
    const provider = this.providers.find((p) => p.matches(middleware));
    if (provider === undefined) {
      throw new MiddlewareUnavailableError(
        queue.queueName,
        kind,
        section.middleware,
        `no middleware provider registered for name '${middleware.name}', module '${middleware.module}'`,
      );
    }
    let bare: Promise<ContractsByKind[K]> | undefined;
    return provider.wrap({
      queue,
      kind,
      section,
      middleware,
      bare: () => (bare ??= this.create(request)),
    });
  }
}
