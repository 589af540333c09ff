// The master configuration: where harvester's home is and what lives there. Nothing is needed to start:
// without a harvester.json every value has a default, and without a queue configuration in the home the
// example shipped with the package is used.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { logLevels, type LogLevel } from '../logging/index.js';
import { examplesDir } from '../package-location.js';
import { agentSectionsSchema, agentSettingsFrom, dbSectionSchema, type AgentSettings, type DbSettings } from './agent-settings.js';
import { dbSettingsFrom } from './db-settings.js';
import { resolveSecret } from './secret-values.js';
import { processSecrets } from '../logging/index.js';
import type { Secret } from './types.js';
import { deepFreeze } from './deep-freeze.js';
import { harvesterIDFrom } from './harvester-id.js';
import { JsonSyntaxError, parseJsonText } from './json-text.js';
import { ConfigFileError, ConfigInvalidError } from './problems.js';
import { readConfigFile } from './queue-config.js';
import { isPlainObject, ProblemCollector } from './report.js';
import { parseReported } from './schema-issues.js';

export const MASTER_CONFIG_NAME = 'harvester.json';
export const QUEUE_CONFIG_NAME = 'panda_queueconfig.json';

/** The example queue configuration shipped with the package (or the offline bundle). */
export const shippedExampleQueueConfig: string = join(examplesDir, QUEUE_CONFIG_NAME);

export type QueueConfigOrigin = 'master-config' | 'home' | 'shipped-example';

export interface MasterConfig {
  /** --home, else $HARVESTER_HOME, else ~/.harvester. Absolute. */
  readonly home: string;
  /** The master file that was read, when there was one. */
  readonly configFile?: string;
  readonly queueConfigFile: string;
  /** Why that queue configuration: named by the master file, found in the home, or the shipped example. */
  readonly queueConfigOrigin: QueueConfigOrigin;
  readonly logLevel: LogLevel;
  readonly logDir: string;
  readonly knownHostsFile: string;
  /** Directories searched for plugin modules named by file. */
  readonly pluginDirs: readonly string[];
  /** The agents' intervals, lock intervals and batch sizes (harvester's sections and names). */
  readonly agents: AgentSettings;
  readonly db: DbSettings;
  /**
   * Where jobs come from: the embedded job queue in the store (`harvester jobs add`), or a PanDA server
   * (the "pandacon" section) when "communicator": {"className": "PandaCommunicator"} is set.
   */
  readonly jobSource: JobSourceKind;
  /**
   * harvester's [master] harvester_id ("master": {"harvester_id"}, or a top-level or pandacon "harvester_id"),
   * by default harvester-ts-<hostname>. Set on every resolved queue (QueueConfig.harvesterID) and used by the
   * PanDA client.
   */
  readonly harvesterID: string;
  /**
   * The Prometheus HTTP listener of `harvester run` ("metrics": {"host", "port"}); undefined: none (the
   * control socket in the home answers /metrics and /status whatever this says).
   */
  readonly metrics?: MetricsListenSettings;
  /** Keys of harvester.json read elsewhere ("pandacon") or not used by this version, kept as written. */
  readonly extra: Readonly<Record<string, unknown>>;
}

export type JobSourceKind = 'embedded' | 'panda';

export interface MetricsListenSettings {
  readonly host: string;
  /** 0: any free port (the chosen one is logged and shown by `harvester status`). */
  readonly port: number;
}

/** Loopback unless the operator says otherwise: the metrics name queues and hosts. */
export const DEFAULT_METRICS_HOST = '127.0.0.1';

const metricsSectionSchema = z.strictObject({
  host: z.string().min(1).default(DEFAULT_METRICS_HOST),
  port: z.number().int().min(0).max(65535),
});

export interface MasterConfigOptions {
  /** --home. */
  readonly home?: string;
  /** --config: a master file that must exist (the default $home/harvester.json may be absent). */
  readonly configFile?: string;
  /** --log-level: wins over the file's. */
  readonly logLevel?: string;
  readonly env: Readonly<Record<string, string | undefined>>;
}

const path = z.string().min(1);
const masterFileSchema = z.object({
  queueConfigFile: path.optional(),
  logLevel: z.enum(logLevels as [LogLevel, ...LogLevel[]]).optional(),
  logDir: path.optional(),
  knownHostsFile: path.optional(),
  pluginDirs: z.array(path).optional(),
  db: dbSectionSchema.partial().optional(),
  communicator: z
    .looseObject({ className: z.enum(['EmbeddedCommunicator', 'PandaCommunicator']).optional(), moduleName: z.string().optional() })
    .optional(),
  // Checked by harvesterIDFrom, which also reads the pandacon spelling.
  master: z.looseObject({ harvester_id: z.unknown().optional() }).optional(),
  harvester_id: z.unknown().optional(),
  metrics: metricsSectionSchema.optional(),
  ...agentSectionsSchema.shape,
});
const masterFileKeys: ReadonlySet<string> = new Set(Object.keys(masterFileSchema.shape));

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

interface MasterFile {
  readonly values: z.output<typeof masterFileSchema>;
  readonly harvesterID: string;
  /** db.password, resolved (inline, file or environment variable) and registered for masking. */
  readonly dbPassword?: Secret;
  readonly extra: Record<string, unknown>;
}

function readMasterFile(file: string, env: Readonly<Record<string, string | undefined>>): MasterFile {
  const collector = new ProblemCollector(file);
  const report = collector.forQueue(undefined);
  let document: unknown;
  try {
    document = parseJsonText(readConfigFile(file));
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    report.problem('', error.message);
    throw new ConfigInvalidError(file, collector.problems);
  }
  if (!isPlainObject(document)) {
    report.problem('', 'the master configuration must be a JSON object');
    throw new ConfigInvalidError(file, collector.problems);
  }
  const values = parseReported(masterFileSchema, document, [], report);
  const harvesterID = harvesterIDFrom(document, report);
  const rawDb = isPlainObject(document.db) ? document.db : {};
  const dbPassword = resolveSecret(rawDb.password, 'db.password', { env, baseDir: dirname(file), secrets: processSecrets, report });
  if (values === undefined || collector.problems.length > 0) throw new ConfigInvalidError(file, collector.problems);
  const extra = Object.fromEntries(Object.entries(document).filter(([key]) => !masterFileKeys.has(key)));
  return { values, harvesterID, extra, ...(dbPassword === undefined ? {} : { dbPassword }) };
}

export function loadMasterConfig(opts: MasterConfigOptions): MasterConfig {
  const userHome = nonEmpty(opts.env.HOME) ?? homedir();
  const home = resolve(nonEmpty(opts.home) ?? nonEmpty(opts.env.HARVESTER_HOME) ?? join(userHome, '.harvester'));
  const underHome = (p: string): string => (isAbsolute(p) ? p : resolve(home, p));

  let configFile: string | undefined;
  if (opts.configFile !== undefined) {
    configFile = resolve(opts.configFile);
    if (!existsSync(configFile)) throw new ConfigFileError(configFile, 'no such file');
  } else if (existsSync(join(home, MASTER_CONFIG_NAME))) {
    configFile = join(home, MASTER_CONFIG_NAME);
  }
  const { values, harvesterID, extra, dbPassword }: MasterFile =
    configFile === undefined ? { values: {}, harvesterID: harvesterIDFrom({}), extra: {} } : readMasterFile(configFile, opts.env);

  let logLevel: LogLevel = values.logLevel ?? 'info';
  if (opts.logLevel !== undefined) {
    if (!(logLevels as readonly string[]).includes(opts.logLevel)) {
      throw new ConfigInvalidError('--log-level', [
        { file: '--log-level', path: '', message: `unknown log level '${opts.logLevel}' (expected one of ${logLevels.join(', ')})` },
      ]);
    }
    logLevel = opts.logLevel as LogLevel;
  }

  let queueConfigFile: string;
  let queueConfigOrigin: QueueConfigOrigin;
  if (values.queueConfigFile !== undefined) {
    queueConfigFile = underHome(values.queueConfigFile);
    queueConfigOrigin = 'master-config';
  } else if (existsSync(join(home, QUEUE_CONFIG_NAME))) {
    queueConfigFile = join(home, QUEUE_CONFIG_NAME);
    queueConfigOrigin = 'home';
  } else {
    queueConfigFile = shippedExampleQueueConfig;
    queueConfigOrigin = 'shipped-example';
  }

  return deepFreeze({
    home,
    ...(configFile === undefined ? {} : { configFile }),
    queueConfigFile,
    queueConfigOrigin,
    logLevel,
    logDir: underHome(values.logDir ?? 'logs'),
    knownHostsFile: underHome(values.knownHostsFile ?? 'known_hosts'),
    pluginDirs: (values.pluginDirs ?? []).map(underHome),
    agents: agentSettingsFrom(values),
    db: dbSettingsFrom(values.db ?? {}, dbPassword, underHome),
    jobSource: values.communicator?.className === 'PandaCommunicator' ? 'panda' : 'embedded',
    harvesterID,
    ...(values.metrics === undefined ? {} : { metrics: { host: values.metrics.host, port: values.metrics.port } }),
    extra,
  });
}
