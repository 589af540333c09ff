import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleMark, packageRoot } from './package-location.js';

let cached: string | undefined;

/** The package version: fixed in the offline bundle, else read once from the package's package.json. */
export function programVersion(): string {
  if (bundleMark !== undefined) return bundleMark.version;
  if (cached === undefined) {
    const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };
    cached = pkg.version;
  }
  return cached;
}
