// All agents of one harvester process, built over one environment: started and stopped together, or run one
// cycle each, in the order a job travels (`harvester run --once`).
import { agentNames, type AgentName } from '../config/index.js';
import { AgentLoop, type Agent, type CycleReport } from './agent-loop.js';
import { CommandManager } from './command-manager.js';
import { lockOwner, type AgentEnvironment } from './environment.js';
import { JobFetcher } from './job-fetcher.js';
import { Monitor } from './monitor.js';
import { Preparator } from './preparator.js';
import { Propagator } from './propagator.js';
import { Stager } from './stager.js';
import { Submitter } from './submitter.js';
import { Sweeper } from './sweeper.js';

const agentClasses: { readonly [K in AgentName]: new (env: AgentEnvironment) => Agent } = {
  jobfetcher: JobFetcher,
  preparator: Preparator,
  submitter: Submitter,
  monitor: Monitor,
  stager: Stager,
  propagator: Propagator,
  sweeper: Sweeper,
  commandmanager: CommandManager,
};

export interface PassReport {
  readonly agent: AgentName;
  readonly report: CycleReport;
  /** The error that ended the agent's cycle (logged already). */
  readonly error?: unknown;
}

export class HarvesterAgents {
  readonly #env: AgentEnvironment;
  readonly #loops: ReadonlyMap<AgentName, AgentLoop>;
  #started = false;
  #stopped: Promise<void> | undefined;

  constructor(env: AgentEnvironment, only: readonly AgentName[] = agentNames) {
    this.#env = env;
    this.#loops = new Map(
      agentNames
        .filter((name) => only.includes(name))
        .map((name) => [name, new AgentLoop({ agent: new agentClasses[name](env), sleepTime: env.settings[name].sleepTime, log: env.log, ...(env.cycleObserver === undefined ? {} : { observer: env.cycleObserver }) })]),
    );
  }

  /** One cycle of every agent, in order; a failed cycle is logged by its loop and does not stop the pass. */
  async runPass(): Promise<PassReport[]> {
    const reports: PassReport[] = [];
    for (const [agent, loop] of this.#loops) reports.push({ agent, ...(await loop.runOnce()) });
    return reports;
  }

  /** Starts every agent's loop. */
  start(): void {
    if (this.#started) throw new Error('the agents were already started');
    this.#started = true;
    for (const loop of this.#loops.values()) loop.start();
    this.#env.log.info({ agents: [...this.#loops.keys()], queues: this.#env.queues.map((q) => q.queueName) }, 'agents started');
  }

  /**
   * Stops every loop (each finishes its cycle in progress), then gives back the locks this process still
   * holds, so another instance need not wait for them to expire. Safe to call twice.
   */
  stop(reason = 'stop requested'): Promise<void> {
    this.#stopped ??= (async () => {
      await Promise.all([...this.#loops.values()].map((loop) => loop.stop(reason)));
      for (const name of this.#loops.keys()) {
        const released = await this.#env.store.releaseLocks(lockOwner(this.#env, name));
        if (released.jobs + released.workers + released.queues > 0) this.#env.log.info({ agent: name, ...released }, 'locks released');
      }
    })();
    return this.#stopped;
  }
}
