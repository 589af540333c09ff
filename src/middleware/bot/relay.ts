// `harvester bot connect`'s relay: the bytes of its stdin to the bot's socket and the socket's bytes to its
// stdout, unchanged (the herder speaks the protocol through them, as over a forwarded port). It ends when
// either side does: the herder closing stdin half-closes the socket, so the bot sees the end and closes; the
// bot closing the socket ends the relay.
import type { Socket } from 'node:net';

export interface RelayOutcome {
  /** Why the relay ended with a failure (a broken socket or output), undefined when a side simply closed. */
  readonly error?: Error;
}

export function relay(socket: Socket, input: NodeJS.ReadableStream & { destroy?: () => void }, output: NodeJS.WritableStream): Promise<RelayOutcome> {
  return new Promise((resolve) => {
    let error: Error | undefined;
    const fail = (e: Error): void => {
      error ??= e;
      socket.destroy();
    };
    socket.on('error', fail);
    output.on('error', fail);
    input.on('error', fail);
    socket.once('close', () => {
      input.unpipe(socket);
      input.destroy?.();
      resolve(error === undefined ? {} : { error });
    });
    socket.pipe(output, { end: false });
    input.pipe(socket);
  });
}
