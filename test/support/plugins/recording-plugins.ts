// The cheapest submitter and monitor a `harvester run` can load (by file path), for tests that run thousands
// of workers through several instances and must prove who did what. Each appends one "<workerID> <pid>" line
// per worker to a log shared by the instances (one append per batch: the lines of concurrent appends do not
// mix), so a test can count submissions and verdicts per worker and tell which process gave them.
import { appendFileSync, existsSync, renameSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Monitor, PluginContext, Submitter, WorkerCheck } from '../../../src/plugins/contracts.js';
import { PluginOptionError } from '../../../src/plugins/errors.js';
import { OptionReader, type PluginOptions } from '../../../src/plugins/options.js';
import { retryLater, succeeded, type Outcome } from '../../../src/plugins/outcome.js';
import { WorkSpec } from '../../../src/spec/index.js';

function requiredString(plugin: string, read: OptionReader, name: string): string {
  const value = read.string(name);
  if (value === undefined) throw new PluginOptionError(plugin, name, 'is required');
  return value;
}

function appendLines(file: string, workSpecs: readonly WorkSpec[]): void {
  if (workSpecs.length > 0) appendFileSync(file, workSpecs.map((w) => `${w.workerID} ${process.pid}\n`).join(''));
}

/** "Submits" a worker by recording it in submittedLog and giving it a batchID; nothing runs. */
export class RecordingSubmitter implements Submitter {
  readonly #submittedLog: string;

  constructor(options: PluginOptions = {}) {
    this.#submittedLog = requiredString('RecordingSubmitter', new OptionReader('RecordingSubmitter', options), 'submittedLog');
  }

  async submitWorkers(_ctx: PluginContext, workSpecs: WorkSpec[]): Promise<Outcome[]> {
    appendLines(this.#submittedLog, workSpecs);
    for (const w of workSpecs) w.batchID = `rec-${process.pid}-${w.workerID}`;
    return workSpecs.map(() => succeeded());
  }
}

/**
 * Finds every worker finished at once and records the verdict in finishedLog. With `holdFile`: the first call
 * with workers once that file exists writes their IDs to `heldFile` and never answers (the process is about
 * to be killed holding them). With `pauseFile` and `resumeFile`: between the appearance of the one and of the
 * other, no verdict (retry later), so that the workers are left for the instance that is to hold some.
 */
export class RecordingMonitor implements Monitor {
  readonly #finishedLog: string;
  readonly #holdFile: string | undefined;
  readonly #heldFile: string | undefined;
  readonly #pauseFile: string | undefined;
  readonly #resumeFile: string | undefined;

  constructor(options: PluginOptions = {}) {
    const read = new OptionReader('RecordingMonitor', options);
    this.#finishedLog = requiredString('RecordingMonitor', read, 'finishedLog');
    this.#holdFile = read.string('holdFile');
    this.#heldFile = this.#holdFile === undefined ? undefined : requiredString('RecordingMonitor', read, 'heldFile');
    this.#pauseFile = read.string('pauseFile');
    this.#resumeFile = this.#pauseFile === undefined ? undefined : requiredString('RecordingMonitor', read, 'resumeFile');
  }

  async checkWorkers(ctx: PluginContext, workSpecs: WorkSpec[]): Promise<Outcome<WorkerCheck[]>> {
    if (this.#holdFile !== undefined && this.#heldFile !== undefined && workSpecs.length > 0 && existsSync(this.#holdFile)) {
      // Whole or not at all, for the test that waits for it.
      writeFileSync(`${this.#heldFile}.tmp`, `${workSpecs.map((w) => w.workerID).join('\n')}\n`);
      renameSync(`${this.#heldFile}.tmp`, this.#heldFile);
      while (!ctx.signal.aborted) await sleep(100);
      return retryLater('RecordingMonitor: held until the call was aborted');
    }
    if (this.#pauseFile !== undefined && this.#resumeFile !== undefined && existsSync(this.#pauseFile) && !existsSync(this.#resumeFile)) {
      return retryLater('RecordingMonitor: paused');
    }
    appendLines(this.#finishedLog, workSpecs);
    return succeeded(workSpecs.map(() => ({ status: WorkSpec.ST_finished, diag: '' })));
  }
}
