// connectRoute: from an SshRoute to an open SshLink, step by step — load the keys, TCP to the jump host,
// authenticate there, have it forward to the remote sshd, authenticate on the remote host over that
// channel. Each step is timed and reported through onStep (the tunnel-test command prints these), and
// any failure closes whatever was opened so far.
import { readFile } from 'node:fs/promises';
import ssh2, { type ParsedKey } from 'ssh2';
import { KeyPassphraseError, KeyUnreadableError, LinkClosedError, type SshStep } from './errors.js';
import type { OtpRunner } from './auth.js';
import { HopConnection, forwardToRemoteSshd, tcpConnect, type HostKeyAccepted } from './hop.js';
import { SshLink } from './link.js';
import type { SshLog } from './log.js';
import type { SshHop, SshRoute } from './route.js';

export type ConnectStep = Extract<SshStep, 'jump-tcp' | 'jump-auth' | 'remote-tcp' | 'remote-auth'>;

export interface StepReport {
  readonly step: ConnectStep;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly ms: number;
  readonly ok: boolean;
  /** Auth steps: the method that worked (never a value). */
  readonly method?: string;
  readonly error?: Error;
}

export interface ConnectOptions {
  readonly log: SshLog;
  readonly onStep?: (report: StepReport) => void;
  readonly signal?: AbortSignal;
  /** Replaces running otpCommand with /bin/sh (tests of the prompt logic). */
  readonly runOtp?: OtpRunner;
  /** Open the pty sessions that turn Nagle off on each hop (see link.ts). Default true; false only to measure. */
  readonly nagleGuard?: boolean;
  /** Told how each hop's host key was accepted (tunnel-test prints the fingerprint of a recorded one). */
  readonly onHostKey?: (accepted: HostKeyAccepted) => void;
}

/** Reads and decrypts a hop's private key before any connection, so a wrong passphrase is its own error. */
export async function loadPrivateKey(hop: SshHop): Promise<ParsedKey | undefined> {
  const path = hop.auth.privateKeyPath;
  if (path === undefined) return undefined;
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (error) {
    throw new KeyUnreadableError(hop, path, (error as NodeJS.ErrnoException).code ?? (error as Error).message, { cause: error });
  }
  const passphrase = hop.auth.passphrase?.reveal();
  const parsed = ssh2.utils.parseKey(data, passphrase);
  if (parsed instanceof Error) {
    // ssh2's messages: "Encrypted private ... key detected, but no passphrase given", "... bad passphrase?",
    // "Failed to decrypt ..."; anything else is a file that is not a usable key.
    if (/no passphrase given/i.test(parsed.message)) throw new KeyPassphraseError(hop, path, true);
    if (/passphrase|decrypt/i.test(parsed.message)) throw new KeyPassphraseError(hop, path, false);
    throw new KeyUnreadableError(hop, path, parsed.message);
  }
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key === undefined || !key.isPrivateKey()) throw new KeyUnreadableError(hop, path, 'the file holds no private key');
  return key;
}

/** Both hops' keys; a jump host using the remote host's key file (and passphrase) shares the parsed key. */
async function loadRouteKeys(route: SshRoute): Promise<{ remote?: ParsedKey; jump?: ParsedKey }> {
  const remote = await loadPrivateKey(route.remote);
  if (route.jump === undefined) return remote !== undefined ? { remote } : {};
  const same =
    route.jump.auth.privateKeyPath === route.remote.auth.privateKeyPath &&
    route.jump.auth.passphrase?.reveal() === route.remote.auth.passphrase?.reveal();
  const jump = same ? remote : await loadPrivateKey(route.jump);
  return { ...(remote !== undefined ? { remote } : {}), ...(jump !== undefined ? { jump } : {}) };
}

export async function connectRoute(route: SshRoute, options: ConnectOptions): Promise<SshLink> {
  const { log, signal } = options;
  signal?.throwIfAborted();
  const keys = await loadRouteKeys(route);
  const opened: HopConnection[] = [];

  const step = async <T>(name: ConnectStep, hop: SshHop, action: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      const result = await action();
      const method = typeof result === 'string' ? { method: result } : {};
      options.onStep?.({ step: name, host: hop.host, port: hop.port, user: hop.user, ms: performance.now() - started, ok: true, ...method });
      return result;
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      options.onStep?.({ step: name, host: hop.host, port: hop.port, user: hop.user, ms: performance.now() - started, ok: false, error: err });
      throw err;
    }
  };
  const handshakeInputs = (name: ConnectStep, key: ParsedKey | undefined) => ({
    step: name,
    route,
    log,
    ...(key !== undefined ? { key } : {}),
    ...(options.runOtp !== undefined ? { runOtp: options.runOtp } : {}),
    ...(options.onHostKey !== undefined ? { onHostKey: options.onHostKey } : {}),
    ...(signal !== undefined ? { signal } : {}),
  });
  const { connectTimeoutMs } = route.timings;

  try {
    let remoteSock;
    let jumpConnection: HopConnection | undefined;
    let jumpMethod: string | undefined;
    if (route.jump !== undefined) {
      const jumpHop = route.jump;
      const jumpSocket = await step('jump-tcp', jumpHop, () => tcpConnect('jump-tcp', jumpHop, connectTimeoutMs, signal));
      const jumpConn = new HopConnection(jumpHop, 'jump', log);
      jumpConnection = jumpConn;
      opened.push(jumpConn);
      jumpMethod = await step('jump-auth', jumpHop, () => jumpConn.handshake(jumpSocket, handshakeInputs('jump-auth', keys.jump)));
      remoteSock = await step('remote-tcp', route.remote, () => forwardToRemoteSshd(jumpConn, route.remote, connectTimeoutMs));
    } else {
      remoteSock = await step('remote-tcp', route.remote, () => tcpConnect('remote-tcp', route.remote, connectTimeoutMs, signal));
    }
    const remoteConn = new HopConnection(route.remote, 'remote', log);
    opened.push(remoteConn);
    const sock = remoteSock;
    const remoteMethod = await step('remote-auth', route.remote, () => remoteConn.handshake(sock, handshakeInputs('remote-auth', keys.remote)));
    signal?.throwIfAborted();
    const link = new SshLink(route, remoteConn, jumpConnection, log, { remote: remoteMethod, ...(jumpMethod !== undefined ? { jump: jumpMethod } : {}) });
    if (options.nagleGuard !== false) await link.guardAgainstNagle();
    if (!link.isOpen) {
      // A hop died while we set up the pty sessions; report that rather than hand out a dead link.
      throw new LinkClosedError(link.description, `closed during setup: ${link.closeReason?.message ?? 'unknown reason'}`, link.closeReason?.error);
    }
    log.debug({ route: link.description }, 'ssh link up');
    return link;
  } catch (error) {
    for (const connection of opened.reverse()) connection.close();
    throw error;
  }
}
