// A throw-away PKI for TLS tests, made with the openssl command: a CA, a server certificate for 127.0.0.1
// signed by it, a client certificate signed by it, and a self-signed client certificate the CA never saw.
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestPki {
  readonly dir: string;
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** Self-signed: a server requiring client certificates from the CA refuses it. */
  readonly strangerCert: string;
  readonly strangerKey: string;
}

/** The openssl command failed; names the step. */
export class TestPkiError extends Error {
  constructor(
    readonly step: string,
    detail: string,
  ) {
    super(`making the test PKI failed at ${step}: ${detail}`);
    this.name = 'TestPkiError';
  }
}

export function opensslAvailable(): boolean {
  return spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
}

function openssl(step: string, args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim() ?? (error as Error).message;
    throw new TestPkiError(step, stderr);
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function signed(name: string, cn: string, extensions: string, dir: string): void {
  openssl(`${name} request`, ['req', '-new', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
  writeFileSync(join(dir, `${name}.ext`), `${extensions}\n`);
  openssl(`${name} signature`, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', `${name}.crt`, '-extfile', `${name}.ext`], dir);
}

/** Writes the PKI into `dir` (which must exist). Throws TestPkiError. */
export function makeTestPki(dir: string): TestPki {
  openssl('CA', ['req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=harvester-ts test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  signed('server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth', dir);
  signed('client', 'harvester-ts test client', 'extendedKeyUsage=clientAuth', dir);
  openssl('stranger', ['req', '-x509', ...EC, '-keyout', 'stranger.key', '-out', 'stranger.crt', '-days', '2', '-subj', '/CN=stranger'], dir);
  const at = (name: string): string => join(dir, name);
  return {
    dir,
    caCert: at('ca.crt'),
    serverCert: at('server.crt'),
    serverKey: at('server.key'),
    clientCert: at('client.crt'),
    clientKey: at('client.key'),
    strangerCert: at('stranger.crt'),
    strangerKey: at('stranger.key'),
  };
}
