// One SSH connection of a route (to the jump host or to the remote host): the TCP socket we open ourselves
// (so we can switch Nagle off on it), the handshake with host-key checking and authentication, and the
// classification of every way these can fail into the typed errors of errors.ts.
import { EventEmitter } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
// ssh2 is CommonJS and only some of its exports are visible to ESM named imports: use the default export.
import ssh2, { type ClientChannel, type ParsedKey } from 'ssh2';
import {
  AuthFailedError,
  HostKeyChangedError,
  HostKeyUnknownError,
  OtpCommandError,
  SshHandshakeError,
  SshStepError,
  TcpRefusedError,
  TcpTimeoutError,
  TcpUnreachableError,
  type SshStep,
} from './errors.js';
import { planAuth, type AuthMethodName, type OtpRunner } from './auth.js';
import { checkAndRecordHostKey, hostKeyFingerprint, hostKeyType } from './known-hosts.js';
import type { SshLog } from './log.js';
import type { SshHop, SshRoute } from './route.js';

const unreachableCodes = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTDOWN', 'EADDRNOTAVAIL', 'EAI_NONAME']);

function classifyTcpError(step: SshStep, hop: SshHop, error: NodeJS.ErrnoException, timeoutMs: number): SshStepError {
  if (error.code === 'ECONNREFUSED') return new TcpRefusedError(step, hop, { cause: error });
  if (error.code === 'ETIMEDOUT') return new TcpTimeoutError(step, hop, timeoutMs, { cause: error });
  if (error.code !== undefined && unreachableCodes.has(error.code)) return new TcpUnreachableError(step, hop, error.code, { cause: error });
  return new TcpUnreachableError(step, hop, error.code ?? error.message, { cause: error });
}

/** Opens a TCP connection with Nagle off, or rejects with a TCP step error. */
export function tcpConnect(step: SshStep, hop: SshHop, timeoutMs: number, signal?: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: hop.host, port: hop.port });
    socket.setNoDelay(true);
    const finish = (error?: Error): void => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
      if (error === undefined) {
        resolve(socket);
        return;
      }
      socket.destroy();
      reject(error);
    };
    const onConnect = (): void => finish();
    const onError = (error: NodeJS.ErrnoException): void => finish(classifyTcpError(step, hop, error, timeoutMs));
    const onAbort = (): void => finish(abortReason(signal));
    const timer = setTimeout(() => finish(new TcpTimeoutError(step, hop, timeoutMs)), timeoutMs);
    socket.once('connect', onConnect);
    socket.once('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new Error('aborted', { cause: reason });
}

/** How a hop's host key was accepted (tunnel-test shows the fingerprint of a recorded one). */
export interface HostKeyAccepted {
  readonly step: SshStep;
  readonly host: string;
  readonly port: number;
  readonly keyType: string;
  readonly fingerprint: string;
  /** 'known': in known_hosts; 'pinned': in the hop's hostKeys; 'recorded': new, appended to known_hosts. */
  readonly how: 'known' | 'pinned' | 'recorded';
  readonly knownHostsFile: string;
}

export interface HandshakeInputs {
  readonly step: SshStep;
  readonly route: SshRoute;
  /** This hop's private key, parsed (and decrypted), when it has one. */
  readonly key?: ParsedKey;
  readonly log: SshLog;
  readonly runOtp?: OtpRunner;
  readonly signal?: AbortSignal;
  readonly onHostKey?: (accepted: HostKeyAccepted) => void;
}

export type HopRole = 'jump' | 'remote';

/**
 * An SSH client connection to one hop. It keeps an 'error' listener for its whole life (ssh2 throws on an
 * unhandled one) and turns the client's end into a single 'close' event carrying the last error seen.
 */
export class HopConnection extends EventEmitter<{ close: [error: Error | undefined] }> {
  readonly client = new ssh2.Client();
  readonly hop: SshHop;
  readonly role: HopRole;
  #lastError: Error | undefined;
  #closed = false;
  readonly #log: SshLog;

  constructor(hop: SshHop, role: HopRole, log: SshLog) {
    super();
    this.hop = hop;
    this.role = role;
    this.#log = log;
    this.client.on('error', (error: Error) => {
      this.#lastError = error;
      this.#log.debug({ hop: role, host: hop.host, err: error.message }, 'ssh connection error');
    });
    this.client.on('close', () => this.#markClosed());
    // Over a forwarded channel the server's side ending is only an EOF: the jump host keeps the channel
    // half-open until we close our side too, and ssh2 would never emit 'close'. Treat the end as the end.
    this.client.on('end', () => {
      this.#markClosed();
      this.client.destroy();
    });
  }

  #markClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.emit('close', this.#lastError);
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /**
   * Runs the SSH handshake over `sock` (our TCP socket, or a channel forwarded by the jump host) and
   * resolves with the authentication method that got us in.
   */
  handshake(sock: Duplex, inputs: HandshakeInputs): Promise<AuthMethodName | 'none'> {
    const { step, route, key, log, signal } = inputs;
    const hop = this.hop;
    const timings = route.timings;
    const agentSocket = process.env['SSH_AUTH_SOCK'];
    const auth = planAuth({
      hop,
      ...(key !== undefined ? { key } : {}),
      ...(agentSocket !== undefined ? { agentSocket } : {}),
      ...(inputs.runOtp !== undefined ? { runOtp: inputs.runOtp } : {}),
    });
    let hostKeyError: SshStepError | undefined;

    const hostVerifier = (presented: Buffer, verify: (ok: boolean) => void): void => {
      const record = route.unknownHostKeys === 'record';
      checkAndRecordHostKey(route.knownHostsFile, hop.host, hop.port, presented, { record, pinned: hop.pinnedHostKeys }).then(
        (decision) => {
          const accepted = (how: HostKeyAccepted['how']): void => {
            inputs.onHostKey?.({ step, host: hop.host, port: hop.port, keyType: hostKeyType(presented), fingerprint: hostKeyFingerprint(presented), how, knownHostsFile: route.knownHostsFile });
            verify(true);
          };
          switch (decision.kind) {
            case 'known':
            case 'pinned':
              accepted(decision.kind);
              return;
            case 'recorded':
              log.info(
                { host: hop.host, port: hop.port, keyType: decision.keyType, fingerprint: decision.fingerprint, knownHostsFile: route.knownHostsFile },
                'new SSH host key accepted and recorded',
              );
              accepted('recorded');
              return;
            case 'unknown':
              hostKeyError = new HostKeyUnknownError(step, hop, route.knownHostsFile, decision.keyType, decision.fingerprint, route.strictHostKeyChecking);
              verify(false);
              return;
            case 'changed':
            case 'revoked':
              hostKeyError = new HostKeyChangedError(step, hop, route.knownHostsFile, decision.line, decision.keyType, decision.fingerprint);
              verify(false);
              return;
          }
        },
        (error: unknown) => {
          // Cannot read or write the file: refuse rather than connect unchecked.
          hostKeyError = new SshHandshakeError(step, hop, `cannot check host key ${hostKeyType(presented)} ${hostKeyFingerprint(presented)} against ${route.knownHostsFile}: ${String(error)}`, { cause: error });
          verify(false);
        },
      );
    };

    return new Promise<AuthMethodName | 'none'>((resolve, reject) => {
      let settled = false;
      const settle = (error?: Error): void => {
        if (settled) return;
        settled = true;
        this.client.off('ready', onReady);
        this.client.off('error', onError);
        this.off('close', onClose);
        signal?.removeEventListener('abort', onAbort);
        if (error === undefined) resolve(auth.tried.at(-1) ?? 'none');
        else {
          this.close();
          reject(error);
        }
      };
      const classify = (error: Error | undefined): Error => {
        if (hostKeyError !== undefined) return hostKeyError;
        const otpFailure = auth.otpFailure();
        if (otpFailure !== undefined) return new OtpCommandError(step, hop, otpFailure.message);
        const level = (error as { level?: string } | undefined)?.level;
        if (level === 'client-authentication') return new AuthFailedError(step, hop, auth.tried, auth.serverMethods());
        if (level === 'client-timeout') return new SshHandshakeError(step, hop, `no complete handshake within ${timings.readyTimeoutMs} ms`, { cause: error });
        return new SshHandshakeError(step, hop, error?.message ?? 'connection closed before the handshake completed', error !== undefined ? { cause: error } : undefined);
      };
      const onReady = (): void => settle();
      const onError = (error: Error): void => settle(classify(error));
      const onClose = (error: Error | undefined): void => settle(classify(error));
      const onAbort = (): void => settle(abortReason(signal));
      this.client.once('ready', onReady);
      this.client.on('error', onError);
      this.once('close', onClose);
      if (signal?.aborted === true) {
        settle(abortReason(signal));
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.client.connect({
        sock,
        username: hop.user,
        hostVerifier,
        authHandler: auth.handler,
        readyTimeout: timings.readyTimeoutMs,
        keepaliveInterval: timings.keepaliveIntervalMs,
        keepaliveCountMax: timings.keepaliveCountMax,
      });
    });
  }

  /** Asks this hop's sshd for a direct-tcpip channel to target (used for the remote sshd and for the bot). */
  openChannel(targetHost: string, targetPort: number, timeoutMs: number): Promise<ClientChannel> {
    return this.#openWithin(timeoutMs, (done) => this.client.forwardOut('127.0.0.1', 0, targetHost, targetPort, done));
  }

  /** A direct-streamlocal channel (OpenSSH's extension) to a unix socket on this host. */
  openStreamLocalChannel(socketPath: string, timeoutMs: number): Promise<ClientChannel> {
    return this.#openWithin(timeoutMs, (done) => this.client.openssh_forwardOutStreamLocal(socketPath, done));
  }

  /** Opens a channel, giving up after timeoutMs (a channel that comes later is closed, not leaked). */
  #openWithin(timeoutMs: number, open: (done: (error: Error | undefined, channel: ClientChannel) => void) => void): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(new ChannelOpenTimeout(timeoutMs));
      }, timeoutMs);
      open((error, channel) => {
        clearTimeout(timer);
        if (settled) {
          if (error === undefined) channel.close();
          return;
        }
        settled = true;
        if (error !== undefined) reject(error);
        else resolve(channel);
      });
    });
  }

  close(): void {
    this.client.end();
    // end() is polite; if the peer does not answer, make sure the socket goes away anyway.
    setTimeout(() => {
      if (!this.#closed) this.client.destroy();
    }, 2_000).unref();
  }

  destroy(): void {
    this.client.destroy();
  }
}

export class ChannelOpenTimeout extends Error {
  override readonly name = 'ChannelOpenTimeout';
  constructor(readonly timeoutMs: number) {
    super(`no answer to the channel open request within ${timeoutMs} ms`);
  }
}

/** Strips ssh2's "(SSH) Channel open failure: " prefix, leaving the server's own reason. */
export function channelFailureDetail(error: Error): string {
  return error.message.replace(/^\(SSH\) Channel open failure: /, '');
}

/** The jump host's direct-tcpip to the remote sshd, classified as a 'remote-tcp' failure when it fails. */
export async function forwardToRemoteSshd(jump: HopConnection, remote: SshHop, timeoutMs: number): Promise<ClientChannel> {
  try {
    return await jump.openChannel(remote.host, remote.port, timeoutMs);
  } catch (error) {
    if (error instanceof ChannelOpenTimeout) throw new TcpTimeoutError('remote-tcp', remote, timeoutMs, { cause: error });
    const err = error as Error & { reason?: number };
    const detail = channelFailureDetail(err);
    if (/refused/i.test(detail)) throw new TcpRefusedError('remote-tcp', remote, { cause: err });
    if (/timed out/i.test(detail)) throw new TcpTimeoutError('remote-tcp', remote, timeoutMs, { cause: err });
    if (err.reason === 1 || /prohibited/i.test(detail)) {
      throw new SshStepError(
        'remote-tcp',
        remote,
        `the jump host ${jump.hop.host} refuses to forward to it (${detail})`,
        'the jump host must allow TCP forwarding for this user (AllowTcpForwarding / PermitOpen)',
        true,
        { cause: err },
      );
    }
    throw new TcpUnreachableError('remote-tcp', remote, detail, { cause: err });
  }
}
