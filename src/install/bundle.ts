// buildBundle: the offline bundle for hosts with no network and maybe no Node.js (HPC login nodes): one
// .tar.gz holding everything the bot needs, nothing to build or download there.
//
//   <id>/bin/harvester         POSIX sh launcher (755)
//   <id>/lib/harvester.mjs     the whole CLI, one ESM file (esbuild), + THIRD-PARTY-NOTICES.txt
//   <id>/runtime/bin/node      Node.js and its LICENSE (bundled runtime only)
//   <id>/examples/             the package's queue configurations and SLURM template
//   <id>/MANIFEST.json         name, version, id, runtime, sha256 of every file
//
// The id is derived from the content, and the archive is byte-identical for the same content, so built
// bundles are cached by id (cacheDir/bundles/) and a reinstall can compare hashes.
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../logging/index.js';
import { packageRoot as ownPackageRoot, runningBundled } from '../package-location.js';
import { listStagedEntries, normalizeModes, writeArchive } from './bundle-archive.js';
import { defaultCacheDir } from './cache-dir.js';
import { BundleError } from './errors.js';
import { sha256File } from './file-digest.js';
import { bundleCli } from './js-bundle.js';
import { launcherScript } from './launcher.js';
import { BUNDLE_FORMAT, bundleId, MANIFEST_FILE, manifestText, parseBundleManifest, type BundleManifest, type BundleRuntime } from './manifest.js';
import { cachedRuntimeTarball, extractRuntime, obtainRuntimeTarball, type RuntimeFetchOptions } from './node-runtime.js';
import { platformName, runtimePackageFor, type NodePlatform, type RuntimePackage } from './runtime-packages.js';

export type RuntimeChoice = { readonly kind: 'bundled'; readonly platform: NodePlatform } | { readonly kind: 'system' };

export interface BuildBundleOptions {
  readonly runtime: RuntimeChoice;
  /** Built bundles and runtime tarballs; default $XDG_CACHE_HOME/harvester-ts, else ~/.cache/harvester-ts. */
  readonly cacheDir?: string;
  /** A node-<os>-<arch>-<version>.tgz the operator brought by hand; verified like a download. */
  readonly runtimeFile?: string;
  readonly log?: Logger;
  /** The package to bundle (holding dist/, examples/, package.json); default: the one running this code. */
  readonly packageRoot?: string;
  /** How the runtime is downloaded when it is not cached (default: npm when on PATH, else a GET). */
  readonly fetch?: Pick<RuntimeFetchOptions, 'via' | 'registry' | 'env'>;
  /** One line per slow step, for someone waiting (the CLI prints them on stderr). */
  readonly progress?: (line: string) => void;
}

export interface BuiltBundle {
  /** The .tar.gz, inside cacheDir/bundles. */
  readonly path: string;
  readonly id: string;
  /** Of the .tar.gz, hex. */
  readonly sha256: string;
  /** Size of the .tar.gz. */
  readonly bytes: number;
  /** Size of the bundle's files once extracted (MANIFEST.json aside). */
  readonly unpackedBytes: number;
  readonly manifest: BundleManifest;
  /** Whether an archive built before with the same id was reused. */
  readonly reused: boolean;
}

/** Files of the bundle that are executable, relative to its root. */
const executables = ['bin/harvester', 'runtime/bin/node'];

export async function buildBundle(opts: BuildBundleOptions): Promise<BuiltBundle> {
  if (runningBundled) {
    // No esbuild, no dist/ to bundle from: a bundle is made from an installed package.
    throw new BundleError('js-bundle', 'the offline bundle cannot build bundles: run `harvester bundle` where harvester-ts is installed (the npm package or a built checkout)');
  }
  const root = opts.packageRoot ?? ownPackageRoot;
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const { name, version } = readPackageIdentity(root);
  if (opts.runtime.kind === 'system' && opts.runtimeFile !== undefined) {
    throw new BundleError('runtime-fetch', 'a runtime file was given for a bundle without runtime (--node system): drop it, or use --node bundled');
  }
  const pkg = opts.runtime.kind === 'bundled' ? runtimePackageFor(opts.runtime.platform) : undefined;

  await mkdir(join(cacheDir, 'bundles'), { recursive: true });
  await mkdir(join(cacheDir, 'tmp'), { recursive: true });
  const work = await mkdtemp(join(cacheDir, 'tmp', 'build-'));
  try {
    if (pkg !== undefined && opts.runtimeFile === undefined && !existsSync(cachedRuntimeTarball(cacheDir, pkg))) {
      opts.progress?.(`fetching ${pkg.name}@${pkg.version} (about 45 MB, once: cached in ${join(cacheDir, 'runtimes')})`);
    }
    // The id depends on the CLI, the examples, the launcher and the runtime's pinned identity, not on the
    // runtime's bytes: it is known before the runtime is fetched or extracted, so a bundle built before is
    // reused without touching the ~100 MB runtime (a reinstall stays quick).
    const js = await bundleCli(root, version);
    const stageName = 'bundle';
    const stage = join(work, stageName);
    await mkdir(join(stage, 'bin'), { recursive: true });
    await mkdir(join(stage, 'lib'), { recursive: true });
    await writeFile(join(stage, 'bin', 'harvester'), launcherScript());
    await writeFile(join(stage, 'lib', 'harvester.mjs'), js.code);
    await writeFile(join(stage, 'lib', 'THIRD-PARTY-NOTICES.txt'), js.notices);
    await copyExamples(root, join(stage, 'examples'));
    const contentFiles = await digestStage(work, stageName);
    const runtime = runtimeSection(pkg);
    const id = bundleId(version, contentFiles.files, runtime);
    const path = join(cacheDir, 'bundles', `${name}-${id}.tar.gz`);

    const cached = await reusableArchive(path);
    if (cached !== undefined) {
      opts.log?.info({ id, path }, 'bundle already built: reused');
      return { path, id, sha256: cached.sha256, bytes: cached.bytes, unpackedBytes: cached.manifest.unpackedBytes, manifest: cached.manifest, reused: true };
    }

    if (pkg !== undefined) {
      const tarball = await obtainRuntimeTarball(pkg, { cacheDir, runtimeFile: opts.runtimeFile, log: opts.log, ...opts.fetch });
      await extractRuntime(tarball, join(stage, 'runtime'));
    }
    const all = await digestStage(work, stageName);
    const files = all.files;
    const unpackedBytes = all.bytes;
    const manifest: BundleManifest = { format: BUNDLE_FORMAT, name, version, id, runtime, files, unpackedBytes };

    opts.progress?.(`writing ${path}`);
    await writeFile(join(stage, MANIFEST_FILE), manifestText(manifest));
    await rename(stage, join(work, id));
    const entries = await listStagedEntries(work, id);
    await normalizeModes(work, entries, new Set(executables.map((file) => `${id}/${file}`)));
    const temporary = join(work, 'archive.tar.gz');
    await writeArchive(work, entries, temporary);
    const sha256 = await sha256File(temporary);
    const bytes = (await stat(temporary)).size;
    await rename(temporary, path);
    // The manifest and the digest beside the archive (the digest in sha256sum's format, written last: the
    // cache's proof that the archive is whole).
    await writeFile(`${path}.manifest.json.tmp`, manifestText(manifest));
    await rename(`${path}.manifest.json.tmp`, `${path}.manifest.json`);
    await writeFile(`${path}.sha256.tmp`, `${sha256}  ${name}-${id}.tar.gz\n`);
    await rename(`${path}.sha256.tmp`, `${path}.sha256`);
    opts.log?.info({ id, path, bytes, unpackedBytes, sha256 }, 'bundle built');
    return { path, id, sha256, bytes, unpackedBytes, manifest, reused: false };
  } catch (error) {
    if (error instanceof BundleError) throw error;
    throw new BundleError('archive', `cannot assemble the bundle in ${work}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function readPackageIdentity(root: string): { name: string; version: string } {
  const file = join(root, 'package.json');
  try {
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
    if (typeof pkg.name !== 'string' || typeof pkg.version !== 'string') throw new Error('no name or version');
    return { name: pkg.name, version: pkg.version };
  } catch (error) {
    throw new BundleError('js-bundle', `cannot read the package's name and version from ${file}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

async function copyExamples(root: string, to: string): Promise<void> {
  const from = join(root, 'examples');
  if (!existsSync(from)) throw new BundleError('archive', `${from} is missing: the package is incomplete`);
  await cp(from, to, { recursive: true, dereference: true });
}

function runtimeSection(pkg: RuntimePackage | undefined): BundleRuntime {
  if (pkg === undefined) return { kind: 'system' };
  return { kind: 'bundled', nodeVersion: pkg.version, platform: platformName(pkg.platform), integrity: pkg.integrity };
}

/** The sha256 of every file staged under work/stageName (relative to it), and their total size. */
async function digestStage(work: string, stageName: string): Promise<{ files: Record<string, string>; bytes: number }> {
  const files: Record<string, string> = {};
  let bytes = 0;
  for (const entry of await listStagedEntries(work, stageName)) {
    if (entry.type !== 'file') continue;
    const absolute = join(work, entry.path);
    files[entry.path.slice(stageName.length + 1)] = await sha256File(absolute);
    bytes += (await stat(absolute)).size;
  }
  return { files, bytes };
}

/**
 * The archive at `path` when it is there with its manifest and digest files and still matches the digest;
 * undefined otherwise (then it is built again).
 */
async function reusableArchive(path: string): Promise<{ sha256: string; bytes: number; manifest: BundleManifest } | undefined> {
  if (!existsSync(path) || !existsSync(`${path}.sha256`) || !existsSync(`${path}.manifest.json`)) return undefined;
  const recorded = (await readFile(`${path}.sha256`, 'utf8')).split(/\s+/)[0];
  const actual = await sha256File(path);
  if (recorded !== actual) return undefined;
  let manifest: BundleManifest;
  try {
    manifest = parseBundleManifest(await readFile(`${path}.manifest.json`, 'utf8'), `${path}.manifest.json`);
  } catch {
    // A damaged manifest beside a whole archive: build again rather than trust it.
    return undefined;
  }
  return { sha256: actual, bytes: (await stat(path)).size, manifest };
}
