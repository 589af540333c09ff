// The agents' settings in harvester.json, with harvester's section and key names (its panda_harvester.cfg:
// [jobfetcher], [preparator], [submitter], [monitor], [propagator], [stager], [sweeper], [db]) and its
// units: seconds everywhere, except the sweeper's keep times, which harvester gives in hours. Every value is
// defaulted here and nowhere else; fractions are allowed so tests can run agents at sub-second pace.
import { z } from 'zod';
import type { Secret } from './types.js';

const seconds = z.number().nonnegative();
const positiveSeconds = z.number().positive();
const count = z.number().int().positive();

/** Keys every agent section has. */
const common = {
  /** Pause between two cycles. */
  sleepTime: seconds,
  /**
   * A row locked longer than this by someone else is taken over (their process is presumed dead). While a
   * plugin call runs, the agent renews its locks every third of this (see agents/lock-keeper.ts), so a call
   * longer than lockInterval keeps its rows.
   */
  lockInterval: positiveSeconds,
  /**
   * Deadline of one plugin call made by this agent; the call is aborted and may have taken effect (a
   * submission that times out is left to the monitor to reconcile, never repeated blindly).
   */
  pluginTimeout: positiveSeconds,
};

export const agentSectionSchemas = {
  jobfetcher: z.strictObject({
    ...common,
    /** Jobs asked for per queue and cycle, at most (also bounded by the queue's nQueueLimitJob). */
    maxJobs: count,
  }),
  preparator: z.strictObject({
    ...common,
    /** A job whose stage-in is in progress is looked at again after this long. */
    checkInterval: seconds,
    maxJobsToPrepare: count,
  }),
  submitter: z.strictObject({
    ...common,
    /** A queue's submission is looked at again after this long. */
    checkInterval: seconds,
    /** A queue claimed by a submitter that died is taken over after this long. */
    queueLockInterval: positiveSeconds,
    /** New workers per queue and cycle, at most (on top of the queue's maxNewWorkersPerCycle). */
    maxNewWorkers: count,
    /** A job whose workers failed to submit this many times fails instead of going to a new worker. */
    maxSubmissionAttempts: count,
  }),
  monitor: z.strictObject({
    ...common,
    /** A worker is checked again after this long. */
    checkInterval: seconds,
    maxWorkers: count,
    /**
     * A worker whose monitor keeps answering "retry" (or throwing) for longer than this since its last
     * status change is marked missed: it is lost, not waited for forever.
     */
    checkTimeout: positiveSeconds,
    /** A worker submitted longer ago than this and still not running is marked missed; 0 = never. */
    workerQueueTimeLimit: seconds,
  }),
  propagator: z.strictObject({
    ...common,
    /** A job or worker whose report failed is reported again after this long. */
    updateInterval: seconds,
    maxJobs: count,
    maxWorkers: count,
    /** Worker statistics of each queue and the service metrics go to the source this often (harvester: 300 s). */
    statsInterval: seconds,
    /** Dialog messages (the agents' warnings and errors) sent to the source per cycle, at most (harvester's maxDialogs). */
    maxDialogs: count,
  }),
  stager: z.strictObject({
    ...common,
    checkInterval: seconds,
    maxJobsToCheck: count,
  }),
  /** harvester's [commandmanager]: the heartbeat to the source, and its commands fetched, acted on, acknowledged. */
  commandmanager: z.strictObject({
    ...common,
    /** Commands taken per request. */
    maxCommands: count,
  }),
  sweeper: z.strictObject({
    ...common,
    /** Kill requests are retried after this long. */
    checkInterval: seconds,
    maxWorkers: count,
    /** Hours a worker in that final status is kept (its access point and row) before it is cleaned up. */
    keepFinished: seconds,
    keepFailed: seconds,
    keepCancelled: seconds,
    keepMissed: seconds,
  }),
} as const;

export type AgentName = keyof typeof agentSectionSchemas;
/** The order `harvester run --once` runs one cycle of each agent in: a job travels the whole way in one pass. */
export const agentNames: readonly AgentName[] = ['jobfetcher', 'preparator', 'submitter', 'monitor', 'stager', 'propagator', 'sweeper', 'commandmanager'];

export type AgentSettings = { readonly [K in AgentName]: Readonly<z.output<(typeof agentSectionSchemas)[K]>> };

const commonDefaults = { lockInterval: 600, pluginTimeout: 600 };

/**
 * The one place agent settings are defaulted. Harvester's production values (minutes between cycles) suit a
 * grid site; these suit a single machine running local processes and still keep an idle instance quiet.
 */
export const defaultAgentSettings: AgentSettings = {
  jobfetcher: { ...commonDefaults, sleepTime: 10, maxJobs: 100 },
  preparator: { ...commonDefaults, sleepTime: 10, checkInterval: 10, maxJobsToPrepare: 100 },
  submitter: { ...commonDefaults, sleepTime: 10, checkInterval: 5, queueLockInterval: 300, maxNewWorkers: 1000, maxSubmissionAttempts: 3 },
  monitor: { ...commonDefaults, sleepTime: 10, checkInterval: 5, maxWorkers: 1000, checkTimeout: 3600, workerQueueTimeLimit: 172800 },
  propagator: { ...commonDefaults, sleepTime: 10, updateInterval: 60, maxJobs: 500, maxWorkers: 500, statsInterval: 300, maxDialogs: 50 },
  stager: { ...commonDefaults, sleepTime: 10, checkInterval: 10, maxJobsToCheck: 100 },
  commandmanager: { ...commonDefaults, sleepTime: 60, maxCommands: 100 },
  sweeper: { ...commonDefaults, sleepTime: 60, checkInterval: 60, maxWorkers: 500, keepFinished: 24, keepFailed: 72, keepCancelled: 72, keepMissed: 24 },
};

/**
 * The [db] section, in harvester's keys: the engine (sqlite, the default; mariadb, also spelled mysql as
 * harvester does; postgresql), the SQLite file, and for the server engines host, port, user, password (a
 * secret: inline, {"file"} or {"env"}; resolved by the master configuration), schema (the database),
 * nConnections and reconnectTimeout (seconds the agents wait for an unreachable server). `tls` is ours: true,
 * or {"ca": "/path/ca.pem", "rejectUnauthorized": true}. harvester's verbose and useInspect are accepted and
 * have no effect.
 */
export const dbSectionSchema = z.strictObject({
  engine: z.enum(['sqlite', 'mariadb', 'mysql', 'postgresql', 'postgres']),
  database_filename: z.string().min(1),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  user: z.string().min(1),
  password: z.unknown(),
  schema: z.string().regex(/^[A-Za-z0-9_$-]{1,64}$/, 'must be a database name of letters, digits, _, $ or - (at most 64)'),
  nConnections: z.number().int().min(1).max(1000),
  reconnectTimeout: z.number().min(0),
  tls: z.union([z.boolean(), z.strictObject({ ca: z.string().min(1).optional(), rejectUnauthorized: z.boolean().optional() })]),
  verbose: z.unknown(),
  useInspect: z.unknown(),
});

export type DbEngine = 'sqlite' | 'mariadb' | 'postgresql';
export type ServerDbEngine = Exclude<DbEngine, 'sqlite'>;

export interface DbTlsSettings {
  /** Absolute path of a PEM file of CA certificates to trust; default: the system's. */
  readonly caFile?: string;
  readonly rejectUnauthorized: boolean;
}

/** The settings of a server engine, defaulted. */
export interface ServerDbSettings {
  readonly engine: ServerDbEngine;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** The resolved secret; never shown (see describeDbSettings). */
  readonly password?: Secret;
  readonly schema: string;
  readonly nConnections: number;
  readonly reconnectTimeout: number;
  readonly tls?: DbTlsSettings;
}

export interface DbSettings {
  readonly engine: DbEngine;
  /** Absolute path of the SQLite database file (the engine's, or the source of `db copy` for a server engine). */
  readonly databaseFile: string;
  /** Set when engine is mariadb or postgresql. */
  readonly server?: ServerDbSettings;
}
export const defaultDatabaseFileName = 'harvester.db';

/** The one place the [db] section is defaulted: harvester's defaults where it has them. */
export const dbDefaults = {
  host: 'localhost',
  port: { mariadb: 3306, postgresql: 5432 } as Readonly<Record<ServerDbEngine, number>>,
  user: 'harvester',
  schema: 'harvester',
  nConnections: 10,
  reconnectTimeout: 300,
} as const;

/** harvester's engine names (and common aliases) to ours. */
export function dbEngineOf(name: string | undefined): DbEngine {
  if (name === 'mariadb' || name === 'mysql') return 'mariadb';
  if (name === 'postgresql' || name === 'postgres') return 'postgresql';
  return 'sqlite';
}

/** The agent sections as written in harvester.json: every key optional. */
export const agentSectionsSchema = z.object(
  Object.fromEntries(Object.entries(agentSectionSchemas).map(([name, schema]) => [name, schema.partial().optional()])) as {
    [K in AgentName]: z.ZodOptional<ReturnType<(typeof agentSectionSchemas)[K]['partial']>>;
  },
);

export function agentSettingsFrom(sections: z.output<typeof agentSectionsSchema>): AgentSettings {
  const out: Record<string, unknown> = {};
  for (const name of agentNames) out[name] = { ...defaultAgentSettings[name], ...dropUndefined(sections[name] ?? {}) };
  return out as AgentSettings;
}

function dropUndefined(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
}
