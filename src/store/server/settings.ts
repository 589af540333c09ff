// How to reach a database server: what the [db] section of the master configuration resolves to for the
// server engines. The password is the resolved secret; it goes to the driver and nowhere else.
import type { ServerEngine } from './session.js';
import type { ReconnectPolicy } from './reconnect.js';

export interface ServerTls {
  /** PEM text of the CA certificates to trust (read from the file the configuration names); default: the system's. */
  readonly ca?: string;
  /** Verify the server's certificate and name (default true). */
  readonly rejectUnauthorized: boolean;
}

export interface ServerConnectionSettings extends ReconnectPolicy {
  readonly engine: ServerEngine;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password?: string;
  /** The database (harvester's "schema"). */
  readonly schema: string;
  /** Connections in the pool (harvester's nConnections). */
  readonly nConnections: number;
  /** TLS to the server; undefined: plain TCP (loopback, or a trusted network). */
  readonly tls?: ServerTls;
  /** How long one connection attempt may take (seconds). */
  readonly connectTimeoutSec?: number;
}

/** "engine://user@host:port/schema": how logs and errors name the database; never the password. */
export function describeServer(s: Pick<ServerConnectionSettings, 'engine' | 'host' | 'port' | 'user' | 'schema'>): string {
  return `${s.engine}://${s.user}@${serverAddress(s)}/${s.schema}`;
}

/** "host:port" ("[host]:port" for an IPv6 address). */
export function serverAddress(s: Pick<ServerConnectionSettings, 'host' | 'port'>): string {
  return `${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}`;
}

/** "host:port as user U" ("[host]:port" for IPv6): the part of an error message that says where we tried to go. */
export function serverTarget(s: Pick<ServerConnectionSettings, 'host' | 'port' | 'user'>): string {
  return `${serverAddress(s)} as user ${s.user}`;
}
