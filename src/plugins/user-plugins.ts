// User plugins: an ESM file named by path in a section's "module", exporting the class by its name (or as
// default). Loaded with dynamic import(); checked against the contract of the section's kind before use.
import { existsSync, realpathSync } from 'node:fs';
import { isAbsolute, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { contractMethods, snakeCase, type AnyPlugin } from './contracts.js';
import { PluginConstructionError, PluginContractError, PluginLoadError, type PluginRequestContext } from './errors.js';
import type { PluginOptions } from './options.js';

/** A section's module is a file path (not a harvester module path or our short name) when it looks like one. */
export function isFilePath(module: string): boolean {
  return isAbsolute(module) || module.includes('/') || module.includes('\\') || /\.(mjs|js|cjs)$/.test(module);
}

/** Where a relative path is looked for: each plugin directory in order; the working directory when none. */
export function candidatePaths(module: string, pluginDirs: readonly string[]): string[] {
  if (isAbsolute(module)) return [module];
  if (pluginDirs.length === 0) return [resolve(module)];
  return pluginDirs.map((dir) => resolve(dir, module));
}

export interface LocateOptions {
  /**
   * Only a file inside the plugin directories, found through its real path (symbolic links resolved), and
   * that real path is what is loaded. For the bot, where the section naming the module comes over the wire.
   */
  readonly confined?: boolean;
}

/** The module names a file outside the plugin directories (given as such, or reached through a link). */
export class PluginPathRefusedError extends PluginLoadError {}

/**
 * The file a section's module names: the first existing candidate, or a PluginLoadError naming every place
 * looked at. Confined (see LocateOptions), the real path of a file inside the plugin directories, or a
 * PluginPathRefusedError. loadUserPlugin loads exactly the file this returns: the check is the lookup.
 */
export function locatePluginFile(request: PluginRequestContext, pluginDirs: readonly string[], options: LocateOptions = {}): string {
  if (options.confined === true) return locateConfined(request, pluginDirs);
  const candidates = candidatePaths(request.module, pluginDirs);
  const found = candidates.find((path) => existsSync(path));
  if (found === undefined) {
    const where = isAbsolute(request.module) ? 'the file does not exist' : `not found in ${candidates.join(', ')}`;
    throw new PluginLoadError(request, request.module, where);
  }
  return found;
}

function locateConfined(request: PluginRequestContext, pluginDirs: readonly string[]): string {
  const shown = pluginDirs.join(', ') || 'none configured';
  const refuse = (file: string, why: string): PluginPathRefusedError =>
    new PluginPathRefusedError(request, file, `${why}; only files under the plugin directories (${shown}) are loaded`);
  if (pluginDirs.length === 0) throw refuse(request.module, 'no plugin directory is configured');
  const realDirs = pluginDirs.flatMap((dir) => {
    try {
      return [realpathSync(dir)];
    } catch {
      // A plugin directory that does not exist holds nothing.
      return [];
    }
  });
  const inside = (file: string): boolean => realDirs.some((dir) => file.startsWith(dir + sep));
  const candidates = isAbsolute(request.module) ? [resolve(request.module)] : pluginDirs.map((dir) => resolve(dir, request.module));
  for (const candidate of candidates) {
    // Judged by where it is named first (a relative path climbing out with ../ is refused even if it exists).
    if (!pluginDirs.some((dir) => candidate.startsWith(resolve(dir) + sep))) throw refuse(candidate, 'it is outside the plugin directories');
    let real: string;
    try {
      real = realpathSync(candidate);
    } catch {
      continue;
    }
    if (!inside(real)) throw refuse(candidate, `it resolves to ${real}, outside the plugin directories`);
    return real;
  }
  throw new PluginLoadError(request, request.module, `not found in ${candidates.join(', ')}`);
}

type Constructor = new (options: PluginOptions) => unknown;

async function importClass(request: PluginRequestContext, file: string): Promise<Constructor> {
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new PluginLoadError(request, file, reason, { cause: error });
  }
  const named = loaded[request.className];
  const candidate = named !== undefined ? named : loaded.default;
  if (typeof candidate !== 'function') {
    const exported = Object.keys(loaded).join(', ') || 'nothing';
    throw new PluginContractError(
      request,
      file,
      [request.className],
      `the module exports no class '${request.className}' and no default class (it exports: ${exported})`,
    );
  }
  return candidate as Constructor;
}

/** Required methods of the kind's contract that the instance lacks, with a hint when only harvester's spelling exists. */
export function missingContractMethods(kind: PluginRequestContext['kind'], instance: object): { missing: string[]; hints: string[] } {
  const missing: string[] = [];
  const hints: string[] = [];
  const record = instance as Record<string, unknown>;
  for (const method of contractMethods[kind]) {
    if (method.optional || typeof record[method.name] === 'function') continue;
    missing.push(method.name);
    if (typeof record[snakeCase(method.name)] === 'function') hints.push(`${snakeCase(method.name)} exists: name it ${method.name}`);
  }
  return { missing, hints };
}

export async function loadUserPlugin(
  request: PluginRequestContext,
  pluginDirs: readonly string[],
  options: PluginOptions,
  locate: LocateOptions = {},
): Promise<AnyPlugin> {
  const file = locatePluginFile(request, pluginDirs, locate);
  const PluginClass = await importClass(request, file);
  let instance: unknown;
  try {
    instance = new PluginClass(options);
  } catch (error) {
    throw new PluginConstructionError(request, { cause: error });
  }
  if (typeof instance !== 'object' || instance === null) {
    throw new PluginContractError(request, file, [request.className], 'the constructor did not return an object');
  }
  const { missing, hints } = missingContractMethods(request.kind, instance);
  if (missing.length > 0) {
    const hint = hints.length > 0 ? ` (${hints.join('; ')})` : '';
    throw new PluginContractError(
      request,
      file,
      missing,
      `lacks the ${request.kind} contract's method(s) ${missing.join(', ')}${hint}`,
    );
  }
  return instance as AnyPlugin;
}
