// Which Node runs the bot on the remote host: the system's when one on PATH (after remoteSetup) is recent
// enough, else the runtime shipped in the bundle for the host's platform — official Node builds for Linux
// need glibc 2.28 or newer, and npm has none for musl.
import type { RuntimeChoice } from './bundle.js';
import { RemoteInstallError, type InstallTarget } from './install-errors.js';
import type { RemoteFacts } from './remote-probe.js';
import { MIN_NODE_VERSION, platformName, runtimePackageFor, type NodePlatform } from './runtime-packages.js';

export type NodeChoice = 'auto' | 'bundled' | 'system';

export interface RuntimeDecision {
  readonly runtime: RuntimeChoice;
  /** Why, in words, for the plan. */
  readonly reason: string;
}

/** The oldest Node the bot runs on (package.json engines). */
const MINIMUM_NODE = MIN_NODE_VERSION;
/** Official Node 20 Linux builds need this glibc. */
const MINIMUM_GLIBC = '2.28';

export function compareVersions(a: string, b: string): number {
  const pa = a.replace(/^v/, '').split('.').map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.replace(/^v/, '').split('.').map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function platformOf(facts: Pick<RemoteFacts, 'os' | 'machine'>): NodePlatform | undefined {
  const os = facts.os === 'Linux' ? 'linux' : facts.os === 'Darwin' ? 'darwin' : undefined;
  const arch = ({ x86_64: 'x64', amd64: 'x64', aarch64: 'arm64', arm64: 'arm64', ppc64le: 'ppc64le', s390x: 's390x' } as const)[facts.machine as 'x86_64'];
  return os !== undefined && arch !== undefined ? { os, arch } : undefined;
}

export function chooseRuntime(facts: RemoteFacts, wanted: NodeChoice, target: InstallTarget): RuntimeDecision {
  const system = facts.systemNode;
  const systemFits = system !== undefined && compareVersions(system.version, MINIMUM_NODE) >= 0;
  const systemWords = system === undefined ? 'no node on PATH' : `node ${system.version} at ${system.path}${systemFits ? '' : ` is older than ${MINIMUM_NODE}`}`;
  if (wanted === 'system' || (wanted === 'auto' && systemFits)) {
    if (!systemFits) {
      throw new RemoteInstallError(target, 'runtime', `--node system: ${systemWords} (after remoteSetup); use --node bundled or auto, or a remoteSetup that puts Node >= ${MINIMUM_NODE} on PATH`);
    }
    return { runtime: { kind: 'system' }, reason: `the host's ${systemWords} fits (>= ${MINIMUM_NODE}); no runtime shipped` };
  }
  const platform = platformOf(facts);
  if (platform === undefined) {
    throw new RemoteInstallError(target, 'runtime', `no Node runtime is shipped for ${facts.os} ${facts.machine} and ${systemWords}: put Node >= ${MINIMUM_NODE} on PATH there (remoteSetup) and use --node system`);
  }
  try {
    runtimePackageFor(platform);
  } catch (error) {
    throw new RemoteInstallError(target, 'runtime', `${(error as Error).message}; and ${systemWords}`, { cause: error });
  }
  if (platform.os === 'linux') {
    if (facts.libc.kind === 'musl') {
      throw new RemoteInstallError(target, 'runtime', `the host uses musl libc, for which npm has no Node runtime, and ${systemWords}: install Node >= ${MINIMUM_NODE} built for musl there and use --node system`);
    }
    if (facts.libc.kind === 'glibc' && facts.libc.version !== undefined && compareVersions(facts.libc.version, MINIMUM_GLIBC) < 0) {
      throw new RemoteInstallError(target, 'runtime', `the host has glibc ${facts.libc.version}; the Node ${MINIMUM_NODE.split('.')[0]} runtime needs glibc >= ${MINIMUM_GLIBC}, and ${systemWords}: use a Node built for that host with --node system`);
    }
  }
  const why = wanted === 'bundled' ? '--node bundled' : systemWords;
  return { runtime: { kind: 'bundled', platform }, reason: `${why}: shipping the Node runtime for ${platformName(platform)}` };
}
