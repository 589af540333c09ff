// Test support: a TCP proxy on 127.0.0.1 in front of a test database server that makes the server look as if
// it offered no TLS, as a server without TLS (or a man in the middle stripping it) would. Everything else
// passes through unchanged, so a client that went on without TLS would really log in: a test sees a
// downgrade, not just an error.
//   PostgreSQL: the client asks first (SSLRequest); the proxy answers "N" itself, then relays.
//   MariaDB: the server speaks first; the proxy clears the SSL bit in the capabilities of its handshake.
import type { Socket } from 'node:net';
import type { ServerEngine } from '../../../src/store/server/session.js';
import { pipeBoth, startTcpRelay, type TcpRelay } from './tcp-relay.js';

/** PostgreSQL's SSLRequest: length 8, then the request code 80877103. */
const PG_SSL_REQUEST_CODE = 80877103;
/** MariaDB's CLIENT_SSL capability, in the lower 16 bits of the handshake's capabilities. */
const MARIADB_SSL_CAPABILITY = 0x0800;

export type TlsStrippingProxy = TcpRelay;

export function startTlsStrippingProxy(engine: ServerEngine, target: { host: string; port: number }): Promise<TlsStrippingProxy> {
  return startTcpRelay(target, engine === 'postgresql' ? relayPostgresql : relayMariadb);
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
    pipeBoth(client, upstream);
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
    pipeBoth(client, upstream);
  };
  upstream.on('data', onFirst);
}
