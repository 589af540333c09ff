// An SshRoute is everything needed to reach one remote host, as plain data: the hops, the credentials and the
// host-key policy. It is built once from the queue's "rpc" element; its display form and its sharing key
// never contain a secret, and the secrets themselves sit in a wrapper that prints as "***".
import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import type { MiddlewareConfig } from '../../config/types.js';
import type { AuthMethodName } from './auth.js';
import { formatHostPort } from './errors.js';

/** A secret value that refuses to show itself in logs, JSON or util.inspect. Use reveal() at the point of use. */
export class RedactedSecret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toJSON(): string {
    return '***';
  }
  toString(): string {
    return '***';
  }
  [inspect.custom](): string {
    return '***';
  }
}

export interface SshAuth {
  readonly password?: RedactedSecret;
  /** Path of the private key file (read and parsed at connect time). */
  readonly privateKeyPath?: string;
  readonly passphrase?: RedactedSecret;
  /** Try the ssh-agent at $SSH_AUTH_SOCK first. */
  readonly useAgent: boolean;
  /** Shell command whose stdout answers each keyboard-interactive prompt (run afresh for every prompt). */
  readonly otpCommand?: string;
  /**
   * Which methods to try, in this order (OpenSSH's PreferredAuthentications); default: every method the
   * configuration allows, in the order agent, publickey, password, keyboard-interactive.
   */
  readonly preferredMethods?: readonly AuthMethodName[];
}

/**
 * One SSH server on the way to the bot, with the credentials offered to it and only to it (a hop never sees
 * the other hop's password or one-time passwords), and the host key fingerprints pinned for it.
 */
export interface SshHop {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly auth: SshAuth;
  /** "SHA256:..." fingerprints accepted for this host without known_hosts (the rpc element's hostKeys). */
  readonly pinnedHostKeys: readonly string[];
}

/**
 * What a host key that is neither in known_hosts nor pinned does: fail the hop ('refuse': `harvester run`
 * and every other command), or get appended to known_hosts ('record': only `tunnel-test --accept-new-host-key`).
 */
export type UnknownHostKeyPolicy = 'refuse' | 'record';

export interface SshTimings {
  /** TCP connect, and the jump host's forward to the remote sshd. */
  readonly connectTimeoutMs: number;
  /** SSH handshake plus authentication, per hop. */
  readonly readyTimeoutMs: number;
  readonly keepaliveIntervalMs: number;
  /** Unanswered keepalives before a hop counts as dead. */
  readonly keepaliveCountMax: number;
}

export interface SshRoute {
  /** The host the bot runs on (harvester's remoteHost/remotePort/sshUserName). */
  readonly remote: SshHop;
  /** The jump host, when the remote host is reached through one. */
  readonly jump?: SshHop;
  /** The bot's port on the remote host's loopback (remoteBindPort); part of the sharing key. */
  readonly remoteBindPort: number;
  /** harvester's own known_hosts file (OpenSSH format). */
  readonly knownHostsFile: string;
  readonly unknownHostKeys: UnknownHostKeyPolicy;
  /** The rpc element's strictHostKeyChecking: only for the advice given with an unknown key. */
  readonly strictHostKeyChecking: boolean;
  readonly timings: SshTimings;
}

export const defaultSshTimings: SshTimings = Object.freeze({
  connectTimeoutMs: 10_000,
  readyTimeoutMs: 20_000,
  keepaliveIntervalMs: 15_000,
  keepaliveCountMax: 4,
});

export interface RouteOptions {
  readonly knownHostsFile: string;
  readonly timings?: Partial<SshTimings>;
  /**
   * Record unknown host keys instead of refusing them: `tunnel-test --accept-new-host-key` only. Ignored when
   * the rpc element says strictHostKeyChecking: true.
   */
  readonly acceptNewHostKeys?: boolean;
}

/**
 * The route of an rpc element. Credentials per hop (README, "The rpc element"):
 * - the remote host gets sshUserName, sshPassword, privateKey + passPhrase, otpCommand;
 * - the jump host gets jumpUserName, jumpSshPassword, jumpPrivateKey + jumpPassPhrase, jumpOtpCommand, and where
 *   those are absent, the remote host's user and key (with its passPhrase), as harvester does; the remote host's
 *   password and otpCommand only with shareCredentialsWithJump (a password goes to the host it was set for);
 * - useAgent and preferredAuthentications apply to both.
 */
export function routeFromMiddleware(mw: MiddlewareConfig, options: RouteOptions): SshRoute {
  const preferred = preferredFromExtra(mw.extra['preferredAuthentications']);
  const remoteAuth: SshAuth = {
    useAgent: mw.useAgent,
    ...(mw.sshPassword !== undefined ? { password: new RedactedSecret(mw.sshPassword.value) } : {}),
    ...(mw.privateKey !== undefined ? { privateKeyPath: mw.privateKey } : {}),
    ...(mw.passPhrase !== undefined ? { passphrase: new RedactedSecret(mw.passPhrase.value) } : {}),
    ...(mw.otpCommand !== undefined ? { otpCommand: mw.otpCommand } : {}),
    ...preferred,
  };
  const remote: SshHop = {
    host: mw.remoteHost,
    port: mw.remotePort,
    user: mw.sshUserName,
    auth: remoteAuth,
    pinnedHostKeys: [...(mw.hostKeys?.remote ?? [])],
  };
  const jump: SshHop | undefined =
    mw.jumpHost !== undefined && mw.jumpHost !== ''
      ? {
          host: mw.jumpHost,
          port: mw.jumpPort,
          user: mw.jumpUserName ?? mw.sshUserName,
          auth: jumpAuthFrom(mw, preferred),
          pinnedHostKeys: [...(mw.hostKeys?.jump ?? [])],
        }
      : undefined;
  return {
    remote,
    ...(jump !== undefined ? { jump } : {}),
    remoteBindPort: mw.remoteBindPort,
    knownHostsFile: options.knownHostsFile,
    unknownHostKeys: options.acceptNewHostKeys === true && !mw.strictHostKeyChecking ? 'record' : 'refuse',
    strictHostKeyChecking: mw.strictHostKeyChecking,
    timings: { ...defaultSshTimings, ...options.timings },
  };
}

function jumpAuthFrom(mw: MiddlewareConfig, preferred: { preferredMethods?: AuthMethodName[] }): SshAuth {
  const shared = mw.shareCredentialsWithJump === true;
  const password = mw.jumpSshPassword ?? (shared ? mw.sshPassword : undefined);
  // A passphrase belongs to its key file: the jump host's own key takes jumpPassPhrase, the shared one passPhrase.
  const keyPath = mw.jumpPrivateKey ?? mw.privateKey;
  const passphrase = mw.jumpPrivateKey !== undefined ? mw.jumpPassPhrase : mw.passPhrase;
  const otpCommand = mw.jumpOtpCommand ?? (shared ? mw.otpCommand : undefined);
  return {
    useAgent: mw.useAgent,
    ...(password !== undefined ? { password: new RedactedSecret(password.value) } : {}),
    ...(keyPath !== undefined ? { privateKeyPath: keyPath } : {}),
    ...(passphrase !== undefined ? { passphrase: new RedactedSecret(passphrase.value) } : {}),
    ...(otpCommand !== undefined ? { otpCommand } : {}),
    ...preferred,
  };
}

const methodNames: readonly AuthMethodName[] = ['agent', 'publickey', 'password', 'keyboard-interactive'];

/** Our extra key "preferredAuthentications": "keyboard-interactive,password" (unknown names are ignored). */
function preferredFromExtra(value: unknown): { preferredMethods?: AuthMethodName[] } {
  if (typeof value !== 'string' || value.trim() === '') return {};
  const names = value.split(',').map((n) => n.trim());
  return { preferredMethods: names.filter((n): n is AuthMethodName => (methodNames as readonly string[]).includes(n)) };
}

function describeHop(hop: SshHop): string {
  return `${hop.user}@${formatHostPort(hop.host, hop.port)}`;
}

/** `user@host:port via jumpUser@jump:port` (or without the "via" part); safe to log. */
export function describeRoute(route: SshRoute): string {
  const remote = describeHop(route.remote);
  return route.jump !== undefined ? `${remote} via ${describeHop(route.jump)}` : remote;
}

/**
 * Queues whose routes have the same key share one tunnel pool. The key covers the hops, the bot port and
 * every auth/host-key setting; secrets enter only as a truncated hash, so two queues with different
 * passwords for the same account do not silently share the first one's connections.
 */
export function routeKey(route: SshRoute): string {
  const hops = [route.remote, ...(route.jump !== undefined ? [route.jump] : [])];
  const secrets = createHash('sha256');
  for (const hop of hops) secrets.update(hop.auth.password?.reveal() ?? '').update('\0').update(hop.auth.passphrase?.reveal() ?? '').update('\0');
  return JSON.stringify([
    describeRoute(route),
    route.remoteBindPort,
    ...hops.map((hop) => [
      hop.auth.privateKeyPath ?? '',
      hop.auth.useAgent,
      hop.auth.otpCommand ?? '',
      hop.auth.preferredMethods?.join(',') ?? '',
      hop.pinnedHostKeys.join(','),
    ]),
    route.knownHostsFile,
    route.unknownHostKeys,
    route.strictHostKeyChecking,
    secrets.digest('hex').slice(0, 12),
  ]);
}
