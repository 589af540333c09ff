// Test support: a TCP proxy on 127.0.0.1 in front of a test database server that makes the server look as if
// it offered no TLS, as a server without TLS (or a man in the middle stripping it) would. Everything else
// passes through unchanged, so a client that went on without TLS would really log in: a test sees a
// downgrade, not just an error.
//   PostgreSQL: the client asks first (SSLRequest); the proxy answers "N" itself, then relays.
//   MariaDB: the server speaks first; the proxy clears the SSL bit in the capabilities of its handshake.
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { ServerEngine } from '../../../src/store/server/session.js';

/** PostgreSQL's SSLRequest: length 8, then the request code 80877103. */
const PG_SSL_REQUEST_CODE = 80877103;
/** MariaDB's CLIENT_SSL capability, in the lower 16 bits of the handshake's capabilities. */
const MARIADB_SSL_CAPABILITY = 0x0800;

export interface TlsStrippingProxy {
  readonly port: number;
  /** How many client connections it took (a test can check that the client came at all). */
  readonly connections: () => number;
  close(): Promise<void>;
}

export async function startTlsStrippingProxy(engine: ServerEngine, target: { host: string; port: number }): Promise<TlsStrippingProxy> {
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
    if (engine === 'postgresql') relayPostgresql(client, upstream);
    else relayMariadb(client, upstream);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    connections: () => connections,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Answers the client's SSLRequest with "N" (no TLS here); every other byte goes through. */
function relayPostgresql(client: Socket, upstream: Socket): void {
  let head = Buffer.alloc(0);
  const onFirst = (chunk: Buffer): void => {
    head = Buffer.concat([head, chunk]);
    if (head.length < 8) return;
    client.off('data', onFirst);
    let rest = head;
    if (head.readInt32BE(0) === 8 && head.readInt32BE(4) === PG_SSL_REQUEST_CODE) {
      client.write('N');
      rest = head.subarray(8);
    }
    if (rest.length > 0) upstream.write(rest);
    client.pipe(upstream);
    upstream.pipe(client);
  };
  client.on('data', onFirst);
}

/** Passes the server's first packet (the handshake) on without the SSL capability; every other byte goes through. */
function relayMariadb(client: Socket, upstream: Socket): void {
  let head = Buffer.alloc(0);
  const onFirst = (chunk: Buffer): void => {
    head = Buffer.concat([head, chunk]);
    if (head.length < 4 || head.length < 4 + head.readUIntLE(0, 3)) return;
    upstream.off('data', onFirst);
    // Payload: protocol version (1), server version (NUL-ended), thread id (4), seed (8), filler (1), capabilities (2).
    const versionEnd = head.indexOf(0, 5);
    const capabilities = versionEnd + 1 + 4 + 8 + 1;
    const packet = Buffer.from(head);
    packet.writeUInt16LE(packet.readUInt16LE(capabilities) & ~MARIADB_SSL_CAPABILITY, capabilities);
    client.write(packet);
    client.pipe(upstream);
    upstream.pipe(client);
  };
  upstream.on('data', onFirst);
}
