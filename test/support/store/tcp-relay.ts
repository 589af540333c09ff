// Test support: a TCP relay on 127.0.0.1 in front of a test database server. What it does to the bytes is
// the caller's (`relay`; by default they pass unchanged). A test can cut it (every relayed connection
// dropped, new ones refused: the server looks gone) and restore it on the same port.
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpRelay {
  readonly port: number;
  /** How many client connections it took (a test can check that the client came at all). */
  readonly connections: () => number;
  /** Drops every relayed connection and stops listening: connects are refused until restore(). */
  cut(): Promise<void>;
  /** Listens again on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** Relays a client connection to its upstream one: here, every byte unchanged. */
export function pipeBoth(client: Socket, upstream: Socket): void {
  client.pipe(upstream);
  upstream.pipe(client);
}

export async function startTcpRelay(target: { host: string; port: number }, relay: (client: Socket, upstream: Socket) => void = pipeBoth): Promise<TcpRelay> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const track = (socket: Socket): Socket => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // A peer that goes away ends the relay; the other side is closed with it (below).
    socket.on('error', () => socket.destroy());
    return socket;
  };
  const server: Server = createServer((client) => {
    connections++;
    track(client);
    const upstream = track(connect(target.port, target.host));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    relay(client, upstream);
  });
  const listen = (port: number): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(0);
  const port = (server.address() as { port: number }).port;
  const stop = async (): Promise<void> => {
    for (const socket of sockets) socket.destroy();
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { port, connections: () => connections, cut: stop, restore: () => listen(port), close: stop };
}
