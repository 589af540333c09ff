// An established route: an authenticated SSH connection to the remote host (through the jump host when
// there is one), offering the few things the herder needs — TCP forwards to the bot, reading a file over
// SFTP, running commands. When either hop goes away the whole link closes, once, with the reason.
//
// Latency: OpenSSH's sshd leaves Nagle's algorithm on for a connection until its first session asks for a
// pty (ssh_packet_set_interactive is decided once, by the first session). A request/response protocol over
// a direct-tcpip channel then waits on delayed ACKs (measured: 44 ms instead of 2.3 ms for a 316 KB round
// trip through a jump host). So before anything else, each hop gets one pty session running `cat`, kept
// open for the link's life; sshd switches TCP_NODELAY on for that connection.
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { ClientChannel, SFTPWrapper } from 'ssh2';
import { ExecError, ForwardError, LinkClosedError, SftpError, SftpUploadError, UnixForwardError } from './errors.js';
import { ChannelOpenTimeout, channelFailureDetail, type HopConnection } from './hop.js';
import type { SshLog } from './log.js';
import { describeRoute, type SshRoute } from './route.js';

export interface LinkCloseReason {
  /** True when close() was called; false when a hop died (network, sshd killed, keepalive timeout). */
  readonly requested: boolean;
  readonly message: string;
  /** Which hop went first, when not requested. */
  readonly hop?: 'jump' | 'remote';
  readonly error?: Error;
}

export interface ExecOptions {
  readonly pty?: boolean;
  /** Give up (and close the channel) after this long. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Cap per stream, so a runaway command cannot exhaust memory. Default 16 MiB. */
  readonly maxOutputBytes?: number;
  /** Written to the command's stdin, which is then closed (e.g. a script for `/bin/sh -s`). */
  readonly input?: string;
}

export interface ExecResult {
  /** Exit status; null when the command died from a signal. */
  readonly code: number | null;
  readonly signal?: string;
  readonly stdout: string;
  readonly stderr: string;
}

export interface UploadOptions {
  /** Called as chunks are acknowledged: bytes written so far and the file's size. */
  readonly onProgress?: (sent: number, total: number) => void;
  readonly signal?: AbortSignal;
  /** Mode of the remote file (default 0o600). */
  readonly mode?: number;
}

export interface SpawnOptions {
  readonly pty?: boolean;
}

const nagleGuardCommand = 'cat';

export class SshLink extends EventEmitter<{ close: [reason: LinkCloseReason] }> {
  readonly route: SshRoute;
  /** Safe to log: no secrets. */
  readonly description: string;
  readonly #remote: HopConnection;
  readonly #jump: HopConnection | undefined;
  readonly #log: SshLog;
  #closeReason: LinkCloseReason | undefined;
  readonly #guards: ClientChannel[] = [];
  #home: Promise<string> | undefined;
  /** The authentication method that worked on each hop (for diagnostics; never a value). */
  readonly authMethods: { readonly remote: string; readonly jump?: string };

  /** Use connectRoute(); this is called by it once both hops are authenticated. */
  constructor(route: SshRoute, remote: HopConnection, jump: HopConnection | undefined, log: SshLog, authMethods: { remote: string; jump?: string }) {
    super();
    this.authMethods = authMethods;
    this.route = route;
    this.description = describeRoute(route);
    this.#remote = remote;
    this.#jump = jump;
    this.#log = log;
    remote.once('close', (error) => this.#shutdown({ requested: false, hop: 'remote', message: lostMessage('remote host', error), ...(error ? { error } : {}) }));
    jump?.once('close', (error) => this.#shutdown({ requested: false, hop: 'jump', message: lostMessage('jump host', error), ...(error ? { error } : {}) }));
  }

  get isOpen(): boolean {
    return this.#closeReason === undefined;
  }

  /** Why the link closed, once it has. */
  get closeReason(): LinkCloseReason | undefined {
    return this.#closeReason;
  }

  /**
   * Opens the pty sessions that make each hop's sshd disable Nagle (see the file comment). A hop that
   * refuses a pty still works, only slower, so that is a warning, not a failure.
   */
  async guardAgainstNagle(): Promise<void> {
    const hops = [this.#jump, this.#remote].filter((h): h is HopConnection => h !== undefined);
    await Promise.all(
      hops.map(async (hop) => {
        try {
          const channel = await execChannel(hop, nagleGuardCommand, true);
          // Nothing reads it; drain so sshd never blocks on a full window.
          channel.resume();
          channel.stderr.resume();
          this.#guards.push(channel);
        } catch (error) {
          this.#log.warn(
            { route: this.description, host: hop.hop.host, err: (error as Error).message },
            'could not open a pty session; this hop keeps Nagle on and round trips will be slower',
          );
        }
      }),
    );
  }

  /** A direct-tcpip channel from the remote host to host:port (the bot on its loopback). */
  async forward(port: number, host = '127.0.0.1'): Promise<Duplex> {
    this.#assertOpen();
    try {
      return await this.#remote.openChannel(host, port, this.route.timings.connectTimeoutMs);
    } catch (error) {
      const err = error as Error;
      const detail = error instanceof ChannelOpenTimeout ? err.message : channelFailureDetail(err);
      throw new ForwardError(this.#remote.hop, host, port, detail, { cause: err });
    }
  }

  /**
   * A channel to a unix socket on the remote host (stream-local forwarding). The path must be absolute: sshd
   * does not resolve it against the user's home. Refused by sites with AllowStreamLocalForwarding no: the
   * ForwardError then says so (isForwardingRefused tells).
   */
  async forwardUnix(socketPath: string): Promise<Duplex> {
    this.#assertOpen();
    try {
      return await this.#remote.openStreamLocalChannel(socketPath, this.route.timings.connectTimeoutMs);
    } catch (error) {
      const err = error as Error & { reason?: number };
      const detail = error instanceof ChannelOpenTimeout ? err.message : channelFailureDetail(err);
      // SSH_OPEN_ADMINISTRATIVELY_PROHIBITED (1): sshd's policy, not a missing socket.
      throw new UnixForwardError(this.#remote.hop, socketPath, detail, err.reason === 1 || /prohibited/i.test(detail), { cause: err });
    }
  }

  /** Whether `path` on the remote host is a unix socket (SFTP stat; false when it does not exist). */
  async isSocket(path: string): Promise<boolean> {
    const sftp = await this.#sftp((detail, cause) => new SftpError(this.#remote.hop, path, detail, { cause }));
    try {
      return await new Promise<boolean>((resolve) => {
        sftp.stat(path, (error: Error | undefined, stats: { isSocket(): boolean }) => resolve(error ? false : stats.isSocket()));
      });
    } finally {
      sftp.end();
    }
  }

  /** The login user's home directory on the remote host (SFTP realpath of "."), asked once per link. */
  async homeDirectory(): Promise<string> {
    this.#home ??= (async () => {
      const sftp = await this.#sftp((detail, cause) => new SftpError(this.#remote.hop, '.', detail, { cause }));
      try {
        return await new Promise<string>((resolve, reject) => {
          sftp.realpath('.', (error: Error | undefined, path: string) => {
            if (error) reject(new SftpError(this.#remote.hop, '.', error.message, { cause: error }));
            else resolve(path);
          });
        });
      } finally {
        sftp.end();
      }
    })();
    try {
      return await this.#home;
    } catch (error) {
      this.#home = undefined;
      throw error;
    }
  }

  /** Reads a whole file on the remote host over SFTP (used for the bot's secret; never log the content). */
  async readFile(path: string): Promise<Buffer> {
    const sftp = await this.#sftp((detail, cause) => new SftpError(this.#remote.hop, path, detail, { cause }));
    const hop = this.#remote.hop;
    try {
      return await new Promise<Buffer>((resolve, reject) => {
        sftp.readFile(path, (error: Error | null | undefined, data: Buffer) => {
          if (error !== null && error !== undefined) reject(new SftpError(hop, path, error.message, { cause: error }));
          else resolve(data);
        });
      });
    } finally {
      sftp.end();
    }
  }

  /**
   * Writes a local file to the remote host over SFTP, with many requests in flight (ssh2's fastPut), so that a
   * jump host's round trip does not set the rate. A failed or aborted upload leaves a partial file behind: the
   * caller writes to a temporary name and renames once verified.
   */
  async upload(localPath: string, remotePath: string, options: UploadOptions = {}): Promise<void> {
    const hop = this.#remote.hop;
    const sftp = await this.#sftp((detail, cause) => new SftpUploadError(hop, remotePath, detail, { cause }));
    const onAbort = (): void => sftp.end();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await new Promise<void>((resolve, reject) => {
        sftp.fastPut(
          localPath,
          remotePath,
          {
            concurrency: 64,
            chunkSize: 32 * 1024,
            mode: options.mode ?? 0o600,
            ...(options.onProgress ? { step: (sent: number, _chunk: number, total: number) => options.onProgress?.(sent, total) } : {}),
          },
          (error) => {
            if (options.signal?.aborted === true) reject(new SftpUploadError(hop, remotePath, 'aborted by the caller', { cause: options.signal.reason }));
            else if (error !== null && error !== undefined) reject(new SftpUploadError(hop, remotePath, this.isOpen ? error.message : `the link closed: ${error.message}`, { cause: error }));
            else resolve();
          },
        );
      });
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      sftp.end();
    }
  }

  #sftp(failure: (detail: string, cause: Error) => Error): Promise<SFTPWrapper> {
    this.#assertOpen();
    return new Promise<SFTPWrapper>((resolve, reject) => {
      this.#remote.client.sftp((error, session) => {
        if (error !== undefined) reject(failure(`cannot start the sftp subsystem: ${error.message}`, error));
        else resolve(session);
      });
    });
  }

  /** Runs a command to completion and collects its output. */
  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    this.#assertOpen();
    const hop = this.#remote.hop;
    const limit = options.maxOutputBytes ?? 16 * 1024 * 1024;
    const channel = await execChannel(this.#remote, command, options.pty === true);
    return new Promise<ExecResult>((resolve, reject) => {
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      const sizes: [number, number] = [0, 0];
      let failure: Error | undefined;
      const fail = (error: Error): void => {
        failure ??= error;
        channel.close();
      };
      const collect = (into: Buffer[], index: 0 | 1) => (chunk: Buffer) => {
        sizes[index] += chunk.length;
        if (sizes[index] > limit) fail(new ExecError(hop, command, `output exceeds ${limit} bytes`));
        else into.push(chunk);
      };
      channel.on('data', collect(stdout, 0));
      channel.stderr.on('data', collect(stderr, 1));
      if (options.input !== undefined) channel.end(options.input);
      const timer = options.timeoutMs !== undefined ? setTimeout(() => fail(new ExecError(hop, command, `still running after ${options.timeoutMs} ms`)), options.timeoutMs) : undefined;
      const onAbort = (): void => fail(new ExecError(hop, command, 'aborted by the caller', { cause: options.signal?.reason }));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      if (options.signal?.aborted === true) onAbort();
      // ssh2 emits 'exit' synchronously while parsing; for a quick command that can happen before this
      // listener exists (we attach after an await). 'close' comes after the stream ends and carries the same
      // status: (code) or (null, signal), and no arguments when the server sent none.
      channel.on('close', (code?: number | null, signalName?: string) => {
        const exit = typeof code === 'number' ? { code } : signalName !== undefined ? { code: null, signal: signalName } : undefined;
        if (timer !== undefined) clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        if (failure !== undefined) reject(failure);
        else if (exit === undefined) reject(new ExecError(hop, command, this.isOpen ? 'channel closed without an exit status' : 'the link closed while it ran'));
        else resolve({ ...exit, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') });
      });
    });
  }

  /**
   * Starts a long-lived command (the bot) and returns its channel: write to it for stdin, read stdout and
   * `.stderr`, listen for 'exit' (code, signal) and 'close'. The command ends when the channel or the link closes.
   */
  async spawn(command: string, options: SpawnOptions = {}): Promise<ClientChannel> {
    this.#assertOpen();
    return execChannel(this.#remote, command, options.pty === true);
  }

  /**
   * A byte stream carried by a command's stdin and stdout (the bot's stdio relay): an exec channel without a
   * pty. What the command writes on stderr is logged (one line at a time), not mixed into the stream.
   */
  async openStdio(command: string): Promise<Duplex> {
    const channel = await this.spawn(command);
    let pending = '';
    channel.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') this.#log.warn({ route: this.description, command, stderr: line }, 'the relay command wrote on stderr');
    });
    return channel;
  }

  /** Closes both hops. Idempotent; 'close' is emitted once. */
  close(message = 'closed by its owner'): void {
    this.#shutdown({ requested: true, message });
  }

  #shutdown(reason: LinkCloseReason): void {
    if (this.#closeReason !== undefined) return;
    this.#closeReason = reason;
    for (const guard of this.#guards) guard.close();
    this.#remote.close();
    this.#jump?.close();
    if (reason.requested) this.#log.debug({ route: this.description, reason: reason.message }, 'ssh link closed');
    else this.#log.warn({ route: this.description, reason: reason.message }, 'ssh link lost');
    this.emit('close', reason);
  }

  #assertOpen(): void {
    if (this.#closeReason !== undefined) throw new LinkClosedError(this.description, this.#closeReason.message);
  }
}

function lostMessage(what: string, error: Error | undefined): string {
  return error !== undefined ? `connection to the ${what} lost: ${error.message}` : `connection to the ${what} closed`;
}

function execChannel(hop: HopConnection, command: string, pty: boolean): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    const callback = (error: Error | undefined, channel: ClientChannel): void => {
      if (error !== undefined) reject(new ExecError(hop.hop, command, error.message, { cause: error }));
      else resolve(channel);
    };
    if (pty) hop.client.exec(command, { pty: { term: 'dumb', rows: 24, cols: 80 } }, callback);
    else hop.client.exec(command, callback);
  });
}
