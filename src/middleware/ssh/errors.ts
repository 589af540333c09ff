// Typed failures of the SSH transport. Each one names the step that failed, the host, port and user it was
// talking to, and the most likely fix, because the operator reading it is usually looking at a queue that
// stopped working and needs to know which of the two hops, and which setting, to look at.
// None of them ever carries a secret: auth errors list the methods tried, never the values.

/** The stages of reaching the bot; 'key-load' happens before any connection. */
export type SshStep =
  | 'key-load'
  | 'jump-tcp'
  | 'jump-auth'
  | 'remote-tcp'
  | 'remote-auth'
  | 'forward'
  | 'sftp'
  | 'exec';

export interface SshEndpoint {
  readonly host: string;
  readonly port: number;
  readonly user: string;
}

export interface SshStepErrorOptions {
  readonly cause?: unknown;
}

export class SshStepError extends Error {
  override readonly name: string = 'SshStepError';
  readonly step: SshStep;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** What went wrong, without the step, the endpoint or the hint (the message has them all). */
  readonly detail: string;
  /** What the operator should most likely change or check. */
  readonly hint: string;
  /** True when retrying the same thing cannot help (credentials, host keys); a pool still retries, slowly. */
  readonly persistent: boolean;

  constructor(
    step: SshStep,
    at: SshEndpoint,
    detail: string,
    hint: string,
    persistent: boolean,
    options?: SshStepErrorOptions,
  ) {
    super(`${step} ${at.user}@${formatHostPort(at.host, at.port)}: ${detail} (likely fix: ${hint})`, options);
    this.step = step;
    this.host = at.host;
    this.port = at.port;
    this.user = at.user;
    this.detail = detail;
    this.hint = hint;
    this.persistent = persistent;
  }
}

/**
 * An error as another line quotes it: an SSH step error by its detail only (the quoting line names the step,
 * the endpoint and the fix once, which the step error's own message would repeat), any other by its message.
 */
export function quotedDetail(error: unknown): string {
  if (error instanceof SshStepError) return error.detail;
  return error instanceof Error ? error.message : String(error);
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

// ---- TCP ------------------------------------------------------------------------------------------------

/** The TCP connection to an sshd (directly, or forwarded by the jump host) could not be made. */
export class SshTcpError extends SshStepError {
  override readonly name: string = 'SshTcpError';
}

export class TcpRefusedError extends SshTcpError {
  override readonly name: string = 'TcpRefusedError';
  constructor(step: SshStep, at: SshEndpoint, options?: SshStepErrorOptions) {
    super(step, at, 'connection refused', 'check that sshd runs on that host and port (remotePort / jumpPort)', false, options);
  }
}

export class TcpUnreachableError extends SshTcpError {
  override readonly name: string = 'TcpUnreachableError';
  constructor(step: SshStep, at: SshEndpoint, detail: string, options?: SshStepErrorOptions) {
    super(step, at, `host unreachable (${detail})`, 'check the host name (remoteHost / jumpHost), DNS and routing from here', false, options);
  }
}

export class TcpTimeoutError extends SshTcpError {
  override readonly name: string = 'TcpTimeoutError';
  readonly timeoutMs: number;
  constructor(step: SshStep, at: SshEndpoint, timeoutMs: number, options?: SshStepErrorOptions) {
    super(step, at, `no answer within ${timeoutMs} ms`, 'a firewall may drop the packets, or the host is down; check the host and port', false, options);
    this.timeoutMs = timeoutMs;
  }
}

// ---- SSH handshake and authentication ------------------------------------------------------------------

/** TCP worked but the SSH handshake did not complete (not an sshd, dropped, or too slow). */
export class SshHandshakeError extends SshStepError {
  override readonly name: string = 'SshHandshakeError';
  constructor(step: SshStep, at: SshEndpoint, detail: string, options?: SshStepErrorOptions) {
    super(step, at, `SSH handshake failed: ${detail}`, 'check that an sshd (not another service) listens there and is not overloaded (MaxStartups)', false, options);
  }
}

export class AuthFailedError extends SshStepError {
  override readonly name: string = 'AuthFailedError';
  /** Methods we tried, in order ('agent', 'publickey', 'password', 'keyboard-interactive'). */
  readonly methodsTried: readonly string[];
  /** Methods the server said it would still accept, when it told us. */
  readonly serverMethods: readonly string[];
  constructor(step: SshStep, at: SshEndpoint, methodsTried: readonly string[], serverMethods: readonly string[], options?: SshStepErrorOptions) {
    const tried = methodsTried.length > 0 ? methodsTried.join(', ') : 'none available';
    const offered = serverMethods.length > 0 ? serverMethods.join(', ') : 'unknown';
    super(
      step,
      at,
      `authentication failed (tried: ${tried}; server accepts: ${offered})`,
      step === 'jump-auth'
        ? 'check jumpUserName (default sshUserName), jumpSshPassword, jumpPrivateKey (default privateKey), jumpOtpCommand, and that the public key is in authorized_keys on the jump host; ' +
            'sshPassword and otpCommand reach the jump host only with "shareCredentialsWithJump": true'
        : 'check sshUserName, sshPassword, privateKey, otpCommand and that the public key is in authorized_keys on that host',
      true,
      options,
    );
    this.methodsTried = [...methodsTried];
    this.serverMethods = [...serverMethods];
  }
}

/** The command configured as otpCommand failed, so keyboard-interactive had no answer to give. */
export class OtpCommandError extends SshStepError {
  override readonly name: string = 'OtpCommandError';
  constructor(step: SshStep, at: SshEndpoint, detail: string, options?: SshStepErrorOptions) {
    super(step, at, `otpCommand failed: ${detail}`, 'run the otpCommand by hand as the harvester user and fix it', false, options);
  }
}

// ---- Keys -----------------------------------------------------------------------------------------------

export class KeyPassphraseError extends SshStepError {
  override readonly name: string = 'KeyPassphraseError';
  readonly keyPath: string;
  constructor(at: SshEndpoint, keyPath: string, missing: boolean, options?: SshStepErrorOptions) {
    super(
      'key-load',
      at,
      missing ? `private key ${keyPath} is encrypted and no passPhrase is configured` : `wrong passPhrase for private key ${keyPath}`,
      'set the key\'s passphrase: passPhrase for privateKey, jumpPassPhrase for jumpPrivateKey (check with: ssh-keygen -y -f <key>)',
      true,
      options,
    );
    this.keyPath = keyPath;
  }
}

export class KeyUnreadableError extends SshStepError {
  override readonly name: string = 'KeyUnreadableError';
  readonly keyPath: string;
  constructor(at: SshEndpoint, keyPath: string, detail: string, options?: SshStepErrorOptions) {
    super('key-load', at, `cannot use private key ${keyPath}: ${detail}`, 'point privateKey at a readable OpenSSH/PEM private key file', true, options);
    this.keyPath = keyPath;
  }
}

// ---- Host keys ------------------------------------------------------------------------------------------

export class HostKeyChangedError extends SshStepError {
  override readonly name: string = 'HostKeyChangedError';
  readonly knownHostsFile: string;
  /** 1-based line of knownHostsFile holding the key we expected. */
  readonly line: number;
  readonly keyType: string;
  /** SHA256 fingerprint of the key the server presented (OpenSSH's format). */
  readonly presentedFingerprint: string;
  constructor(step: SshStep, at: SshEndpoint, knownHostsFile: string, line: number, keyType: string, presentedFingerprint: string) {
    super(
      step,
      at,
      `HOST KEY CHANGED: the server presented ${keyType} ${presentedFingerprint}, which differs from line ${line} of ${knownHostsFile}`,
      `if the host was really reinstalled, remove line ${line} of ${knownHostsFile} (or: ssh-keygen -R '${knownHostsName(at.host, at.port)}' -f ${knownHostsFile}); otherwise someone may be intercepting the connection`,
      true,
    );
    this.knownHostsFile = knownHostsFile;
    this.line = line;
    this.keyType = keyType;
    this.presentedFingerprint = presentedFingerprint;
  }
}

/** The host presented a key that is neither in known_hosts nor pinned, and this command may not record it. */
export class HostKeyUnknownError extends SshStepError {
  override readonly name: string = 'HostKeyUnknownError';
  readonly knownHostsFile: string;
  readonly keyType: string;
  readonly presentedFingerprint: string;
  constructor(step: SshStep, at: SshEndpoint, knownHostsFile: string, keyType: string, presentedFingerprint: string, strict: boolean) {
    const hop = step.startsWith('jump') ? 'jump' : 'remote';
    const pin = `"hostKeys": {"${hop}": ["${presentedFingerprint}"]} in the rpc element`;
    super(
      step,
      at,
      `unknown host key ${keyType} ${presentedFingerprint} for ${formatHostPort(at.host, at.port)}: not in ${knownHostsFile} and not pinned in hostKeys.${hop}`,
      strict
        ? `strictHostKeyChecking is on, so only known_hosts and hostKeys count: check the fingerprint with the site, then pin it (${pin}) or add the host's key line to ${knownHostsFile}`
        : `check the fingerprint with the site, then record it with \`harvester tunnel-test --queue <queue> --accept-new-host-key\` (into ${knownHostsFile}), or pin it: ${pin}`,
      true,
    );
    this.knownHostsFile = knownHostsFile;
    this.keyType = keyType;
    this.presentedFingerprint = presentedFingerprint;
  }
}

/** The name OpenSSH writes in known_hosts for a host and port. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

// ---- Channels on an established link ---------------------------------------------------------------------

/** The remote sshd could not open a direct-tcpip channel to the target (nothing listens, or forwarding is off). */
export class ForwardError extends SshStepError {
  override readonly name: string = 'ForwardError';
  readonly targetHost: string;
  readonly targetPort: number;
  constructor(at: SshEndpoint, targetHost: string, targetPort: number, detail: string, options?: SshStepErrorOptions) {
    super(
      'forward',
      at,
      `cannot open a channel to ${formatHostPort(targetHost, targetPort)} on that host: ${detail}`,
      `check that the bot is running and listens on ${formatHostPort(targetHost, targetPort)} (remoteBindPort), and that sshd allows TCP forwarding`,
      false,
      options,
    );
    this.targetHost = targetHost;
    this.targetPort = targetPort;
  }
}

/**
 * A channel to a unix socket on the remote host could not be opened. `prohibited`: sshd refuses stream-local
 * forwarding for this user (AllowStreamLocalForwarding no, or a restricted account): asking again cannot help.
 */
export class UnixForwardError extends SshStepError {
  override readonly name: string = 'UnixForwardError';
  readonly socketPath: string;
  readonly prohibited: boolean;
  constructor(at: SshEndpoint, socketPath: string, detail: string, prohibited: boolean, options?: SshStepErrorOptions) {
    super(
      'forward',
      at,
      `cannot open a channel to the unix socket ${socketPath} on that host: ${detail}`,
      prohibited
        ? 'sshd there refuses stream-local forwarding (AllowStreamLocalForwarding): use "transport": "tcp", or "stdio" when TCP forwarding is off too'
        : 'check that the bot is running with that home (its socket is <botHome>/bot.sock)',
      prohibited,
      options,
    );
    this.socketPath = socketPath;
    this.prohibited = prohibited;
  }
}

export class SftpError extends SshStepError {
  override readonly name: string = 'SftpError';
  readonly path: string;
  constructor(at: SshEndpoint, path: string, detail: string, options?: SshStepErrorOptions) {
    super('sftp', at, `cannot read ${path}: ${detail}`, 'check that the file exists and is readable by that user, and that sshd has the sftp subsystem', false, options);
    this.path = path;
  }
}

export class SftpUploadError extends SshStepError {
  override readonly name: string = 'SftpUploadError';
  readonly path: string;
  constructor(at: SshEndpoint, path: string, detail: string, options?: SshStepErrorOptions) {
    super('sftp', at, `cannot write ${path}: ${detail}`, 'check that the directory exists, is writable by that user and has free space', false, options);
    this.path = path;
  }
}

export class ExecError extends SshStepError {
  override readonly name: string = 'ExecError';
  readonly command: string;
  constructor(at: SshEndpoint, command: string, detail: string, options?: SshStepErrorOptions) {
    super('exec', at, `cannot run '${command}': ${detail}`, 'check that the account may run commands (no ForceCommand/restricted shell)', false, options);
    this.command = command;
  }
}

/** An operation was attempted on a link that is already closed. */
export class LinkClosedError extends Error {
  override readonly name = 'LinkClosedError';
  readonly route: string;
  constructor(route: string, reason: string, cause?: Error) {
    super(`SSH link ${route} is closed: ${reason}`, cause !== undefined ? { cause } : undefined);
    this.route = route;
  }
}

/** Whether retrying cannot fix this error by itself (wrong credentials, host key problems). */
export function isPersistentSshError(error: unknown): boolean {
  return error instanceof SshStepError && error.persistent;
}
