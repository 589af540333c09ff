// What the propagator reports about this harvester instance besides jobs and workers, as harvester's propagator
// does every STATS_PERIOD: the active worker counts of each queue (update_worker_stats) and the service metrics
// of the process (harvester's service monitor: memory and CPU use, update_service_metrics); and, every cycle,
// the agents' dialog messages (send_dialog_messages).
import { hostname } from 'node:os';
import os from 'node:os';
import type { DialogMessage, Store } from '../store/index.js';

/** The statuses harvester's get_worker_stats_bulk counts. */
const ACTIVE_STATUSES: readonly string[] = ['submitted', 'running', 'idle'];

/** {jobType: {resourceType: {status: n}}} of a queue's active workers, as harvester's worker stats. */
export async function workerStatsOf(store: Store, queueName: string): Promise<Record<string, Record<string, Record<string, number>>>> {
  const stats: Record<string, Record<string, Record<string, number>>> = {};
  for (const worker of await store.listWorkers({ queueName, status: ACTIVE_STATUSES })) {
    const byResource = (stats[worker.jobType ?? 'ANY'] ??= {});
    const counts = (byResource[worker.resourceType ?? 'ANY'] ??= Object.fromEntries(ACTIVE_STATUSES.map((s) => [s, 0])));
    const status = worker.status ?? 'unknown';
    counts[status] = (counts[status] ?? 0) + 1;
  }
  return stats;
}

/** harvester's '%Y-%m-%d %H:%M:%S.%f' in UTC. */
function microseconds(date: Date): string {
  const iso = date.toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}000`;
}

/** One [creationTime, host, JSON metrics] triplet: the process's memory and CPU use, as harvester's service monitor. */
export function serviceMetricsOf(now: Date, cpuSinceStart: NodeJS.CpuUsage, uptimeSeconds: number): [string, string, string] {
  const rss = process.memoryUsage().rss;
  const cpuSeconds = (cpuSinceStart.user + cpuSinceStart.system) / 1e6;
  const round = (value: number): number => Math.round(value * 100) / 100;
  const metrics = {
    rss_mib: round(rss / 2 ** 20),
    memory_pc: round((100 * rss) / os.totalmem()),
    cpu_pc: round(uptimeSeconds > 0 ? (100 * cpuSeconds) / uptimeSeconds : 0),
  };
  return [microseconds(now), hostname(), JSON.stringify(metrics)];
}

/** A dialog message as harvester's DiagSpec.convert_to_propagate gives it to PanDA. */
export function dialogOf(message: DialogMessage): Record<string, unknown> {
  return {
    diagID: message.diagID,
    moduleName: message.moduleName,
    identifier: message.identifier,
    creationTime: microseconds(message.creationTime),
    messageLevel: message.messageLevel,
    diagMessage: message.diagMessage,
  };
}
