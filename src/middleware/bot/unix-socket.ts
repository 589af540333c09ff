// The bot's unix socket file: only its user may connect (mode 0600, in a 0700 home), a file left by a bot
// that died is replaced, and a socket something still answers on is never taken over.
import { lstatSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { MiddlewareError } from '../errors.js';

/** sun_path holds 108 bytes with its terminating NUL; Node cuts a longer path short without a word. */
export const MAX_SOCKET_PATH_BYTES = 107;

/** How long a connect to an existing socket may take before we take its silence for a live, busy bot. */
const PROBE_TIMEOUT_MS = 2000;

export class BotSocketError extends MiddlewareError {}

/** What answers on a socket path: a live listener, nothing (a stale file or no file), or it could not be told. */
export type SocketProbe = 'answers' | 'absent' | 'refused';

/** Connects once to `path` and says what happened; any other failure is thrown with the path named. */
export function probeSocket(path: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<SocketProbe> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path });
    const timer = setTimeout(() => {
      // A listener whose backlog is full does not accept at once: it is alive.
      socket.destroy();
      resolve('answers');
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve('answers');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (error.code === 'ENOENT') resolve('absent');
      else if (error.code === 'ECONNREFUSED') resolve('refused');
      else if (error.code === 'EAGAIN') resolve('answers');
      else reject(new BotSocketError(`cannot connect to the bot socket ${path}: ${error.message}`, { step: 'listen' }, { cause: error }));
    });
  });
}

export function checkSocketPathLength(path: string): void {
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new BotSocketError(
      `the bot socket path ${path} is ${bytes} bytes long; a unix socket path may have at most ${MAX_SOCKET_PATH_BYTES}: use a shorter --home or --socket`,
      { step: 'listen' },
    );
  }
}

/**
 * Makes `path` free for a new listener: nothing there, or a socket nobody listens on any more (removed).
 * A socket something answers on, or a file that is not a socket, is refused with the reason.
 */
export async function claimSocketPath(path: string): Promise<void> {
  checkSocketPathLength(path);
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new BotSocketError(`cannot inspect the bot socket path ${path}: ${(error as Error).message}`, { step: 'listen' }, { cause: error });
  }
  if (!isSocket) throw new BotSocketError(`${path} exists and is not a socket; remove it or give the bot another --socket`, { step: 'listen' });
  const probe = await probeSocket(path);
  if (probe === 'answers') {
    throw new BotSocketError(
      `something already answers on the bot socket ${path} (another bot with this home?); stop it first or give this bot another --socket`,
      { step: 'listen' },
    );
  }
  if (probe === 'refused') {
    try {
      unlinkSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new BotSocketError(`cannot remove the stale bot socket ${path}: ${(error as Error).message}`, { step: 'listen' }, { cause: error });
      }
    }
  }
}
