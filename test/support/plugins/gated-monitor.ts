// A monitor plugin for tests that act in the middle of a monitor cycle (a `harvester run` loads it by file
// path). The first call with workers writes `markerFile` (the cycle has claimed its workers and is in the
// plugin) and answers only once `gateFile` exists; from then on it answers at once. Answers are
// LocalProcessMonitor's.
import { existsSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalProcessMonitor } from '../../../src/plugins/builtin/local-process-monitor.js';
import type { Monitor, PluginContext, WorkerCheck } from '../../../src/plugins/contracts.js';
import { PluginOptionError } from '../../../src/plugins/errors.js';
import { OptionReader, type PluginOptions } from '../../../src/plugins/options.js';
import { retryLater, type Outcome } from '../../../src/plugins/outcome.js';
import type { WorkSpec } from '../../../src/spec/index.js';

export class GatedMonitor implements Monitor {
  readonly #inner: LocalProcessMonitor;
  readonly #markerFile: string;
  readonly #gateFile: string;

  constructor(options: PluginOptions = {}) {
    const read = new OptionReader('GatedMonitor', options);
    const required = (name: string): string => {
      const value = read.string(name);
      if (value === undefined) throw new PluginOptionError('GatedMonitor', name, 'is required');
      return value;
    };
    this.#markerFile = required('markerFile');
    this.#gateFile = required('gateFile');
    this.#inner = new LocalProcessMonitor();
  }

  async checkWorkers(ctx: PluginContext, workSpecs: WorkSpec[]): Promise<Outcome<WorkerCheck[]>> {
    if (workSpecs.length > 0 && !existsSync(this.#gateFile)) {
      if (!existsSync(this.#markerFile)) writeFileSync(this.#markerFile, `${workSpecs.map((w) => w.workerID).join(' ')}\n`);
      while (!existsSync(this.#gateFile)) {
        if (ctx.signal.aborted) return retryLater('GatedMonitor: the call was aborted while waiting for the gate');
        await sleep(20);
      }
    }
    return this.#inner.checkWorkers(ctx, workSpecs);
  }
}
