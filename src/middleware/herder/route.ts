import type { MiddlewareConfig } from '../../config/index.js';

/** How `queues show` and error messages name a route: `user@host via jumpHost, N tunnels, port P` (no secrets). */
export function describeRoute(mw: MiddlewareConfig): string {
  const host = mw.remotePort === 22 ? mw.remoteHost : `${mw.remoteHost}:${mw.remotePort}`;
  const jumpUser = mw.jumpUserName !== undefined && mw.jumpUserName !== mw.sshUserName ? `${mw.jumpUserName}@` : '';
  const via = mw.jumpHost === undefined ? 'direct' : `via ${jumpUser}${mw.jumpPort === 22 ? mw.jumpHost : `${mw.jumpHost}:${mw.jumpPort}`}`;
  return `${mw.sshUserName}@${host} ${via}, ${mw.numTunnels} tunnel${mw.numTunnels === 1 ? '' : 's'}, port ${mw.remoteBindPort}`;
}

/**
 * The route's short name in metrics and `harvester status`: `user@host[:port][ via jumpHost]`. Bounded by the
 * configuration (one per route), and free of secrets.
 */
export function routeLabel(mw: MiddlewareConfig): string {
  const host = mw.remotePort === 22 ? mw.remoteHost : `${mw.remoteHost}:${mw.remotePort}`;
  const via = mw.jumpHost === undefined ? '' : ` via ${mw.jumpPort === 22 ? mw.jumpHost : `${mw.jumpHost}:${mw.jumpPort}`}`;
  return `${mw.sshUserName}@${host}${via}`;
}
