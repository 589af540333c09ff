// harvester's DummySubmitter: "submits" each worker by giving it a unique batchID and writing status.txt
// (submitted) into its access point, where DummyMonitor reads it. It also appends "<workerID> <batchID>" to
// submitted.log, so tests can prove a worker was never submitted twice (e.g. across a crash mid-batch).
import { randomUUID } from 'node:crypto';
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { WorkSpec } from '../../spec/index.js';
import { forEachUntilAborted } from '../abort.js';
import type { PluginContext, Submitter } from '../contracts.js';
import { OptionReader, type PluginOptions } from '../options.js';
import { failed, retryLater, succeeded, type Outcome } from '../outcome.js';
import { submittedLogName, writeStatusFile } from './status-file.js';
import { accessPointOf, errorText } from './worker-fields.js';

export class DummySubmitter implements Submitter {
  private readonly logBaseURL: string;
  private readonly computingElement: string;

  constructor(options: PluginOptions = {}) {
    const read = new OptionReader('DummySubmitter', options);
    this.logBaseURL = read.string('logBaseURL', 'http://localhost/test');
    this.computingElement = read.string('computingElement', 'CE_name');
  }

  async submitWorkers(ctx: PluginContext, workSpecs: WorkSpec[]): Promise<Outcome[]> {
    ctx.log.debug({ nWorkers: workSpecs.length }, 'DummySubmitter.submitWorkers start');
    const outcomes = await forEachUntilAborted(ctx, workSpecs, (workSpec) => this.submitOne(ctx, workSpec));
    ctx.log.debug({ nWorkers: workSpecs.length }, 'DummySubmitter.submitWorkers done');
    return outcomes;
  }

  private async submitOne(ctx: PluginContext, workSpec: WorkSpec): Promise<Outcome> {
    const accessPoint = accessPointOf(workSpec);
    if (accessPoint === undefined) return failed(`worker ${String(workSpec.workerID)} has no accessPoint`);
    const batchID = `batch_ID_${randomUUID().replaceAll('-', '')}`;
    try {
      // harvester's messenger makes the directory; without a messenger (or before it ran) we make it here.
      await mkdir(accessPoint, { recursive: true });
      await writeStatusFile(accessPoint, WorkSpec.ST_submitted);
      await appendFile(join(accessPoint, submittedLogName), `${String(workSpec.workerID)} ${batchID}\n`);
    } catch (error) {
      return retryLater(`cannot write the dummy batch files in ${accessPoint}: ${errorText(error)}`);
    }
    workSpec.batchID = batchID;
    workSpec.computingElement = this.computingElement;
    workSpec.setLogFile('batch_log', `${this.logBaseURL}/${batchID}.log`);
    workSpec.setLogFile('stdout', `${this.logBaseURL}/${batchID}.out`);
    workSpec.setLogFile('stderr', `${this.logBaseURL}/${batchID}.err`);
    ctx.log.debug({ workerID: workSpec.workerID, batchID, nJobs: workSpec.jobSpecs.length }, 'submitted');
    return succeeded();
  }
}
