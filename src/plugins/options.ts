// Reading a plugin section's options (harvester's **kwarg) with their types checked, so a typo'd type in
// panda_queueconfig.json is a clear error at construction instead of a surprise in the middle of a cycle.
import { PluginOptionError } from './errors.js';

/** What a plugin's constructor receives: the section's options plus harvester's `queueName`. */
export type PluginOptions = Readonly<Record<string, unknown>>;

export class OptionReader {
  constructor(
    private readonly plugin: string,
    private readonly options: PluginOptions,
  ) {}

  string(name: string, fallback: string): string;
  string(name: string): string | undefined;
  string(name: string, fallback?: string): string | undefined {
    const value = this.options[name];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'string') throw new PluginOptionError(this.plugin, name, `must be a string, got ${typeof value}`);
    return value;
  }

  number(name: string, fallback: number): number;
  number(name: string): number | undefined;
  number(name: string, fallback?: number): number | undefined {
    const value = this.options[name];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new PluginOptionError(this.plugin, name, `must be a number, got ${JSON.stringify(value)}`);
    }
    return value;
  }

  boolean(name: string, fallback: boolean): boolean {
    const value = this.options[name];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'boolean') throw new PluginOptionError(this.plugin, name, `must be true or false, got ${JSON.stringify(value)}`);
    return value;
  }

  stringList(name: string, fallback: readonly string[]): readonly string[];
  stringList(name: string): readonly string[] | undefined;
  stringList(name: string, fallback?: readonly string[]): readonly string[] | undefined {
    const value = this.options[name];
    if (value === undefined || value === null) return fallback;
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
      throw new PluginOptionError(this.plugin, name, 'must be a list of strings');
    }
    return value as string[];
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.string(name, fallback);
    if (!(allowed as readonly string[]).includes(value)) {
      throw new PluginOptionError(this.plugin, name, `must be one of ${allowed.join(', ')}, got '${value}'`);
    }
    return value as T;
  }

  raw(name: string): unknown {
    return this.options[name];
  }
}

/** Where a section's plugin will run, for a plugin's own option check. */
export interface OptionsCheckContext {
  /** The section runs through a middleware element: files it names are on the remote host. */
  readonly remote: boolean;
}

/** A plugin's verdict on a section's options for `queues check`, before anything runs. */
export interface OptionsCheck {
  readonly problems: readonly string[];
  readonly warnings: readonly string[];
}

/** An options check that builds the plugin: what its constructor refuses (a PluginOptionError) is a problem. */
export function constructionCheck(build: () => unknown): OptionsCheck {
  try {
    build();
    return { problems: [], warnings: [] };
  } catch (error) {
    if (error instanceof PluginOptionError) return { problems: [error.message], warnings: [] };
    throw error;
  }
}
