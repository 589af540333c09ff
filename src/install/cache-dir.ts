// Where built bundles and downloaded runtimes are kept between runs.
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/** $XDG_CACHE_HOME/harvester-ts (when set to an absolute path, as the XDG spec asks), else ~/.cache/harvester-ts. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  const xdg = env.XDG_CACHE_HOME;
  return join(xdg !== undefined && isAbsolute(xdg) ? xdg : join(home, '.cache'), 'harvester-ts');
}
