// Helpers for the SSH transport tests on the testbed: routes to jump/hpc as the test user, a scratch
// known_hosts file, a log that records what would have been logged (to prove no secret is in it), and a
// tiny TCP echo server run as the test user on hpc's loopback (standing in for the bot).
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { AuthMethodName } from '../../../src/middleware/ssh/auth.js';
import type { SshLog } from '../../../src/middleware/ssh/log.js';
import { RedactedSecret, defaultSshTimings, type SshAuth, type SshRoute } from '../../../src/middleware/ssh/route.js';
import type { Testbed } from '../../support/testbed.js';

export interface RouteChoice {
  readonly knownHostsFile: string;
  /** true: the testbed password; a string: that (wrong) password. */
  readonly password?: boolean | string;
  /** Use the testbed key; `passphrase` overrides the right passphrase. */
  readonly key?: boolean;
  readonly passphrase?: string;
  readonly otpCommand?: string;
  readonly preferredMethods?: readonly AuthMethodName[];
  /** Refuse unknown host keys (default: record them in knownHostsFile). */
  readonly strict?: boolean;
  readonly remoteHost?: string;
  readonly jumpHost?: string;
}

export function testbedRoute(tb: Testbed, choice: RouteChoice): SshRoute {
  const user = tb.user.name;
  const password = choice.password === true ? tb.password() : typeof choice.password === 'string' ? choice.password : undefined;
  const passphrase = choice.key === true ? (choice.passphrase ?? tb.passphrase()) : undefined;
  // The testbed's user has the same password and key on both hosts: both hops get the same credentials.
  const auth: SshAuth = {
    useAgent: false,
    ...(password !== undefined ? { password: new RedactedSecret(password) } : {}),
    ...(choice.key === true ? { privateKeyPath: tb.privateKeyPath } : {}),
    ...(passphrase !== undefined ? { passphrase: new RedactedSecret(passphrase) } : {}),
    ...(choice.otpCommand !== undefined ? { otpCommand: choice.otpCommand } : {}),
    ...(choice.preferredMethods !== undefined ? { preferredMethods: choice.preferredMethods } : {}),
  };
  return {
    remote: { host: choice.remoteHost ?? tb.hosts.hpc.ip, port: tb.hosts.hpc.port, user, auth, pinnedHostKeys: [] },
    jump: { host: choice.jumpHost ?? tb.hosts.jump.ip, port: tb.hosts.jump.port, user, auth, pinnedHostKeys: [] },
    remoteBindPort: 18861,
    knownHostsFile: choice.knownHostsFile,
    // These tests start from an empty known_hosts: not strict means recording new hosts, as tunnel-test
    // --accept-new-host-key does.
    unknownHostKeys: choice.strict === true ? 'refuse' : 'record',
    strictHostKeyChecking: choice.strict ?? false,
    timings: { ...defaultSshTimings, connectTimeoutMs: 3_000, readyTimeoutMs: 10_000, keepaliveIntervalMs: 2_000, keepaliveCountMax: 3 },
  };
}

/** A directory for this test's files, removed afterwards. */
export function scratchDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'hv-ssh-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface RecordingLog extends SshLog {
  readonly lines: string[];
}

export function recordingLog(): RecordingLog {
  const lines: string[] = [];
  const record = (level: string) => (obj: object, msg?: string) => {
    lines.push(`${level} ${msg ?? ''} ${JSON.stringify(obj)}`);
  };
  return { lines, debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') };
}

/** Fails if any of the testbed's secrets appears in the given texts. */
export function assertNoSecrets(tb: Testbed, texts: readonly string[]): void {
  const secrets = [tb.password(), tb.passphrase()];
  for (const text of texts) {
    for (const secret of secrets) assert.ok(!text.includes(secret), 'a secret appeared in a log line or error message');
  }
}

export interface EchoServer {
  readonly port: number;
  stop(): Promise<void>;
}

// Exits when its stdin closes, so it cannot outlive the test that started it. In 'stream' mode it echoes
// bytes as they come; in 'frame' mode it reads a whole frame (4-byte big-endian length + payload) and only
// then answers with the same frame, header and payload as two writes: the request/response pattern of RPC.
const echoScript = `
const net = require('node:net');
const framed = process.argv[1] === 'frame';
const server = net.createServer((s) => {
  s.setNoDelay(true);
  s.on('error', () => s.destroy());
  if (!framed) { s.pipe(s); return; }
  let buffered = Buffer.alloc(0);
  s.on('data', (chunk) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 4 && buffered.length >= 4 + buffered.readUInt32BE(0)) {
      const length = buffered.readUInt32BE(0);
      s.write(buffered.subarray(0, 4));
      s.write(buffered.subarray(4, 4 + length));
      buffered = buffered.subarray(4 + length);
    }
  });
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
process.stdin.on('end', () => process.exit(0)).resume();
`;

/** A TCP echo server on hpc's 127.0.0.1, run as the test user (like the bot would be). */
export async function startEchoServer(tb: Testbed, mode: 'stream' | 'frame' = 'stream'): Promise<EchoServer> {
  const argv = ['runuser', '-u', tb.user.name, '--', '/usr/bin/node', '-e', echoScript, mode];
  const child: ChildProcess = tb.inNamespace('hv-hpc', argv, { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const match = /^(\d+)\n/.exec(out);
      if (match?.[1] !== undefined) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`echo server exited early (${code})`)));
    child.once('error', reject);
  });
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          resolve();
          return;
        }
        child.once('exit', () => resolve());
        child.stdin?.end();
      }),
  };
}

/**
 * Sends `size` bytes through a stream to the echo server and resolves when they all came back. With
 * `framed`, the bytes go as one frame (length header + payload) for the 'frame' mode server.
 */
export function echoRoundTrip(stream: Duplex, size: number, framed = false): Promise<void> {
  return new Promise((resolve, reject) => {
    const payload = Buffer.alloc(size, 0x61);
    if (framed) payload.writeUInt32BE(size - 4, 0);
    let received = 0;
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received >= size) {
        cleanup();
        resolve();
      }
    };
    const onEnd = (): void => {
      cleanup();
      reject(new Error(`stream ended after ${received} of ${size} bytes`));
    };
    const cleanup = (): void => {
      stream.off('data', onData);
      stream.off('error', onEnd);
      stream.off('close', onEnd);
    };
    stream.on('data', onData);
    stream.once('error', onEnd);
    stream.once('close', onEnd);
    stream.write(payload);
  });
}
