// Typed errors of the plugin layer. Each carries what an operator needs to fix the configuration or the
// plugin file: the queue, the section (kind key), the module and class asked for.
import type { CallEffect } from './call-effect.js';
import type { PluginKind } from './contracts.js';

export interface PluginRequestContext {
  readonly queueName: string;
  readonly kind: PluginKind;
  readonly module: string;
  readonly className: string;
}

/** Base class, so callers can catch every plugin-layer failure at once. */
export class PluginError extends Error {
  /**
   * What the call this error ended may have done (see call-effect.ts). By default 'may-have-run': an error a
   * method raises may come half-way through its work. The errors raised while finding, loading or building
   * a plugin, before any of its methods ran, say 'not-run' (their classes below, or the raise site).
   */
  readonly callEffect: CallEffect;

  constructor(message: string, options?: ErrorOptions & { readonly callEffect?: CallEffect }) {
    super(message, options);
    this.name = new.target.name;
    this.callEffect = options?.callEffect ?? 'may-have-run';
  }
}

/** Raised before any method of the plugin ran. */
const beforeAnyMethod: CallEffect = 'not-run';

/** A section names a plugin that is neither built in nor a loadable file. */
export class UnknownPluginError extends PluginError {
  override readonly callEffect: CallEffect = beforeAnyMethod;

  constructor(
    readonly request: PluginRequestContext,
    /** Closest known "module:Class" names, best first. */
    readonly suggestions: readonly string[],
  ) {
    const hint = suggestions.length > 0 ? `; did you mean ${suggestions.map((s) => `'${s}'`).join(' or ')}?` : '';
    super(
      `queue '${request.queueName}', section '${request.kind}': unknown plugin class '${request.className}' in module '${request.module}'${hint}`,
    );
  }
}

/** A user plugin file could not be imported (missing, syntax error, throws at load). */
export class PluginLoadError extends PluginError {
  override readonly callEffect: CallEffect = beforeAnyMethod;

  constructor(
    readonly request: PluginRequestContext,
    readonly file: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(
      `queue '${request.queueName}', section '${request.kind}': cannot load plugin file '${file}' (class '${request.className}'): ${reason}`,
      options,
    );
  }
}

/** A user plugin file loaded, but does not provide a usable class honouring the contract of its kind. */
export class PluginContractError extends PluginError {
  override readonly callEffect: CallEffect = beforeAnyMethod;

  constructor(
    readonly request: PluginRequestContext,
    readonly file: string,
    /** What is missing: the class itself, or the names of required contract methods. */
    readonly missing: readonly string[],
    detail: string,
  ) {
    super(`queue '${request.queueName}', section '${request.kind}': plugin file '${file}', class '${request.className}': ${detail}`);
  }
}

/** The plugin's constructor threw. */
export class PluginConstructionError extends PluginError {
  override readonly callEffect: CallEffect = beforeAnyMethod;

  constructor(
    readonly request: PluginRequestContext,
    options?: ErrorOptions,
  ) {
    const cause = options?.cause instanceof Error ? options.cause.message : String(options?.cause);
    super(
      `queue '${request.queueName}', section '${request.kind}': constructing '${request.className}' of '${request.module}' failed: ${cause}`,
      options,
    );
  }
}

/** A section routes through a middleware element that no provider serves, or that the queue does not define. */
export class MiddlewareUnavailableError extends PluginError {
  override readonly callEffect: CallEffect = beforeAnyMethod;

  constructor(
    readonly queueName: string,
    readonly kind: PluginKind,
    readonly middleware: string,
    detail: string,
  ) {
    super(`queue '${queueName}', section '${kind}': middleware '${middleware}': ${detail}`);
  }
}

/** A plugin call stopped because ctx.signal was aborted, where the contract has no Outcome to say "retry". */
export class PluginAbortedError extends PluginError {
  constructor(
    readonly queueName: string,
    readonly step: string,
    options?: ErrorOptions,
  ) {
    super(`queue '${queueName}': ${step} aborted`, options);
  }
}

/** A built-in plugin was given an option of the wrong type or value. */
export class PluginOptionError extends PluginError {
  constructor(
    readonly plugin: string,
    readonly option: string,
    detail: string,
  ) {
    super(`plugin '${plugin}': option '${option}' ${detail}`);
  }
}
