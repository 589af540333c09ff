// Credentials for the PanDA server: the bearer token and the TLS material (client certificate, key, CAs).
// Files are read again when they change on disk, because tokens and X.509 proxies are renewed in place by
// other tools while harvester runs. Errors name the file, never its content.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { SecretRegistry } from '../logging/index.js';
import type { TokenSource } from './config.js';

/** A credential that cannot be read; the client turns it into a PandaCredentialsError with the call's context. */
export class CredentialReadError extends Error {
  constructor(
    /** "auth_token file /path", "cert_file /path"... */
    readonly source: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot use ${source}: ${reason}`, options);
    this.name = 'CredentialReadError';
  }
}

function reasonOf(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  return code ?? (error instanceof Error ? error.message : String(error));
}

/** mtime and size: enough to notice a renewed file without reading it. */
function fingerprint(path: string, label: string): string {
  try {
    const stat = statSync(path);
    return `${stat.mtimeMs}:${stat.size}`;
  } catch (error) {
    throw new CredentialReadError(`${label} ${path}`, reasonOf(error), { cause: error });
  }
}

function readCredentialFile(path: string, label: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new CredentialReadError(`${label} ${path}`, reasonOf(error), { cause: error });
  }
}

/** The bearer token, re-read from its file when the file changes. */
export class BearerToken {
  #cached: { fingerprint: string; value: string } | undefined;

  constructor(
    private readonly source: TokenSource,
    private readonly secrets: SecretRegistry,
  ) {}

  value(): string {
    if (this.source.source !== 'file') return this.source.value;
    const label = 'auth_token file';
    const current = fingerprint(this.source.path, label);
    if (this.#cached?.fingerprint !== current) {
      const value = readCredentialFile(this.source.path, label).toString('utf8').trim();
      if (value === '') throw new CredentialReadError(`${label} ${this.source.path}`, 'is empty');
      if (/[\r\n]/.test(value)) throw new CredentialReadError(`${label} ${this.source.path}`, 'holds more than one line');
      this.secrets.register(value);
      this.#cached = { fingerprint: current, value };
    }
    return this.#cached.value;
  }
}

export interface TlsFiles {
  readonly certFile?: string;
  readonly keyFile?: string;
  /** A CA bundle file, or a directory of CA certificates (hash links, *.pem, *.crt). */
  readonly caCert?: string;
}

export interface TlsMaterial {
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly ca?: Buffer[];
}

/** Names of CA certificate files in a grid-style CA directory: OpenSSL hash links, *.pem, *.crt. */
const caFileName = /^(?:[0-9a-f]{8}\.\d+|.+\.pem|.+\.crt)$/;

function readCaDirectory(dir: string): Buffer[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => caFileName.test(name)).sort();
  } catch (error) {
    throw new CredentialReadError(`ca_cert directory ${dir}`, reasonOf(error), { cause: error });
  }
  const certificates = names.map((name) => readCredentialFile(join(dir, name), 'ca_cert file')).filter((pem) => pem.includes('-----BEGIN CERTIFICATE-----'));
  if (certificates.length === 0) throw new CredentialReadError(`ca_cert directory ${dir}`, 'holds no PEM certificate');
  return certificates;
}

/** The client certificate, key and CAs, re-read when any of the files changes. */
export class TlsCredentials {
  #cached: { fingerprint: string; material: TlsMaterial } | undefined;

  constructor(private readonly files: TlsFiles) {}

  material(): TlsMaterial {
    const { certFile, keyFile, caCert } = this.files;
    const current = [
      certFile === undefined ? '' : fingerprint(certFile, 'cert_file'),
      keyFile === undefined ? '' : fingerprint(keyFile, 'key_file'),
      caCert === undefined ? '' : fingerprint(caCert, 'ca_cert'),
    ].join('|');
    if (this.#cached?.fingerprint !== current) {
      let ca: Buffer[] | undefined;
      if (caCert !== undefined) ca = statSync(caCert).isDirectory() ? readCaDirectory(caCert) : [readCredentialFile(caCert, 'ca_cert file')];
      const material: TlsMaterial = {
        ...(certFile === undefined ? {} : { cert: readCredentialFile(certFile, 'cert_file') }),
        ...(keyFile === undefined ? {} : { key: readCredentialFile(keyFile, 'key_file') }),
        ...(ca === undefined ? {} : { ca }),
      };
      this.#cached = { fingerprint: current, material };
    }
    return this.#cached.material;
  }
}
