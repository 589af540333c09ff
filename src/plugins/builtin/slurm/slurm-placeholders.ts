// The values a SLURM batch script template can use: the names and the arithmetic of harvester's
// SlurmSubmitter.make_placeholder_map, so a harvester template gives the same script. Our addition:
// {payloadScript}, the path of the script that runs the worker's payload (see payload-script.ts).
import { relative } from 'node:path';
import type { WorkSpec } from '../../../spec/index.js';
import { PluginOptionError } from '../../errors.js';
import type { OptionReader } from '../../options.js';
import type { TemplateValue } from '../../batch/template.js';

/** nCoreFactor: one factor, or one per jobType and resourceType (harvester's "ucore" form). */
export type CoreFactor = number | Readonly<Record<string, Readonly<Record<string, number>>>>;

export interface PlaceholderSettings {
  /** Cores given to every worker when positive (harvester's nCore option). */
  readonly nCore: number;
  readonly nCorePerNode: number;
  readonly nCoreFactor: CoreFactor;
  /** Nodes per job; computed from cores when unset. */
  readonly nNode: number | undefined;
  readonly localQueueName: string;
  readonly logDir: string | undefined;
  readonly logBaseURL: string | undefined;
  /** tokenDir, tokenName, tokenOrigin, submitMode: placeholders only when the section sets them. */
  readonly optional: Readonly<Record<string, string | number>>;
}

/** Placeholders that exist only when the section sets the option of the same name. */
const optionalNames = ['tokenDir', 'tokenName', 'tokenOrigin', 'submitMode'] as const;

/** The names every template may use (logDir and logSubDir only with a logDir option). */
const alwaysNames = [
  'nCorePerNode', 'nCoreTotal', 'nCoreFactor', 'nNode', 'requestRam', 'requestRamBytes', 'requestRamPerCore',
  'requestRamBytesPerCore', 'requestDisk', 'requestWalltime', 'requestWalltimeMinute', 'requestCputime',
  'requestCputimeMinute', 'accessPoint', 'harvesterID', 'workerID', 'computingSite', 'pandaQueueName',
  'localQueueName', 'jobType', 'gtag', 'payloadScript',
] as const;

function positiveInteger(plugin: string, option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new PluginOptionError(plugin, option, `must be a positive whole number, got ${JSON.stringify(value)}`);
  }
  return value;
}

function readCoreFactor(plugin: string, read: OptionReader): CoreFactor {
  const raw = read.raw('nCoreFactor');
  if (raw === undefined || raw === null) return 1;
  if (typeof raw !== 'object' || Array.isArray(raw)) return positiveInteger(plugin, 'nCoreFactor', raw);
  const byJobType: Record<string, Record<string, number>> = {};
  for (const [jobType, byResource] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof byResource !== 'object' || byResource === null || Array.isArray(byResource)) {
      throw new PluginOptionError(plugin, 'nCoreFactor', `must map jobType to {resourceType: factor}; '${jobType}' maps to ${JSON.stringify(byResource)}`);
    }
    byJobType[jobType] = Object.fromEntries(
      Object.entries(byResource as Record<string, unknown>).map(([resourceType, n]) => [resourceType, positiveInteger(plugin, `nCoreFactor.${jobType}.${resourceType}`, n)]),
    );
  }
  return byJobType;
}

export function readPlaceholderSettings(plugin: string, read: OptionReader): PlaceholderSettings {
  const nCore = read.number('nCore', 0);
  // harvester: nCorePerNode defaults to the queue's corecount (1 without CRIC); 0 means "nCore".
  const perNode = read.number('nCorePerNode', 1) || nCore;
  if (!Number.isInteger(perNode) || perNode < 1) {
    throw new PluginOptionError(plugin, 'nCorePerNode', `must be a positive whole number (or 0 with a positive nCore), got ${perNode}`);
  }
  const nNode = read.number('nNode');
  const partition = read.string('partition');
  const localQueueName = read.string('localQueueName');
  if (partition !== undefined && localQueueName !== undefined && partition !== localQueueName) {
    throw new PluginOptionError(plugin, 'partition', `'${partition}' disagrees with localQueueName '${localQueueName}' (partition is another name for it: set one)`);
  }
  const optional: Record<string, string | number> = {};
  for (const name of optionalNames) {
    const value = read.raw(name);
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string' && typeof value !== 'number') throw new PluginOptionError(plugin, name, `must be a string, got ${JSON.stringify(value)}`);
    optional[name] = value;
  }
  return {
    nCore,
    nCorePerNode: perNode,
    nCoreFactor: readCoreFactor(plugin, read),
    nNode: nNode === undefined || nNode === 0 ? undefined : positiveInteger(plugin, 'nNode', nNode),
    localQueueName: localQueueName ?? partition ?? 'grid',
    logDir: read.string('logDir') || undefined,
    logBaseURL: read.string('logBaseURL') || undefined,
    optional,
  };
}

/** The names a template may use with these settings, and why the others of harvester's names have no value. */
export function placeholderNames(settings: PlaceholderSettings): { known: Set<string>; unavailable: Record<string, string> } {
  const known = new Set<string>([...alwaysNames, ...Object.keys(settings.optional)]);
  const unavailable: Record<string, string> = {};
  if (settings.logDir !== undefined) {
    known.add('logDir');
    known.add('logSubDir');
  } else {
    unavailable['logDir'] = unavailable['logSubDir'] = 'the section sets no logDir option';
  }
  for (const name of optionalNames) if (!known.has(name)) unavailable[name] = `the section sets no ${name} option`;
  return { known, unavailable };
}

export function coreFactorOf(factor: CoreFactor, workSpec: WorkSpec): number {
  if (typeof factor === 'number') return factor;
  return factor[workSpec.jobType ?? '']?.[workSpec.resourceType ?? ''] ?? 1;
}

/** Python's os.path.join of two parts (no normalisation, so "https://host" keeps its double slash). */
function pythonJoin(base: string, part: string): string {
  if (part.startsWith('/')) return part;
  return base === '' || base.endsWith('/') ? `${base}${part}` : `${base}/${part}`;
}

/** harvester's get_log_file_names: where the job's output goes with the shipped template. */
export function logFilePaths(accessPoint: string, workerID: number): { readonly stdout: string; readonly stderr: string } {
  return { stdout: pythonJoin(accessPoint, `${workerID}.out`), stderr: pythonJoin(accessPoint, `${workerID}.err`) };
}

/** URLs of the job's stdout/stderr under logBaseURL (harvester sets them when logBaseURL and logDir are set). */
export function logFileURLs(settings: PlaceholderSettings, accessPoint: string, workerID: number): { readonly stdout: string; readonly stderr: string } | undefined {
  const { logBaseURL, logDir } = settings;
  if (logBaseURL === undefined || logDir === undefined) return undefined;
  const paths = logFilePaths(accessPoint, workerID);
  return { stdout: pythonJoin(logBaseURL, relative(logDir, paths.stdout)), stderr: pythonJoin(logBaseURL, relative(logDir, paths.stderr)) };
}

/** "%y-%m-%d_%H" of harvester's naive UTC now. */
function hourStamp(now: Date): string {
  return now.toISOString().replace(/^\d\d(\d\d)-(\d\d)-(\d\d)T(\d\d).*$/, '$1-$2-$3_$4');
}

export interface PlaceholderContext {
  readonly harvesterID: string;
  readonly queueName: string;
  readonly accessPoint: string;
  readonly workerID: number;
  readonly payloadScript: string;
  readonly now: Date;
}

/**
 * harvester's make_placeholder_map for one worker (call it after nCore was applied to the worker). The core
 * factor multiplies nCoreTotal, requestRam and requestRamBytes, nothing else, as in harvester.
 */
export function placeholderMap(settings: PlaceholderSettings, workSpec: WorkSpec, ctx: PlaceholderContext): Record<string, TemplateValue> {
  const nCorePerNode = settings.nCorePerNode;
  const factor = coreFactorOf(settings.nCoreFactor, workSpec);
  const nCoreTotal = workSpec.nCore || nCorePerNode;
  const requestRam = workSpec.minRamCount ? Math.max(workSpec.minRamCount, nCoreTotal) : nCoreTotal;
  const requestDisk = workSpec.maxDiskCount ? workSpec.maxDiskCount * 1024 : 1;
  const requestWalltime = workSpec.maxWalltime || 0;
  const nNode = settings.nNode ?? Math.ceil(nCoreTotal / nCorePerNode);
  const requestRamBytes = requestRam * 2 ** 20;
  const requestCputime = requestWalltime * nCoreTotal;
  const urls = logFileURLs(settings, ctx.accessPoint, ctx.workerID);
  return {
    nCorePerNode,
    nCoreTotal: nCoreTotal * factor,
    nCoreFactor: factor,
    nNode,
    requestRam: requestRam * factor,
    requestRamBytes: requestRamBytes * factor,
    requestRamPerCore: Math.ceil(requestRam / nCoreTotal),
    requestRamBytesPerCore: Math.ceil(requestRamBytes / nCoreTotal),
    requestDisk,
    requestWalltime,
    requestWalltimeMinute: Math.ceil(requestWalltime / 60),
    requestCputime,
    requestCputimeMinute: Math.ceil(requestCputime / 60),
    accessPoint: ctx.accessPoint,
    harvesterID: ctx.harvesterID,
    workerID: ctx.workerID,
    computingSite: workSpec.computingSite,
    pandaQueueName: ctx.queueName,
    localQueueName: settings.localQueueName,
    ...(settings.logDir === undefined ? {} : { logDir: settings.logDir, logSubDir: pythonJoin(settings.logDir, hourStamp(ctx.now)) }),
    jobType: workSpec.jobType,
    gtag: urls?.stdout ?? 'unknown',
    ...settings.optional,
    payloadScript: ctx.payloadScript,
  };
}
