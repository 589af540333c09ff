// Runs each worker as a detached local process in its access point (see local-process-launch.ts), with
// batchID = the pid of the payload's wrapper, which is also its process group id.
// Submission is idempotent: the submission record is written before spawning, and a worker whose access point
// a payload has already claimed (payload.pid) is answered with that payload's batchID instead of a second
// start, so a crash between spawn and the store update never runs a worker twice.
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { isAbsolute } from 'node:path';
import type { WorkSpec } from '../../spec/index.js';
import { forEachUntilAborted } from '../abort.js';
import type { PluginContext, Submitter } from '../contracts.js';
import { OptionReader, type PluginOptions } from '../options.js';
import { PluginOptionError } from '../errors.js';
import { failed, retryLater, succeeded, type Outcome } from '../outcome.js';
import { payloadCommandOf, PayloadCommandError, type CommandOptions } from './local-process-command.js';
import { localProcessPath, readPidFile, readSubmissionRecord, writeSubmissionRecord, LocalProcessStateError } from './local-process-files.js';
import { launchPayload, LocalProcessLaunchError } from './local-process-launch.js';
import { accessPointOf, errorText } from './worker-fields.js';

/** What a payload sees of its environment when inheritEnvironment is false. */
const minimalEnvironment = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];

export class LocalProcessSubmitter implements Submitter {
  private readonly commandOptions: CommandOptions;
  private readonly shell: string;
  private readonly inheritEnvironment: boolean;
  private readonly startTimeoutMs: number;
  private readonly submittedLog: string | undefined;
  private readonly computingElement: string;

  constructor(options: PluginOptions = {}) {
    const read = new OptionReader('LocalProcessSubmitter', options);
    this.commandOptions = { defaultCommand: read.string('command'), useJobCommand: read.boolean('useJobCommand', true) };
    this.shell = read.string('shell', '/bin/sh');
    this.inheritEnvironment = read.boolean('inheritEnvironment', true);
    const startTimeout = read.number('startTimeout', 10);
    if (startTimeout <= 0) throw new PluginOptionError('LocalProcessSubmitter', 'startTimeout', `must be positive seconds, got ${startTimeout}`);
    this.startTimeoutMs = startTimeout * 1000;
    // One shared log (e.g. for a crash test counting starts) survives the sweeper removing access points.
    this.submittedLog = read.string('submittedLog');
    if (this.submittedLog !== undefined && !isAbsolute(this.submittedLog)) {
      throw new PluginOptionError('LocalProcessSubmitter', 'submittedLog', `must be an absolute path, got '${this.submittedLog}'`);
    }
    this.computingElement = read.string('computingElement', hostname());
  }

  submitWorkers(ctx: PluginContext, workSpecs: WorkSpec[]): Promise<Outcome[]> {
    return forEachUntilAborted(ctx, workSpecs, (workSpec) => this.submitOne(ctx, workSpec));
  }

  private async submitOne(ctx: PluginContext, workSpec: WorkSpec): Promise<Outcome> {
    const { workerID } = workSpec;
    const accessPoint = accessPointOf(workSpec);
    if (workerID === null) return failed('the worker has no workerID');
    if (accessPoint === undefined) return failed(`worker ${workerID} has no accessPoint`);
    let command;
    try {
      command = payloadCommandOf(workSpec, this.commandOptions);
    } catch (error) {
      if (error instanceof PayloadCommandError) return failed(error.message);
      throw error;
    }
    try {
      // The messenger usually made it already; without one (or before it ran) we do.
      await mkdir(accessPoint, { recursive: true });
    } catch (error) {
      return retryLater(`worker ${workerID}: cannot create the access point ${accessPoint}: ${errorText(error)}`);
    }
    try {
      const record = await readSubmissionRecord(accessPoint, workerID);
      if (record !== undefined && record.workerID !== workerID) {
        return failed(`worker ${workerID}: access point ${accessPoint} belongs to worker ${record.workerID}; refusing to start a payload there`);
      }
      const claim = await readPidFile(accessPoint, workerID);
      if (claim !== undefined) {
        if (record === undefined) {
          return failed(`worker ${workerID}: access point ${accessPoint} already holds a payload (pid ${claim.pid}) this submitter has no record of`);
        }
        // Started before (the store missed it, e.g. after a crash): the same batch job, not a new one.
        this.setSubmitted(workSpec, accessPoint, claim.pid);
        ctx.log.info({ workerID, batchID: workSpec.batchID }, 'already started: answering with the existing payload');
        return succeeded(undefined, `already started as pid ${claim.pid}`);
      }
      await writeSubmissionRecord(accessPoint, {
        workerID,
        queueName: ctx.queue.queueName,
        host: hostname(),
        attemptedAt: new Date().toISOString(),
        attempts: (record?.attempts ?? 0) + 1,
      });
      const launched = await launchPayload({
        workerID,
        accessPoint,
        command: command.command,
        shell: this.shell,
        submittedLog: this.submittedLog ?? localProcessPath(accessPoint, 'submittedLog'),
        env: this.environment(ctx, workSpec, accessPoint),
        startTimeoutMs: this.startTimeoutMs,
      });
      this.setSubmitted(workSpec, accessPoint, launched.identity.pid);
      ctx.log.debug(
        { workerID, batchID: workSpec.batchID, commandSource: command.source, startedNow: launched.startedNow },
        'payload started',
      );
      return succeeded();
    } catch (error) {
      // A corrupt record or pid file needs an operator; a failed start may be retried (the claim keeps it single).
      if (error instanceof LocalProcessStateError) return failed(error.message);
      if (error instanceof LocalProcessLaunchError) return retryLater(error.message);
      return retryLater(`worker ${workerID}: cannot start the payload in ${accessPoint}: ${errorText(error)}`);
    }
  }

  private setSubmitted(workSpec: WorkSpec, accessPoint: string, pid: number): void {
    workSpec.batchID = String(pid);
    workSpec.computingElement = this.computingElement;
    workSpec.setLogFile('stdout', localProcessPath(accessPoint, 'stdout'));
    workSpec.setLogFile('stderr', localProcessPath(accessPoint, 'stderr'));
  }

  private environment(ctx: PluginContext, workSpec: WorkSpec, accessPoint: string): Record<string, string | undefined> {
    const base: Record<string, string | undefined> = this.inheritEnvironment
      ? { ...process.env }
      : Object.fromEntries(minimalEnvironment.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]]));
    const pandaID = workSpec.jobSpecs[0]?.PandaID;
    return {
      ...base,
      HARVESTER_ACCESS_POINT: accessPoint,
      HARVESTER_QUEUE_NAME: ctx.queue.queueName,
      ...(pandaID === undefined || pandaID === null ? {} : { HARVESTER_PANDA_ID: String(pandaID) }),
    };
  }
}
