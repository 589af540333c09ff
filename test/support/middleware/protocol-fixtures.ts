// Helpers shared by the protocol and bot tests: a logger that remembers, a temp directory, and a client
// and server session connected through an in-memory channel pair with a real journal behind the server.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { CallJournal } from '../../../src/middleware/bot/journal.js';
import { createChannelPair, type ChannelPairOptions } from '../../../src/middleware/protocol/channel-pair.js';
import { ClientSession, type ClientSessionOptions } from '../../../src/middleware/protocol/client-session.js';
import type { MiddlewareLogger } from '../../../src/middleware/protocol/log.js';
import { ServerSession, type CallHandler, type ServerSessionOptions } from '../../../src/middleware/protocol/server-session.js';

export interface LogEntry {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly fields: object;
  readonly message: string;
}

export class RecordingLogger implements MiddlewareLogger {
  readonly entries: LogEntry[] = [];
  debug(fields: object, message: string): void {
    this.entries.push({ level: 'debug', fields, message });
  }
  info(fields: object, message: string): void {
    this.entries.push({ level: 'info', fields, message });
  }
  warn(fields: object, message: string): void {
    this.entries.push({ level: 'warn', fields, message });
  }
  error(fields: object, message: string): void {
    this.entries.push({ level: 'error', fields, message });
  }
  at(level: LogEntry['level']): LogEntry[] {
    return this.entries.filter((entry) => entry.level === level);
  }
}

/** A fresh directory under the OS temp dir; remove it with the returned cleanup. */
export function tempDirectory(prefix = 'harvester-ts-'): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

export const TEST_SECRET = 'a'.repeat(64);

/** A journal in its own temp directory; `dispose` closes it and removes the directory. */
export function tempJournal(log = new RecordingLogger()): { journal: CallJournal; file: string; log: RecordingLogger; dispose: () => void } {
  const dir = tempDirectory('harvester-journal-');
  const file = join(dir.path, 'journal.jsonl');
  const journal = CallJournal.open(file, { log });
  return {
    journal,
    file,
    log,
    dispose: () => {
      journal.close();
      dir.cleanup();
    },
  };
}

export interface SessionPairOptions {
  readonly handler: CallHandler;
  readonly journal: CallJournal;
  readonly server?: Partial<ServerSessionOptions>;
  readonly client?: Partial<ClientSessionOptions>;
  readonly channel?: ChannelPairOptions;
}

/** A server and a client session over an in-memory pair, both through their handshake. */
export async function connectSessionPair(
  options: SessionPairOptions,
): Promise<{ client: ClientSession; server: ServerSession; clientEnd: Duplex; serverEnd: Duplex }> {
  const [clientEnd, serverEnd] = createChannelPair(options.channel);
  const [server, client] = await Promise.all([
    ServerSession.accept(serverEnd, {
      secret: TEST_SECRET,
      offer: { plugins: ['dummy'] },
      handler: options.handler,
      journal: options.journal,
      botId: 'bot-under-test',
      startedAt: '2024-01-01T00:00:00.000Z',
      programVersion: '0.0.0-test',
      ...options.server,
    }),
    ClientSession.connect(clientEnd, { secret: TEST_SECRET, programVersion: '0.0.0-test', ...options.client }),
  ]);
  return { client, server, clientEnd, serverEnd };
}

/** A promise with its resolve function outside, for handlers the test releases by hand. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** The error `promise` rejects with, which must be a `type`; an assertion error when it resolves instead. */
export async function rejectionOf<E extends Error>(promise: Promise<unknown>, type: abstract new (...args: never[]) => E): Promise<E> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof type) return error;
    throw new Error(`expected a ${type.name}, got ${String(error)}`, { cause: error });
  }
  throw new Error(`expected a ${type.name}, but the promise resolved`);
}
