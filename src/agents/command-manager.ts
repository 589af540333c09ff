// The command manager (harvester's command_manager agent): each cycle sends this instance's heartbeat to the job
// source, then takes the commands PanDA has for this instance, acts on those this version knows and
// acknowledges them all (PanDA hands a command out once: one left unacknowledged is not sent again).
// KILL_WORKERS and SYNC_WORKERS_KILL (sweepPQ's command: kill a queue's workers, filtered by status, CE and
// submission host) ask the sweeper to kill the matching active workers; another command is logged as not
// acted upon by this version.
import { hasHarvesterCommands, JobSourceError, type HarvesterCommands } from '../communicator/index.js';
import type { Logger } from '../logging/index.js';
import type { Agent, CycleReport } from './agent-loop.js';
import { Tally } from './claimed-rows.js';
import type { AgentEnvironment } from './environment.js';

const KILL_COMMANDS: readonly string[] = ['KILL_WORKERS', 'SYNC_WORKERS_KILL'];
const counted = ['heartbeats', 'commands', 'workersToKill', 'notActedUpon', 'errors'] as const;
type Counted = (typeof counted)[number];

/** A list parameter of a command: absent or empty means "any". */
function listParam(params: Record<string, unknown>, key: string): string[] {
  const value = params[key];
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

export class CommandManager implements Agent {
  readonly name = 'commandmanager';
  readonly #env: AgentEnvironment;
  readonly #log: Logger;
  /** Sent with the first heartbeat, as harvester sends its start time. */
  #startTime: Date | null;

  constructor(env: AgentEnvironment) {
    this.#env = env;
    this.#log = env.log.child({ agent: 'commandmanager' });
    this.#startTime = env.now();
  }

  async runCycle(signal: AbortSignal): Promise<CycleReport> {
    const tally = new Tally(counted);
    const source = this.#env.jobSource;
    try {
      await source.isAlive(this.#startTime === null ? {} : { startTime: this.#startTime });
      this.#startTime = null;
      tally.add('heartbeats');
      if (!signal.aborted && hasHarvesterCommands(source)) await this.#commands(source, tally);
    } catch (error) {
      if (!(error instanceof JobSourceError)) throw error;
      this.#log.warn({ err: error, source: source.description }, 'heartbeat or commands failed; tried again next cycle');
      tally.add('errors');
    }
    return tally.report();
  }

  async #commands(source: HarvesterCommands, tally: Tally<Counted>): Promise<void> {
    const commands = await source.getCommands(this.#env.settings.commandmanager.maxCommands);
    if (commands.length === 0) return;
    const ids: number[] = [];
    for (const command of commands) {
      const id = command['command_id'];
      if (typeof id === 'number') ids.push(id);
      tally.add('commands');
      const name = String(command['command']);
      const params = typeof command['params'] === 'object' && command['params'] !== null ? (command['params'] as Record<string, unknown>) : {};
      if (KILL_COMMANDS.includes(name)) tally.add('workersToKill', await this.#killWorkers(params));
      else {
        this.#log.warn({ command_id: id, command: name }, 'a PanDA command this version does not act upon; acknowledged');
        tally.add('notActedUpon');
      }
    }
    await source.ackCommands(ids);
  }

  /** Sets killTime on the active workers the command selects; the sweeper kills them. */
  async #killWorkers(params: Record<string, unknown>): Promise<number> {
    const now = this.#env.now();
    const statuses = listParam(params, 'status');
    const ces = listParam(params, 'computingElement');
    const hosts = listParam(params, 'submissionHost');
    const queues = listParam(params, 'computingSite');
    let marked = 0;
    for (const queue of this.#env.queues.filter((q) => queues.length === 0 || queues.includes(q.siteName) || queues.includes(q.queueName))) {
      const workers = (await this.#env.store.listWorkers({ queueName: queue.queueName, ...(statuses.length === 0 ? {} : { status: statuses }) })).filter(
        (w) => !w.isFinalStatus() && w.killTime === null && (ces.length === 0 || ces.includes(w.computingElement ?? '')) && (hosts.length === 0 || hosts.includes(w.submissionHost ?? '')),
      );
      for (const worker of workers) worker.killTime = now;
      if (workers.length > 0) await this.#env.store.updateWorkers(workers, { now });
      if (workers.length > 0) this.#log.info({ queue: queue.queueName, workerIDs: workers.map((w) => w.workerID) }, 'PanDA asked to kill the workers; the sweeper kills them');
      marked += workers.length;
    }
    return marked;
  }
}
