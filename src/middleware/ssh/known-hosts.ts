// harvester's own known_hosts file, in OpenSSH's line format, so operators can read and edit it with the
// tools they know (ssh-keygen -R/-F). Lines: `host keytype base64`, `[host]:port keytype base64`, several
// comma-separated names, hashed names (`|1|salt|hash`), `*`/`?` patterns and `!` negations, and the
// `@revoked` marker (a revoked key is refused; `@cert-authority` lines are ignored: we do not do host certs).
import { createHash, createHmac } from 'node:crypto';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { knownHostsName } from './errors.js';

export interface KnownHostEntry {
  /** 1-based line number in the file. */
  readonly line: number;
  readonly marker?: 'revoked' | 'cert-authority';
  /** The comma-separated host field as written. */
  readonly hosts: string;
  readonly keyType: string;
  readonly keyBase64: string;
}

export type HostKeyVerdict =
  | { readonly kind: 'known'; readonly line: number }
  | { readonly kind: 'unknown' }
  | { readonly kind: 'changed'; readonly line: number }
  | { readonly kind: 'revoked'; readonly line: number };

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const trimmed = (lines[i] ?? '').trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const fields = trimmed.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0] === '@revoked' || fields[0] === '@cert-authority') {
      marker = fields[0] === '@revoked' ? 'revoked' : 'cert-authority';
      fields.shift();
    }
    const [hosts, keyType, keyBase64] = fields;
    // A malformed line is skipped, as OpenSSH does; it cannot match anything.
    if (hosts === undefined || keyType === undefined || keyBase64 === undefined) continue;
    entries.push({ line: i + 1, ...(marker !== undefined ? { marker } : {}), hosts, keyType, keyBase64 });
  }
  return entries;
}

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`, 'i');
}

function hashedNameMatches(hashed: string, name: string): boolean {
  // |1|base64(salt)|base64(HMAC-SHA1(salt, name))
  const parts = hashed.split('|');
  const salt = parts[2];
  const hash = parts[3];
  if (parts[1] !== '1' || salt === undefined || hash === undefined) return false;
  const computed = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
  return computed === hash;
}

/** Whether a known_hosts host field names host:port (OpenSSH's rules: any positive match and no negated one). */
export function hostFieldMatches(hostsField: string, host: string, port: number): boolean {
  const name = knownHostsName(host, port);
  if (hostsField.startsWith('|')) return hashedNameMatches(hostsField, name);
  let matched = false;
  for (const raw of hostsField.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    if (globToRegExp(pattern).test(name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** The key type ("ssh-ed25519", ...) from the SSH wire encoding of a public key: uint32 length, then the name. */
export function hostKeyType(key: Buffer): string {
  if (key.length < 4) return 'unknown';
  const length = key.readUInt32BE(0);
  if (length === 0 || key.length < 4 + length) return 'unknown';
  return key.subarray(4, 4 + length).toString('latin1');
}

/** OpenSSH's fingerprint format: "SHA256:" + unpadded base64 of the SHA-256 of the key blob. */
export function hostKeyFingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

export function judgeHostKey(entries: readonly KnownHostEntry[], host: string, port: number, key: Buffer): HostKeyVerdict {
  const keyBase64 = key.toString('base64');
  const keyType = hostKeyType(key);
  let known: number | undefined;
  let sameTypeOther: number | undefined;
  let otherType: number | undefined;
  for (const entry of entries) {
    if (entry.marker === 'cert-authority') continue;
    if (!hostFieldMatches(entry.hosts, host, port)) continue;
    const sameKey = entry.keyType === keyType && entry.keyBase64 === keyBase64;
    if (entry.marker === 'revoked') {
      if (sameKey) return { kind: 'revoked', line: entry.line };
      continue;
    }
    if (sameKey) known ??= entry.line;
    else if (entry.keyType === keyType) sameTypeOther ??= entry.line;
    else otherType ??= entry.line;
  }
  if (known !== undefined) return { kind: 'known', line: known };
  // A host we know under another key counts as changed even when the key type differs: otherwise an
  // interceptor could dodge the check by offering a type we have not recorded yet.
  const changedLine = sameTypeOther ?? otherType;
  if (changedLine !== undefined) return { kind: 'changed', line: changedLine };
  return { kind: 'unknown' };
}

// Appends to the same file from several connections at once must not interleave or duplicate: one
// promise chain per path serialises check-then-append within this process.
const fileLocks = new Map<string, Promise<unknown>>();

function withFileLock<T>(path: string, action: () => Promise<T>): Promise<T> {
  const previous = fileLocks.get(path) ?? Promise.resolve();
  const next = previous.then(action, action);
  const settled = next.then(
    () => undefined,
    () => undefined,
  );
  fileLocks.set(path, settled);
  void settled.then(() => {
    if (fileLocks.get(path) === settled) fileLocks.delete(path);
  });
  return next;
}

async function readKnownHostsText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    // A missing file is simply an empty one: the first connection creates it.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
}

export type KnownHostsDecision =
  | { readonly kind: 'known'; readonly line: number }
  | { readonly kind: 'pinned'; readonly keyType: string; readonly fingerprint: string }
  | { readonly kind: 'recorded'; readonly keyType: string; readonly fingerprint: string }
  | { readonly kind: 'unknown'; readonly keyType: string; readonly fingerprint: string }
  | { readonly kind: 'changed'; readonly line: number; readonly keyType: string; readonly fingerprint: string }
  | { readonly kind: 'revoked'; readonly line: number; readonly keyType: string; readonly fingerprint: string };

export interface HostKeyCheckOptions {
  /** Fingerprints ("SHA256:...") accepted for this host when known_hosts does not know it. */
  readonly pinned?: readonly string[];
  /** Append an unknown (and unpinned) key to the file instead of answering 'unknown'. */
  readonly record: boolean;
}

/**
 * Checks a presented host key: known_hosts first (a key it has for this host: known; another key, or a
 * revoked one: changed/revoked, whatever is pinned, since the file is the operator's record of what the host
 * had), then the pins, then, when asked to, records it. Refusing is the caller's job.
 */
export function checkAndRecordHostKey(path: string, host: string, port: number, key: Buffer, options: HostKeyCheckOptions): Promise<KnownHostsDecision> {
  const keyType = hostKeyType(key);
  const fingerprint = hostKeyFingerprint(key);
  return withFileLock(path, async (): Promise<KnownHostsDecision> => {
    const text = await readKnownHostsText(path);
    const verdict = judgeHostKey(parseKnownHosts(text), host, port, key);
    switch (verdict.kind) {
      case 'known':
        return verdict;
      case 'changed':
      case 'revoked':
        return { ...verdict, keyType, fingerprint };
      case 'unknown':
        if (options.pinned?.includes(fingerprint) === true) return { kind: 'pinned', keyType, fingerprint };
        if (!options.record) return { kind: 'unknown', keyType, fingerprint };
        await mkdir(dirname(path), { recursive: true, mode: 0o700 });
        // A hand-edited file may lack its final newline; do not glue our line onto the last one.
        await appendFile(path, `${text === '' || text.endsWith('\n') ? '' : '\n'}${knownHostsName(host, port)} ${keyType} ${key.toString('base64')}\n`, { mode: 0o600 });
        return { kind: 'recorded', keyType, fingerprint };
    }
  });
}
