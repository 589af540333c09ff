// harvester's SharedFileMessenger: harvester and the payload talk through files in the worker's access point
// on a shared file system, with harvester's file names (payload-files.ts) and formats. With ManyToOne each job
// has its own sub-directory "<accessPoint>/<PandaID>". Files being read are first renamed to "<name>.read", so
// the payload cannot overwrite them meanwhile, and renamed again once acknowledged.
// Not ported: on-site merging (taskWorkBaseDir) and zipped leftovers (leftOverZipPatterns).
import { randomUUID } from 'node:crypto';
import { lstat, mkdir, readdir, rename, rm, stat, symlink, unlink } from 'node:fs/promises';
import { join, basename } from 'node:path';
import { EventSpec, JobSpec, WorkSpec } from '../../spec/index.js';
import { abortedDiag, throwIfAborted } from '../abort.js';
import { adler32OfFile } from '../checksum.js';
import type { FileToStageOut, Messenger, PluginContext } from '../contracts.js';
import { OptionReader, type PluginOptions } from '../options.js';
import { failed, retryLater, succeeded, type Outcome } from '../outcome.js';
import { messengerOwnFiles, payloadFileNames, type PayloadFileNames } from '../payload-files.js';
import { writeTar } from '../tar.js';
import { isPlainObject, readJsonFile, writeFileAtomically, writeJsonAtomically } from './json-files.js';
import { cgiEncode, jobParamsOf, logTarballPatterns, poolFileCatalog } from './payload-formats.js';
import { accessPointOf, errorText, isNotFound } from './worker-fields.js';

const { suffixReadJson, postProcessAttrs } = messengerOwnFiles;

/** A worker or job lacks what the messenger needs to find its files. */
export class MessengerSpecError extends Error {
  constructor(
    readonly workerID: unknown,
    detail: string,
  ) {
    super(`worker ${String(workerID)}: ${detail}`);
    this.name = 'MessengerSpecError';
  }
}

function pandaIDOf(workSpec: WorkSpec, jobSpec: JobSpec): number {
  if (jobSpec.PandaID === null) throw new MessengerSpecError(workSpec.workerID, 'a job has no PandaID');
  return jobSpec.PandaID;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/** harvester's timestamp suffix for acknowledged files (%Y-%m-%d_%H_%M_%S.%f, UTC). */
function ackSuffix(now: Date): string {
  const iso = now.toISOString(); // 2024-01-02T03:04:05.678Z
  return `${iso.slice(0, 10)}_${iso.slice(11, 13)}_${iso.slice(14, 16)}_${iso.slice(17, 19)}.${iso.slice(20, 23)}000`;
}

export class SharedFileMessenger implements Messenger {
  private readonly names: PayloadFileNames;
  private readonly jobSpecFileFormat: 'json' | 'cgi';
  private readonly stripJobParams: boolean;
  private readonly scanInPostProcess: boolean;
  private readonly leftOverPatterns: readonly RegExp[];
  private readonly postProcessInSubDir: boolean;
  private readonly outputSubDir: string | undefined;

  constructor(options: PluginOptions = {}) {
    const read = new OptionReader('SharedFileMessenger', options);
    this.names = payloadFileNames(read);
    this.jobSpecFileFormat = read.oneOf('jobSpecFileFormat', ['json', 'cgi'], 'json');
    this.stripJobParams = read.boolean('stripJobParams', false);
    this.scanInPostProcess = read.boolean('scanInPostProcess', false);
    this.leftOverPatterns = (read.stringList('leftOverPatterns') ?? []).map((p) => new RegExp(p));
    this.postProcessInSubDir = read.boolean('postProcessInSubDir', false);
    this.outputSubDir = read.string('outputSubDir');
  }

  /** The worker's directory. */
  private workerDir(workSpec: WorkSpec): string {
    const accessPoint = accessPointOf(workSpec);
    if (accessPoint === undefined) throw new MessengerSpecError(workSpec.workerID, 'no accessPoint');
    return accessPoint;
  }

  /** Where one job's files live: its own sub-directory with ManyToOne, the worker's directory otherwise. */
  jobDir(workSpec: WorkSpec, pandaID: number | string): string {
    const base = this.workerDir(workSpec);
    return workSpec.mapType === WorkSpec.MT_MultiJobs ? join(base, String(pandaID)) : base;
  }

  /** The worker's jobs (harvester's pandaid_list; the attached jobs when none was set). */
  private pandaIDsOf(workSpec: WorkSpec): number[] {
    const listed = workSpec.pandaid_list;
    if (Array.isArray(listed) && listed.length > 0) return listed;
    return workSpec.jobSpecs.map((j) => pandaIDOf(workSpec, j));
  }

  async setupAccessPoints(ctx: PluginContext, workSpecs: WorkSpec[]): Promise<Outcome> {
    for (const workSpec of workSpecs) {
      if (ctx.signal.aborted) return retryLater(abortedDiag(ctx));
      try {
        const accessPoint = this.workerDir(workSpec);
        // A new worker must not inherit files of an earlier worker that had the same directory.
        if (workSpec.isNew) await rm(accessPoint, { recursive: true, force: true });
        await mkdir(accessPoint, { recursive: true });
        for (const jobSpec of workSpec.jobSpecs) {
          const jobDir = this.jobDir(workSpec, pandaIDOf(workSpec, jobSpec));
          if (jobDir !== accessPoint) await mkdir(jobDir, { recursive: true });
        }
      } catch (error) {
        return failed(`worker ${String(workSpec.workerID)}: cannot set up the access point: ${errorText(error)}`);
      }
    }
    return succeeded();
  }

  async feedJobs(ctx: PluginContext, workSpec: WorkSpec, jobSpecs: JobSpec[]): Promise<Outcome> {
    const problems: string[] = [];
    const pfc = poolFileCatalog(jobSpecs);
    const fed: number[] = [];
    for (const jobSpec of jobSpecs) {
      if (ctx.signal.aborted) return retryLater(abortedDiag(ctx));
      try {
        const pandaID = pandaIDOf(workSpec, jobSpec);
        const jobDir = this.jobDir(workSpec, pandaID);
        const params = jobParamsOf(jobSpec, this.stripJobParams);
        const content = this.jobSpecFileFormat === 'cgi' ? cgiEncode(params) : JSON.stringify({ [pandaID]: params });
        await writeFileAtomically(join(jobDir, this.names.jobSpecFile), content);
        await writeFileAtomically(join(jobDir, this.names.xmlPoolCatalogFile), pfc);
        for (const fileSpec of jobSpec.inFiles) {
          // Input files appear in the job's directory under their LFN, as the payload expects.
          const target = fileSpec.path;
          if (typeof target !== 'string' || target === '' || fileSpec.lfn === null) continue;
          const link = join(jobDir, fileSpec.lfn);
          if (target === link) continue;
          if (await exists(link)) await unlink(link);
          await symlink(target, link);
        }
        fed.push(pandaID);
      } catch (error) {
        problems.push(`PandaID=${String(jobSpec.PandaID)}: ${errorText(error)}`);
      }
    }
    try {
      await writeJsonAtomically(join(this.workerDir(workSpec), this.names.pandaIDsFile), fed);
      // The request is answered: the payload writes a new one when it wants more.
      await rm(join(this.workerDir(workSpec), this.names.jobRequestFile), { force: true });
    } catch (error) {
      problems.push(`worker ${String(workSpec.workerID)}: ${errorText(error)}`);
    }
    ctx.log.debug({ workerID: workSpec.workerID, nJobs: fed.length }, 'fed jobs');
    return problems.length === 0 ? succeeded() : failed(`feeding jobs failed: ${problems.join('; ')}`);
  }

  async jobRequested(ctx: PluginContext, workSpec: WorkSpec): Promise<number> {
    throwIfAborted(ctx, 'jobRequested');
    const path = join(this.workerDir(workSpec), this.names.jobRequestFile);
    const read = await readJsonFile(path);
    if (!read.found) return 0;
    // harvester asks for one job when the request cannot be read.
    if ('error' in read || !isPlainObject(read.value)) return 1;
    const nJobs = read.value.nJobs;
    return typeof nJobs === 'number' && Number.isInteger(nJobs) && nJobs >= 0 ? nJobs : 1;
  }

  async killRequested(ctx: PluginContext, workSpec: WorkSpec): Promise<boolean> {
    throwIfAborted(ctx, 'killRequested');
    return exists(join(this.workerDir(workSpec), this.names.killWorkerFile));
  }

  async isAlive(ctx: PluginContext, workSpec: WorkSpec, timeLimit: number): Promise<boolean | undefined> {
    throwIfAborted(ctx, 'isAlive');
    const path = join(this.workerDir(workSpec), this.names.heartbeatFile);
    const limitMs = timeLimit * 1000;
    let mtimeMs: number;
    try {
      mtimeMs = (await stat(path)).mtimeMs;
    } catch (error) {
      if (!isNotFound(error)) throw error;
      const startTime = workSpec.startTime;
      // No heartbeat yet: a worker that has not started, or started less than timeLimit ago, gets the benefit of the doubt.
      if (!(startTime instanceof Date)) return true;
      if (Date.now() - startTime.getTime() < limitMs) return true;
      return undefined;
    }
    return Date.now() - mtimeMs <= limitMs;
  }

  async getWorkAttributes(ctx: PluginContext, workSpec: WorkSpec): Promise<Record<string, unknown>> {
    const all: Record<string, unknown> = {};
    for (const pandaID of this.pandaIDsOf(workSpec)) {
      throwIfAborted(ctx, 'getWorkAttributes');
      const jobDir = this.jobDir(workSpec, pandaID);
      let attributes: Record<string, unknown> = {};
      const attrs = await this.readObject(ctx, join(jobDir, this.names.workerAttributesFile));
      if (attrs !== undefined) attributes = attrs;
      const report = await this.readObject(ctx, join(jobDir, this.names.jobReportFile));
      if (report !== undefined) attributes.metaData = report;
      const postProcess = await this.readObject(ctx, join(jobDir, postProcessAttrs));
      if (postProcess !== undefined) Object.assign(attributes, postProcess);
      all[String(pandaID)] = attributes;
    }
    return all;
  }

  /** A JSON object file, undefined when absent; a malformed one is logged and treated as absent, as harvester does. */
  private async readObject(ctx: PluginContext, path: string): Promise<Record<string, unknown> | undefined> {
    const read = await readJsonFile(path);
    if (!read.found) return undefined;
    if ('error' in read) {
      ctx.log.warn({ path, reason: read.error }, 'ignoring unreadable payload file');
      return undefined;
    }
    if (!isPlainObject(read.value)) {
      ctx.log.warn({ path }, 'ignoring payload file that is not a JSON object');
      return undefined;
    }
    return read.value;
  }

  /** Renames `<path>` to `<path>.read` unless a not yet acknowledged `.read` is there; the path to read, if any. */
  private async claimForReading(ctx: PluginContext, path: string): Promise<string | undefined> {
    const readPath = path + suffixReadJson;
    if (await exists(readPath)) return readPath;
    try {
      await rename(path, readPath);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      ctx.log.error({ path, reason: errorText(error) }, 'cannot rename payload file for reading');
      return undefined;
    }
    return readPath;
  }

  async getFilesToStageOut(ctx: PluginContext, workSpec: WorkSpec): Promise<Record<string, FileToStageOut[]>> {
    const files: Record<string, FileToStageOut[]> = {};
    for (const pandaID of this.pandaIDsOf(workSpec)) {
      throwIfAborted(ctx, 'getFilesToStageOut');
      const jobDir = this.jobDir(workSpec, pandaID);
      const readPath = await this.claimForReading(ctx, join(jobDir, this.names.eventStatusDumpJsonFile));
      if (readPath === undefined) continue;
      const read = await readJsonFile(readPath);
      let nData = 0;
      let skip = true;
      if (read.found && !('error' in read) && isPlainObject(read.value)) {
        skip = false;
        const events: Record<string, { eventRangeID: unknown; eventStatus: unknown }[]> = {};
        for (const [id, entries] of Object.entries(read.value)) {
          if (!Array.isArray(entries)) {
            ctx.log.error({ path: readPath, PandaID: id }, 'output entry is not a list');
            skip = true;
            break;
          }
          for (const entry of entries) {
            nData++;
            try {
              await this.collectOutput(id, entry, files, events);
            } catch (error) {
              ctx.log.error({ path: readPath, PandaID: id, reason: errorText(error) }, 'skipping output entry');
            }
          }
        }
        if (!skip && Object.keys(events).length > 0) {
          await writeJsonAtomically(join(jobDir, this.names.updateEventsFile), events);
        }
      } else {
        ctx.log.error({ path: readPath, reason: read.found && 'error' in read ? read.error : 'not a JSON object' }, 'cannot load outputs');
      }
      if (skip || nData === 0) await rm(readPath, { force: true });
    }
    return files;
  }

  private async collectOutput(
    pandaID: string,
    entry: unknown,
    files: Record<string, FileToStageOut[]>,
    events: Record<string, { eventRangeID: unknown; eventStatus: unknown }[]>,
  ): Promise<void> {
    if (!isPlainObject(entry)) throw new Error('entry is not an object');
    const eventRangeID = entry.eventRangeID ?? null;
    if (typeof entry.path === 'string') {
      const path = entry.path;
      const type = String(entry.type);
      const file: Record<string, unknown> = {
        path,
        type,
        fsize: typeof entry.fsize === 'number' ? entry.fsize : (await stat(path)).size,
        guid: typeof entry.guid === 'string' ? entry.guid : randomUUID(),
        chksum: typeof entry.chksum === 'string' ? entry.chksum : await adler32OfFile(path),
      };
      if (['log', 'output', 'checkpoint'].includes(type)) file.isZip = false;
      else if (type === 'zip_output') file.isZip = true;
      else if (entry.isZip !== undefined) file.isZip = Boolean(entry.isZip);
      const isEventOutput = type === 'es_output' || type === 'zip_output';
      if (isEventOutput) file.eventRangeID = eventRangeID;
      (files[pandaID] ??= []).push(file as unknown as FileToStageOut);
      if (!isEventOutput) return;
    }
    if (!('eventStatus' in entry)) throw new Error(`event ${String(eventRangeID)} has no eventStatus`);
    (events[pandaID] ??= []).push({ eventRangeID, eventStatus: entry.eventStatus });
  }

  async feedEvents(ctx: PluginContext, workSpec: WorkSpec, eventsByPandaID: Record<string, unknown[]>): Promise<Outcome> {
    if (ctx.signal.aborted) return retryLater(abortedDiag(ctx));
    try {
      const accessPoint = this.workerDir(workSpec);
      if (workSpec.mapType === WorkSpec.MT_MultiJobs) {
        // harvester leaves this case unwritten; each job's events go to its own directory.
        for (const [pandaID, events] of Object.entries(eventsByPandaID)) {
          await writeJsonAtomically(join(this.jobDir(workSpec, pandaID), this.names.eventRangesFile), { [pandaID]: events });
        }
      } else {
        await writeJsonAtomically(join(accessPoint, this.names.eventRangesFile), eventsByPandaID);
      }
      await rm(join(accessPoint, this.names.eventRequestFile), { force: true });
    } catch (error) {
      return failed(`worker ${String(workSpec.workerID)}: cannot feed events: ${errorText(error)}`);
    }
    return succeeded();
  }

  async eventsToUpdate(ctx: PluginContext, workSpec: WorkSpec): Promise<Record<string, EventSpec[]>> {
    const updates: Record<string, EventSpec[]> = {};
    for (const pandaID of this.pandaIDsOf(workSpec)) {
      throwIfAborted(ctx, 'eventsToUpdate');
      const readPath = await this.claimForReading(ctx, join(this.jobDir(workSpec, pandaID), this.names.updateEventsFile));
      if (readPath === undefined) continue;
      let nData = 0;
      const read = await readJsonFile(readPath);
      if (read.found && !('error' in read) && isPlainObject(read.value)) {
        for (const [id, events] of Object.entries(read.value)) {
          if (!Array.isArray(events)) continue;
          updates[id] = events.filter(isPlainObject).map((e) => EventSpec.fromPayload(Number(id), e));
          nData += events.length;
        }
      } else {
        ctx.log.error({ path: readPath }, 'cannot load event updates');
      }
      if (nData === 0) await rm(readPath, { force: true });
    }
    return updates;
  }

  async eventsRequested(ctx: PluginContext, workSpec: WorkSpec): Promise<Record<string, Record<string, unknown>>> {
    throwIfAborted(ctx, 'eventsRequested');
    const request = await this.readObject(ctx, join(this.workerDir(workSpec), this.names.eventRequestFile));
    if (request === undefined) return {};
    const result: Record<string, Record<string, unknown>> = {};
    for (const [pandaID, value] of Object.entries(request)) if (isPlainObject(value)) result[pandaID] = value;
    return result;
  }

  async getPandaIds(ctx: PluginContext, workSpec: WorkSpec): Promise<number[]> {
    throwIfAborted(ctx, 'getPandaIds');
    const path = join(this.workerDir(workSpec), this.names.pandaIDsFile);
    const read = await readJsonFile(path);
    if (!read.found) return [];
    if ('error' in read || !Array.isArray(read.value)) {
      ctx.log.warn({ path }, 'ignoring unreadable PandaID file');
      return [];
    }
    return read.value.map((v) => Number(v)).filter((n) => Number.isInteger(n));
  }

  async postProcessing(ctx: PluginContext, workSpec: WorkSpec, jobSpecs: JobSpec[], mapType: string): Promise<Outcome> {
    try {
      for (const jobSpec of jobSpecs) {
        if (ctx.signal.aborted) return retryLater(abortedDiag(ctx));
        const pandaID = pandaIDOf(workSpec, jobSpec);
        const jobDir = this.jobDir(workSpec, pandaID);
        const workDir = this.postProcessInSubDir ? join(jobDir, String(pandaID)) : jobDir;
        const outputs: Record<string, unknown>[] = [];
        const hasLog = jobSpec.outFiles.some((f) => f.fileType === 'log');
        const logLFN = jobSpec.jobParams?.logFile;
        if (!hasLog && typeof logLFN === 'string' && logLFN !== '') {
          let logPath = join(workDir, logLFN);
          if (mapType === WorkSpec.MT_MultiWorkers) logPath += `._${String(workSpec.workerID)}`;
          await this.makeLogTarball(workDir, logPath);
          outputs.push({ path: logPath, type: 'log', isZip: 0 });
        }
        if (this.scanInPostProcess) outputs.push(...(await this.scanLeftOvers(workDir, jobSpec)));
        if (outputs.length > 0) {
          await writeJsonAtomically(join(jobDir, this.names.eventStatusDumpJsonFile), { [pandaID]: outputs });
        }
      }
    } catch (error) {
      // harvester answers None (try again later) when post-processing throws.
      return retryLater(`worker ${String(workSpec.workerID)}: post-processing failed: ${errorText(error)}`);
    }
    return succeeded();
  }

  /** log.tgz of the directory's log-like files, each sub-directory first packed as "<dir>.subdir.tar.gz". */
  private async makeLogTarball(dir: string, logPath: string): Promise<void> {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const sub of entries.filter((e) => e.isDirectory())) {
      const subDir = join(dir, sub.name);
      const files = await this.walkMatching(subDir, '', (name) => logTarballPatterns.some((p) => p.test(name)) && name !== this.names.jobSpecFile);
      await writeTar(join(dir, `${sub.name}.subdir.tar.gz`), files, { gzip: true });
    }
    const top = (await readdir(dir, { withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => e.name)
      .filter((name) => name !== basename(logPath) && name !== this.names.jobSpecFile)
      .filter((name) => name.endsWith('.subdir.tar.gz') || logTarballPatterns.some((p) => p.test(name)));
    await writeTar(logPath, top.map((name) => ({ path: join(dir, name), name })), { gzip: true });
  }

  private async walkMatching(root: string, prefix: string, keep: (name: string) => boolean): Promise<{ path: string; name: string }[]> {
    const found: { path: string; name: string }[] = [];
    for (const entry of await readdir(join(root, prefix), { withFileTypes: true })) {
      const relative = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      if (entry.isDirectory()) found.push(...(await this.walkMatching(root, relative, keep)));
      else if (entry.isFile() && keep(entry.name)) found.push({ path: join(root, relative), name: relative });
    }
    return found;
  }

  /** Event outputs the payload left behind in sub-directories, matched by leftOverPatterns (regular expressions). */
  private async scanLeftOvers(dir: string, jobSpec: JobSpec): Promise<Record<string, unknown>[]> {
    const patterns = this.leftOverPatterns.map(
      (p) => new RegExp(p.source.replaceAll('%PANDAID', String(jobSpec.PandaID)).replaceAll('%TASKID', String(jobSpec.taskID))),
    );
    const subDirs = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => join(dir, e.name));
    const roots = this.outputSubDir === undefined ? subDirs : subDirs.map((d) => join(d, this.outputSubDir!));
    const found: Record<string, unknown>[] = [];
    for (const root of roots) {
      if (!(await exists(root))) continue;
      const files = await this.walkMatching(root, '', (name) => patterns.length === 0 || patterns.some((p) => p.test(name)));
      for (const file of files) {
        const lfn = basename(file.path);
        found.push({
          path: file.path,
          fsize: (await stat(file.path)).size,
          guid: randomUUID(),
          chksum: await adler32OfFile(file.path),
          eventStatus: 'finished',
          type: 'es_output',
          eventRangeID: lfn.split('.').pop(),
        });
      }
    }
    return found;
  }

  async acknowledgeEventsFiles(ctx: PluginContext, workSpec: WorkSpec): Promise<void> {
    const suffix = ackSuffix(new Date());
    for (const pandaID of this.pandaIDsOf(workSpec)) {
      const jobDir = this.jobDir(workSpec, pandaID);
      for (const name of [this.names.updateEventsFile, this.names.eventStatusDumpJsonFile]) {
        const readPath = join(jobDir, name + suffixReadJson);
        try {
          await rename(readPath, `${readPath}.${suffix}`);
        } catch (error) {
          // Nothing was read for this job: nothing to acknowledge.
          if (!isNotFound(error)) throw error;
        }
      }
    }
    ctx.log.debug({ workerID: workSpec.workerID }, 'acknowledged events and files');
  }

  async cleanUp(ctx: PluginContext, workSpec: WorkSpec): Promise<Outcome> {
    const accessPoint = this.workerDir(workSpec);
    let info;
    try {
      info = await stat(accessPoint);
    } catch (error) {
      // Already gone (e.g. a retried call whose first reply was lost): the goal is reached.
      if (isNotFound(error)) return succeeded(undefined, 'access point already gone');
      return retryLater(`cannot look at ${accessPoint}: ${errorText(error)}`);
    }
    if (!info.isDirectory()) return failed(`${accessPoint} is not a directory`);
    try {
      await rm(accessPoint, { recursive: true, force: true });
    } catch (error) {
      return retryLater(`failed to remove directory ${accessPoint}: ${errorText(error)}`);
    }
    ctx.log.debug({ workerID: workSpec.workerID, accessPoint }, 'cleaned up');
    return succeeded();
  }
}
