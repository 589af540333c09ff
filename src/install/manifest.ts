// MANIFEST.json, the bundle's description of itself (read by remote-install on both ends), and the bundle id:
// <package version>-<12 hex of a hash over lib, examples, launcher and runtime identity>-<node-os-arch | system>.
import { createHash } from 'node:crypto';
import { z } from 'zod';

/** Bumped whenever the archive's layout or the way it is written changes: the same inputs then get a new id. */
export const BUNDLE_FORMAT = 1;

export const MANIFEST_FILE = 'MANIFEST.json';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a hex sha256');

export const bundleManifestSchema = z
  .object({
    format: z.literal(BUNDLE_FORMAT),
    name: z.string().min(1),
    version: z.string().min(1),
    id: z.string().regex(/^[A-Za-z0-9._-]+$/, 'a file-system safe id'),
    runtime: z.discriminatedUnion('kind', [
      z.object({
        kind: z.literal('bundled'),
        /** "20.20.2" */
        nodeVersion: z.string().min(1),
        /** "linux-x64" */
        platform: z.string().min(1),
        /** npm's dist.integrity of node-<platform>@<nodeVersion>, which runtime/bin/node came from. */
        integrity: z.string().min(1),
      }),
      z.object({ kind: z.literal('system') }),
    ]),
    /** Every file of the bundle but MANIFEST.json, relative to the bundle root, with its sha256. */
    files: z.record(z.string().min(1), sha256Hex),
    /** Bytes of those files. */
    unpackedBytes: z.number().int().nonnegative(),
  })
  .strict();

export type BundleManifest = z.infer<typeof bundleManifestSchema>;
export type BundleRuntime = BundleManifest['runtime'];

export class BundleManifestError extends Error {
  constructor(
    readonly source: string,
    detail: string,
  ) {
    super(`${source}: not a harvester-ts bundle manifest (format ${BUNDLE_FORMAT}): ${detail}`);
    this.name = 'BundleManifestError';
  }
}

/** Parses a MANIFEST.json text; a BundleManifestError naming `source` and the first problems otherwise. */
export function parseBundleManifest(text: string, source: string): BundleManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new BundleManifestError(source, error instanceof Error ? error.message : String(error));
  }
  const parsed = bundleManifestSchema.safeParse(value);
  if (!parsed.success) {
    throw new BundleManifestError(source, parsed.error.issues.slice(0, 3).map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; '));
  }
  return parsed.data;
}

/** The manifest as written into the bundle: stable key order, so the same bundle gives the same bytes. */
export function manifestText(manifest: BundleManifest): string {
  const files = Object.fromEntries(Object.entries(manifest.files).sort(([a], [b]) => compareNames(a, b)));
  return `${JSON.stringify({ ...manifest, files }, null, 2)}\n`;
}

/** What identifies the runtime in the id's hash: the pinned package, or "system". */
export function runtimeIdentity(runtime: BundleRuntime): string {
  return runtime.kind === 'bundled' ? `node-${runtime.platform}@${runtime.nodeVersion} ${runtime.integrity}` : 'system';
}

/**
 * The bundle id. `contentFiles` are the bundle's own files (lib, examples, launcher) with their sha256; the runtime
 * enters through its identity (its bytes are fixed by the pinned integrity).
 */
export function bundleId(version: string, contentFiles: Readonly<Record<string, string>>, runtime: BundleRuntime): string {
  const hash = createHash('sha256');
  hash.update(`harvester-ts bundle format ${BUNDLE_FORMAT}\n`);
  for (const path of Object.keys(contentFiles).sort(compareNames)) hash.update(`${path}\0${contentFiles[path]}\n`);
  hash.update(`runtime\0${runtimeIdentity(runtime)}\n`);
  const suffix = runtime.kind === 'bundled' ? `node-${runtime.platform}` : 'system';
  return `${safeIdPart(version)}-${hash.digest('hex').slice(0, 12)}-${suffix}`;
}

function safeIdPart(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** Byte order of the UTF-16 code units, the same everywhere (no locale). */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
