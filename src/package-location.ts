// Where this copy of harvester-ts runs from: the package (tsc's dist/ with examples/ and package.json beside
// it), or the one-file offline bundle `harvester bundle` builds (lib/harvester.mjs, examples/ beside lib/).
// The bundle is marked by esbuild defining HARVESTER_BUNDLE. Code that finds the package's own files asks
// here instead of resolving import.meta.url itself: in the bundle every module shares the bundle's URL.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Defined by esbuild when the offline bundle is built (src/install/js-bundle.ts); undeclared otherwise. */
declare const HARVESTER_BUNDLE: BundleMark | undefined;

export interface BundleMark {
  /** The package version, fixed at bundle time (the bundle has no package.json). */
  readonly version: string;
}

/** What the bundle was built with, when this code runs from the offline bundle; undefined otherwise. */
export const bundleMark: BundleMark | undefined = typeof HARVESTER_BUNDLE === 'undefined' ? undefined : HARVESTER_BUNDLE;

/** Whether this code runs from the offline bundle. */
export const runningBundled: boolean = bundleMark !== undefined;

/**
 * The package root: the directory holding dist/ (this module is dist/src/package-location.js), or, in the
 * bundle, the bundle's root (the bundle is <root>/lib/harvester.mjs).
 */
export const packageRoot: string = fileURLToPath(new URL(bundleMark === undefined ? '../..' : '..', import.meta.url));

/** The script `node` runs for the `harvester` command: dist/src/cli/main.js, or the bundle itself. */
export const entryScript: string = bundleMark === undefined ? join(packageRoot, 'dist', 'src', 'cli', 'main.js') : fileURLToPath(import.meta.url);

/** The examples shipped with the package (queue configurations, the SLURM template). */
export const examplesDir: string = join(packageRoot, 'examples');
