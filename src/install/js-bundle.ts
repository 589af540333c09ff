// lib/harvester.mjs: the whole CLI in one ESM file, bundled by esbuild from tsc's output (dist/), so it works
// from an installed package as well as from a checkout. What cannot travel in one file stays out:
// better-sqlite3 (native; the store is for the core, and the CLI loads it only when a command opens a store),
// the server stores' drivers pg (with its optional pg-native) and mariadb (the same: core only, loaded when a
// store is opened),
// ssh2's optional native parts (cpu-features, sshcrypto.node: ssh2 loads them in try/catch and falls back to
// JavaScript), and esbuild itself (a native binary; only `harvester bundle` uses it).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { BundleError } from './errors.js';
import { compareNames } from './manifest.js';

export interface JsBundle {
  /** lib/harvester.mjs */
  readonly code: string;
  /** lib/THIRD-PARTY-NOTICES.txt: name, version, license and license text of every package bundled in. */
  readonly notices: string;
}

/** Packages left out of the bundle (see above); the CLI runs without them. */
export const bundleExternals = ['better-sqlite3', 'pg', 'pg-native', 'mariadb', 'cpu-features', 'esbuild', '*.node'] as const;

/**
 * CommonJS packages (ssh2, pino, commander...) call require() for Node's built-ins; in an ESM file esbuild's
 * stand-in require throws "Dynamic require of X is not supported" unless a real one is in scope. They also
 * read __dirname/__filename (ssh2's poly1305 does as it loads: "__dirname is not defined"), which ESM lacks:
 * those of the bundle file.
 */
const commonJsBanner = [
  "import { createRequire as __harvesterCreateRequire } from 'node:module';",
  "import { dirname as __harvesterDirname } from 'node:path';",
  "import { fileURLToPath as __harvesterFileURLToPath } from 'node:url';",
  'const require = __harvesterCreateRequire(import.meta.url);',
  'const __filename = __harvesterFileURLToPath(import.meta.url);',
  'const __dirname = __harvesterDirname(__filename);',
].join('\n');

/** The entry point, relative to the package root. */
export const CLI_ENTRY = join('dist', 'src', 'cli', 'main.js');

export async function bundleCli(packageRoot: string, version: string): Promise<JsBundle> {
  const entry = join(packageRoot, CLI_ENTRY);
  if (!existsSync(entry)) throw new BundleError('js-bundle', `${entry} is missing: build first (npm run build in ${packageRoot})`);
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch (error) {
    throw new BundleError('js-bundle', `esbuild cannot be loaded (${error instanceof Error ? error.message : String(error)}): install harvester-ts with its dependencies (npm ci)`, {
      cause: error,
    });
  }
  let result: import('esbuild').BuildResult<{ write: false; metafile: true }>;
  try {
    result = await esbuild.build({
      entryPoints: [entry],
      // Paths in the bundle's comments are relative to this: the same wherever the package is installed.
      absWorkingDir: packageRoot,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20.9',
      outfile: join(packageRoot, 'lib', 'harvester.mjs'),
      write: false,
      metafile: true,
      external: [...bundleExternals],
      banner: { js: commonJsBanner },
      define: { HARVESTER_BUNDLE: JSON.stringify({ version }) },
      legalComments: 'none',
      charset: 'utf8',
      logLevel: 'silent',
    });
  } catch (error) {
    throw new BundleError('js-bundle', `esbuild failed on ${entry}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const output = result.outputFiles[0];
  if (output === undefined) throw new BundleError('js-bundle', `esbuild wrote nothing for ${entry}`);
  return { code: output.text, notices: thirdPartyNotices(packageRoot, Object.keys(result.metafile.inputs)) };
}

interface BundledPackage {
  readonly dir: string;
  readonly name: string;
  readonly version: string;
  readonly license: string;
  readonly text: string | undefined;
}

/** Each package under node_modules that contributed a file, with its license (MIT and ISC ask for the notice). */
function thirdPartyNotices(packageRoot: string, inputs: readonly string[]): string {
  const dirs = new Set<string>();
  for (const input of inputs) {
    const dir = packageDirOf(join(packageRoot, input));
    if (dir !== undefined) dirs.add(dir);
  }
  const packages = [...dirs].map(describePackage).sort((a, b) => compareNames(`${a.name}@${a.version}`, `${b.name}@${b.version}`));
  const sections = packages.map((pkg) => `${pkg.name} ${pkg.version} (${pkg.license})\n\n${pkg.text?.trim() ?? `No license file in the package; its package.json says: ${pkg.license}.`}\n`);
  return `Third-party packages bundled into lib/harvester.mjs\n${'='.repeat(52)}\n\n${sections.join(`\n${'-'.repeat(72)}\n\n`)}`;
}

/** The package directory a bundled file belongs to: the path up to node_modules/<name> or node_modules/@scope/<name>. */
function packageDirOf(file: string): string | undefined {
  const parts = file.split(sep);
  const at = parts.lastIndexOf('node_modules');
  if (at < 0 || at + 1 >= parts.length) return undefined;
  const scoped = parts[at + 1]?.startsWith('@') === true;
  return parts.slice(0, at + (scoped ? 3 : 2)).join(sep);
}

function describePackage(dir: string): BundledPackage {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string; license?: unknown };
  const licenseFile = readdirSync(dir)
    .filter((name) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(name))
    .sort(compareNames)[0];
  return {
    dir,
    name: pkg.name ?? relative(dirname(dir), dir),
    version: pkg.version ?? 'unknown',
    license: typeof pkg.license === 'string' ? pkg.license : 'see the package',
    text: licenseFile === undefined ? undefined : readFileSync(join(dir, licenseFile), 'utf8'),
  };
}
