import { join } from 'node:path';

/** The control socket of the `harvester run` of a home (GET /status, /metrics; mode 0600). */
export function controlSocketPath(home: string): string {
  return join(home, 'harvester.sock');
}
