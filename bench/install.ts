// `npm run bench:install`: what `harvester remote-install` costs. The bundle's size (with the Node runtime and
// without), building it (cold: an empty cache holding only the runtime package, so no download is timed; warm:
// reused), an install from scratch onto the testbed's hpc through the jump host (the whole CLI run: connect,
// probe, bundle, upload, verify, unpack, run --version there, switch), and a reinstall of the same version
// (nothing sent). Prints a table and writes bench-results/install.json. Needs root and the testbed; brings it up
// when it is down (and down again at the end). Targets: bundle with runtime < 60 MB compressed; reinstall < 2 s.
import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exitOnArgumentError, exitWithUsage, parseBenchArgs } from './arguments.js';
import { buildBundle, cachedRuntimeTarball, defaultCacheDir, obtainRuntimeTarball, runtimePackageFor, type RuntimeChoice } from '../src/install/index.js';
import { runRemoteInstall } from '../test/support/bot-install.js';
import { ensureTestbed, inCoreNamespace, isRoot, loadTestbed, runTestbedScript, testbedScript } from './environment.js';
import { summarize, type Summary } from './stats.js';

const defaultOutput = fileURLToPath(new URL('../../bench-results/install.json', import.meta.url));
const MB = 1024 * 1024;
const progress = (line: string): void => void process.stderr.write(`bench-install: ${line}\n`);

const program = 'bench-install';
const usage = 'node dist/bench/install.js [--runs N] [--output FILE]';
const { values: args } = parseBenchArgs(program, usage, { options: { runs: { type: 'string', default: '5' }, output: { type: 'string', default: defaultOutput }, 'in-core': { type: 'boolean', default: false } } });
const runs = Number.parseInt(args.runs, 10);
if (!Number.isInteger(runs) || runs < 1) exitWithUsage(program, usage, `--runs must be a positive integer, got ${args.runs}`);

interface InstallBenchResult {
  readonly when: string;
  readonly runs: number;
  readonly bundle: Record<'bundled' | 'system', { readonly bytes: number; readonly unpackedBytes: number; readonly coldBuildMs: Summary; readonly warmBuildMs: Summary }>;
  readonly installFromScratchMs: Summary;
  readonly reinstallMs: Summary;
  readonly targets: { readonly bundleUnder60MB: boolean; readonly reinstallUnder2s: boolean };
}

async function timed(what: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await what();
  return performance.now() - started;
}

async function measureBuilds(kind: 'bundled' | 'system'): Promise<InstallBenchResult['bundle']['bundled']> {
  const runtime: RuntimeChoice = kind === 'bundled' ? { kind: 'bundled', platform: { os: 'linux', arch: 'x64' } } : { kind: 'system' };
  const pkg = kind === 'bundled' ? runtimePackageFor({ os: 'linux', arch: 'x64' }) : undefined;
  // The runtime package is fetched once into the machine's cache, outside any timing.
  if (pkg !== undefined) await obtainRuntimeTarball(pkg, { cacheDir: defaultCacheDir() });
  const cold: number[] = [];
  const warm: number[] = [];
  let sizes = { bytes: 0, unpackedBytes: 0 };
  for (let run = 0; run < Math.min(runs, 3); run++) {
    const cacheDir = await mkdtemp(join(tmpdir(), 'hv-bench-bundle-'));
    try {
      if (pkg !== undefined) {
        const target = cachedRuntimeTarball(cacheDir, pkg);
        await mkdir(dirname(target), { recursive: true });
        await copyFile(cachedRuntimeTarball(defaultCacheDir(), pkg), target);
      }
      let built = await buildBundle({ runtime, cacheDir });
      cold.push(await timed(async () => void (built = await buildBundle({ runtime, cacheDir: await freshCacheLike(cacheDir, pkg) }))));
      warm.push(await timed(() => buildBundle({ runtime, cacheDir })));
      sizes = { bytes: built.bytes, unpackedBytes: built.unpackedBytes };
    } finally {
      await rm(cacheDir, { recursive: true, force: true });
    }
  }
  return { ...sizes, coldBuildMs: summarize(cold, `${kind} cold build`), warmBuildMs: summarize(warm, `${kind} warm build`) };
}

/** A new cache directory holding only the runtime package of `from` (a cold build that downloads nothing). */
async function freshCacheLike(from: string, pkg: ReturnType<typeof runtimePackageFor> | undefined): Promise<string> {
  const cacheDir = `${from}-cold`;
  await rm(cacheDir, { recursive: true, force: true });
  if (pkg !== undefined) {
    const target = cachedRuntimeTarball(cacheDir, pkg);
    await mkdir(dirname(target), { recursive: true });
    await copyFile(cachedRuntimeTarball(from, pkg), target);
  } else {
    await mkdir(cacheDir, { recursive: true });
  }
  return cacheDir;
}

async function measureInstalls(): Promise<{ scratch: Summary; again: Summary }> {
  const testbed = loadTestbed();
  if (testbed === undefined) throw new Error('the testbed has no env.json');
  const scratch: number[] = [];
  const again: number[] = [];
  for (let run = 0; run < runs; run++) {
    const dir = `.hv-bench-install-${process.pid}-${run}`;
    try {
      let first: Awaited<ReturnType<typeof runRemoteInstall>> | undefined;
      scratch.push(await timed(async () => void (first = await runRemoteInstall(testbed, { remoteDir: dir }))));
      if (first?.status !== 0) throw new Error(`remote-install from scratch failed:\n${first?.stdout}\n${first?.stderr}`);
      let second: Awaited<ReturnType<typeof runRemoteInstall>> | undefined;
      again.push(await timed(async () => void (second = await runRemoteInstall(testbed, { remoteDir: dir }))));
      if (second?.status !== 0 || !second.stdout.includes('already installed')) throw new Error(`the reinstall did not find the version installed:\n${second?.stdout}\n${second?.stderr}`);
      progress(`install run ${run + 1}/${runs}: from scratch ${(scratch.at(-1)! / 1000).toFixed(2)} s, reinstall ${(again.at(-1)! / 1000).toFixed(2)} s`);
    } finally {
      await rm(join(testbed.user.home, dir), { recursive: true, force: true });
    }
  }
  return { scratch: summarize(scratch, 'install from scratch'), again: summarize(again, 'reinstall') };
}

function seconds(s: Summary): string {
  return `${(s.median / 1000).toFixed(2)} s (${(s.min / 1000).toFixed(2)}–${(s.max / 1000).toFixed(2)})`;
}

async function inCore(): Promise<void> {
  progress('building bundles (cold and warm)');
  const bundled = await measureBuilds('bundled');
  const system = await measureBuilds('system');
  progress(`installing onto hpc through the jump host, ${runs} runs`);
  const installs = await measureInstalls();
  const result: InstallBenchResult = {
    when: new Date().toISOString(),
    runs,
    bundle: { bundled, system },
    installFromScratchMs: installs.scratch,
    reinstallMs: installs.again,
    targets: { bundleUnder60MB: bundled.bytes < 60 * MB, reinstallUnder2s: installs.again.median < 2000 },
  };
  const rows = [
    ['bundle with runtime (.tar.gz / unpacked)', `${(bundled.bytes / MB).toFixed(1)} MB / ${(bundled.unpackedBytes / MB).toFixed(1)} MB`, '< 60 MB compressed', result.targets.bundleUnder60MB ? 'met' : 'MISSED'],
    ['bundle without runtime (.tar.gz / unpacked)', `${(system.bytes / MB).toFixed(2)} MB / ${(system.unpackedBytes / MB).toFixed(1)} MB`, '', ''],
    ['build with runtime, cold / warm (median)', `${seconds(bundled.coldBuildMs)} / ${seconds(bundled.warmBuildMs)}`, '', ''],
    ['build without runtime, cold / warm (median)', `${seconds(system.coldBuildMs)} / ${seconds(system.warmBuildMs)}`, '', ''],
    ['install from scratch onto hpc via jump (median)', seconds(installs.scratch), '', ''],
    ['reinstall, same version: nothing sent (median)', seconds(installs.again), '< 2 s', result.targets.reinstallUnder2s ? 'met' : 'MISSED'],
  ];
  const width = Math.max(...rows.map((r) => r[0]!.length));
  process.stdout.write(`remote-install (${runs} runs; min–max in parentheses)\n`);
  for (const [what, value, target, verdict] of rows) process.stdout.write(`  ${what!.padEnd(width)}  ${value!.padEnd(34)} ${target!.padEnd(20)} ${verdict}\n`);
  await mkdir(dirname(args.output), { recursive: true });
  await writeFile(args.output, JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(`written to ${args.output}\n`);
}

async function main(): Promise<number> {
  if (args['in-core'] || inCoreNamespace()) {
    await inCore();
    return 0;
  }
  if (!isRoot()) throw new Error('bench:install needs root (the testbed uses network namespaces)');
  const broughtUp = await ensureTestbed(progress);
  try {
    const script = fileURLToPath(import.meta.url);
    const child = spawn('ip', ['netns', 'exec', 'hv-core', process.execPath, '--enable-source-maps', script, '--in-core', '--runs', String(runs), '--output', args.output], { stdio: 'inherit' });
    return await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code) => resolve(code ?? 1));
    });
  } finally {
    if (broughtUp) await runTestbedScript(testbedScript, ['down']);
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    exitOnArgumentError(program, usage, error);
    process.stderr.write(`bench-install: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
