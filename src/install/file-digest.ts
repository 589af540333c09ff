// Digests of files, streamed (the runtime is ~100 MB): hex sha256 for the manifest and the archive, and
// SRI strings ("sha512-<base64>") as npm records a package's integrity.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { BundleError, RuntimeIntegrityError } from './errors.js';

async function digest(file: string, algorithm: string, encoding: 'hex' | 'base64'): Promise<string> {
  const hash = createHash(algorithm);
  await pipeline(createReadStream(file), hash);
  return hash.digest(encoding);
}

export function sha256File(file: string): Promise<string> {
  return digest(file, 'sha256', 'hex');
}

/** The file's integrity in the algorithm of `expected` (an SRI string such as npm's dist.integrity). */
export async function fileIntegrity(file: string, expected: string): Promise<string> {
  const algorithm = expected.slice(0, expected.indexOf('-'));
  if (!['sha512', 'sha384', 'sha256'].includes(algorithm)) throw new BundleError('runtime-verify', `unsupported integrity ${expected} (sha512, sha384 or sha256 expected)`);
  return `${algorithm}-${await digest(file, algorithm, 'base64')}`;
}

/** Resolves when `file` has the integrity `expected`; a RuntimeIntegrityError naming file, expected and actual otherwise. */
export async function verifyIntegrity(file: string, expected: string): Promise<void> {
  const actual = await fileIntegrity(file, expected);
  if (actual !== expected) throw new RuntimeIntegrityError(file, expected, actual);
}
