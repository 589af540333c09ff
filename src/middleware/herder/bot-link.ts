// What the herder needs of one link to the bot's host. SshLink (through the jump host) is the real one;
// the local links below let the same herder, pool and protocol run against a bot in this process (in-memory
// pair, for unit tests) or on this host's loopback (tests and benchmarks without SSH).
import { EventEmitter } from 'node:events';
import { readFile, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { isAbsolute, join } from 'node:path';
import { Duplex } from 'node:stream';
import { execFile, spawn } from 'node:child_process';
import { createChannelPair, ServerSession, type ServerSessionOptions } from '../protocol/index.js';
import type { PoolLink } from '../ssh/index.js';
import { BotUnavailableError } from '../errors.js';

export interface BotLink extends PoolLink {
  /** A byte stream to 127.0.0.1:port on the bot's host. */
  forward(port: number): Promise<Duplex>;
  /** A byte stream to a unix socket (absolute path) on the bot's host. */
  forwardUnix(path: string): Promise<Duplex>;
  /** A byte stream over a command's stdin/stdout on the bot's host (the stdio transport). */
  openStdio(command: string): Promise<Duplex>;
  /** The login user's home on the bot's host. */
  homeDirectory(): Promise<string>;
  /** Whether a path on the bot's host is a unix socket (false when absent). */
  isSocket(path: string): Promise<boolean>;
  /** A file on the bot's host; relative paths are relative to the login user's home. */
  readFile(path: string): Promise<Buffer>;
  exec(command: string): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

type CloseReason = { readonly message: string; readonly error?: Error };

abstract class LocalLink extends EventEmitter<{ close: [reason: CloseReason] }> implements BotLink {
  private open = true;

  constructor(protected readonly home: string) {
    super();
  }

  get isOpen(): boolean {
    return this.open;
  }

  close(message = 'closed by its owner'): void {
    if (!this.open) return;
    this.open = false;
    this.emit('close', { message });
  }

  abstract forward(port: number): Promise<Duplex>;
  abstract forwardUnix(path: string): Promise<Duplex>;
  abstract openStdio(command: string): Promise<Duplex>;

  homeDirectory(): Promise<string> {
    return Promise.resolve(this.home);
  }

  async isSocket(path: string): Promise<boolean> {
    try {
      return (await stat(isAbsolute(path) ? path : join(this.home, path))).isSocket();
    } catch {
      // Absent or unreadable: not a socket the bot could be reached on.
      return false;
    }
  }

  readFile(path: string): Promise<Buffer> {
    return readFile(isAbsolute(path) ? path : join(this.home, path));
  }

  exec(command: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile('/bin/sh', ['-c', command], { cwd: this.home }, (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ code, stdout, stderr });
      });
    });
  }
}

/** TCP to a bot listening on this host's loopback; `home` plays the remote user's home directory. */
export class LoopbackLink extends LocalLink {
  forward(port: number): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, noDelay: true });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(socket);
      });
      socket.once('error', (error) => reject(new BotUnavailableError(`nothing answers on 127.0.0.1:${port}: ${error.message}`, { step: 'bot-stream' }, { cause: error })));
    });
  }

  forwardUnix(path: string): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const socket = connect({ path });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(socket);
      });
      socket.once('error', (error) => reject(new BotUnavailableError(`nothing answers on the socket ${path}: ${error.message}`, { step: 'bot-stream' }, { cause: error })));
    });
  }

  /** The command run by /bin/sh in the home; its stderr goes to ours (tests see it). */
  async openStdio(command: string): Promise<Duplex> {
    const child = spawn('/bin/sh', ['-c', command], { cwd: this.home, stdio: ['pipe', 'pipe', 'inherit'] });
    const stream = Duplex.from({ readable: child.stdout, writable: child.stdin });
    stream.once('close', () => child.kill());
    this.once('close', () => stream.destroy());
    return stream;
  }
}

/** An in-process bot session on each forward: the protocol over an in-memory channel pair. */
export class InMemoryLink extends LocalLink {
  constructor(
    home: string,
    private readonly serverOptions: () => ServerSessionOptions,
  ) {
    super(home);
  }

  forwardUnix(_path: string): Promise<Duplex> {
    return this.forward(0);
  }

  openStdio(_command: string): Promise<Duplex> {
    return this.forward(0);
  }

  async forward(_port: number): Promise<Duplex> {
    const [client, server] = createChannelPair();
    const session = ServerSession.accept(server, this.serverOptions());
    session.catch(() => client.destroy());
    this.once('close', () => {
      client.destroy();
      server.destroy();
    });
    return client;
  }
}
