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

export interface SshHop {
  readonly host: string;
  readonly port: number;
  readonly user: string;
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
  readonly auth: SshAuth;
  /** harvester's own known_hosts file (OpenSSH format). */
  readonly knownHostsFile: string;
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
}

export function routeFromMiddleware(mw: MiddlewareConfig, options: RouteOptions): SshRoute {
  const remote: SshHop = { host: mw.remoteHost, port: mw.remotePort, user: mw.sshUserName };
  const jump: SshHop | undefined =
    mw.jumpHost !== undefined && mw.jumpHost !== ''
      ? { host: mw.jumpHost, port: mw.jumpPort, user: mw.jumpUserName ?? mw.sshUserName }
      : undefined;
  const auth: SshAuth = {
    useAgent: mw.useAgent,
    ...(mw.sshPassword !== undefined ? { password: new RedactedSecret(mw.sshPassword.value) } : {}),
    ...(mw.privateKey !== undefined ? { privateKeyPath: mw.privateKey } : {}),
    ...(mw.passPhrase !== undefined ? { passphrase: new RedactedSecret(mw.passPhrase.value) } : {}),
    ...(mw.otpCommand !== undefined ? { otpCommand: mw.otpCommand } : {}),
    ...preferredFromExtra(mw.extra['preferredAuthentications']),
  };
  return {
    remote,
    ...(jump !== undefined ? { jump } : {}),
    remoteBindPort: mw.remoteBindPort,
    auth,
    knownHostsFile: options.knownHostsFile,
    strictHostKeyChecking: mw.strictHostKeyChecking,
    timings: { ...defaultSshTimings, ...options.timings },
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
  const secrets = createHash('sha256')
    .update(route.auth.password?.reveal() ?? '')
    .update('\0')
    .update(route.auth.passphrase?.reveal() ?? '')
    .digest('hex')
    .slice(0, 12);
  return JSON.stringify([
    describeRoute(route),
    route.remoteBindPort,
    route.auth.privateKeyPath ?? '',
    route.auth.useAgent,
    route.auth.otpCommand ?? '',
    route.auth.preferredMethods?.join(',') ?? '',
    route.knownHostsFile,
    route.strictHostKeyChecking,
    secrets,
  ]);
}
