// Loads harvester's panda_queueconfig.json, unchanged: templates applied, every queue validated and
// defaulted. Queues with problems are left out and reported; the other queues load, as in harvester.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { processSecrets, type SecretRegistry } from '../logging/index.js';
import { deepFreeze } from './deep-freeze.js';
import { defaultHarvesterID } from './harvester-id.js';
import { JsonSyntaxError, parseJsonText } from './json-text.js';
import { ConfigFileError, type ConfigProblem } from './problems.js';
import { buildQueue } from './queue-builder.js';
import { isPlainObject, ProblemCollector } from './report.js';
import { resolveTemplates } from './templates.js';
import type { QueueConfig } from './types.js';
import { pluginSectionKeys, type PluginSectionKey } from './queue-schema.js';

export interface QueueConfigLoad {
  /** The file read (absolute). */
  readonly file: string;
  /** Usable queues by name, in file order; templates and queues with problems are not here. */
  readonly queues: ReadonlyMap<string, QueueConfig>;
  /** What keeps a queue (or the whole file) from loading. */
  readonly problems: readonly ConfigProblem[];
  /** Worth an operator's attention, but the queue loads. */
  readonly warnings: readonly ConfigProblem[];
  /**
   * The plugin sections (kind, name, module) of queues that could not be built, so that `queues check` can
   * still report an unknown plugin among their other problems: every problem at once.
   */
  readonly unbuiltSections: ReadonlyMap<string, readonly UnbuiltSection[]>;
}

export interface UnbuiltSection {
  readonly kind: PluginSectionKey;
  readonly name: string;
  readonly module: string;
}

export interface QueueConfigOptions {
  /** Environment for {"env": "VAR"} secrets; process.env by default. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Where resolved secrets are registered for masking; the process-wide registry by default. */
  readonly secrets?: SecretRegistry;
  /** The master configuration's harvesterID, set on every queue; harvester-ts-<hostname> when not given. */
  readonly harvesterID?: string;
}

function finish(
  file: string,
  queues: Map<string, QueueConfig>,
  collector: ProblemCollector,
  unbuiltSections = new Map<string, UnbuiltSection[]>(),
): QueueConfigLoad {
  return deepFreeze({ file, queues, problems: collector.problems, warnings: collector.warnings, unbuiltSections });
}

function sectionsOf(raw: unknown): UnbuiltSection[] {
  if (!isPlainObject(raw)) return [];
  const found: UnbuiltSection[] = [];
  for (const kind of pluginSectionKeys) {
    const section = raw[kind];
    if (isPlainObject(section) && typeof section.name === 'string' && typeof section.module === 'string') {
      found.push({ kind, name: section.name, module: section.module });
    }
  }
  return found;
}

/** Parses the text of a queue configuration; `file` names it in problems and anchors relative secret files. */
export function parseQueueConfig(text: string, file: string, opts: QueueConfigOptions = {}): QueueConfigLoad {
  const collector = new ProblemCollector(file);
  const fileReport = collector.forQueue(undefined);
  const queues = new Map<string, QueueConfig>();
  let document: unknown;
  try {
    // A byte-order mark is not JSON, but some editors write one; Python's json also refuses it, we forgive.
    document = parseJsonText(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    fileReport.problem('', error.message);
    return finish(file, queues, collector);
  }
  if (!isPlainObject(document)) {
    fileReport.problem('', 'the queue configuration must be a JSON object of queues by name');
    return finish(file, queues, collector);
  }
  const { queues: rawQueues } = resolveTemplates(document, collector);
  const buildOptions = {
    env: opts.env ?? process.env,
    baseDir: dirname(file),
    secrets: opts.secrets ?? processSecrets,
    harvesterID: opts.harvesterID ?? defaultHarvesterID(),
  };
  const unbuilt = new Map<string, UnbuiltSection[]>();
  for (const [name, raw] of rawQueues) {
    const queue = buildQueue(name, raw, collector.forQueue(name), buildOptions);
    if (queue !== undefined) queues.set(name, queue);
    else unbuilt.set(name, sectionsOf(raw));
  }
  if (rawQueues.size === 0 && collector.problems.length === 0) {
    fileReport.warning('', 'no queues defined');
  }
  return finish(file, queues, collector, unbuilt);
}

function readReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  return error instanceof Error ? error.message : String(error);
}

/** Reads a text file, or throws ConfigFileError naming it and why it cannot be read. */
export function readConfigFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigFileError(file, readReason(error), { cause: error });
  }
}

/** Loads the queue configuration at `file`; throws ConfigFileError when the file cannot be read at all. */
export function loadQueueConfig(file: string, opts: QueueConfigOptions = {}): QueueConfigLoad {
  const full = resolve(file);
  return parseQueueConfig(readConfigFile(full), full, opts);
}
