// harvester's DummyPreparator: stage-in that is always done at once; input paths become
// "<localBasePath>/<lfn>" (harvester's dummy uses "dummypath/<lfn>", our default too).
import { posix } from 'node:path';
import type { JobSpec } from '../../spec/index.js';
import type { PluginContext, Preparator } from '../contracts.js';
import { OptionReader, type PluginOptions } from '../options.js';
import { failed, succeeded, type Outcome } from '../outcome.js';

export class DummyPreparator implements Preparator {
  private readonly localBasePath: string;

  constructor(options: PluginOptions = {}) {
    this.localBasePath = new OptionReader('DummyPreparator', options).string('localBasePath', 'dummypath');
  }

  async triggerPreparation(ctx: PluginContext, jobSpec: JobSpec): Promise<Outcome> {
    ctx.log.debug({ PandaID: jobSpec.PandaID, nFiles: jobSpec.inFiles.length }, 'DummyPreparator: nothing to transfer');
    return succeeded();
  }

  async checkStageInStatus(_ctx: PluginContext, _jobSpec: JobSpec): Promise<Outcome> {
    return succeeded();
  }

  async resolveInputPaths(_ctx: PluginContext, jobSpec: JobSpec): Promise<Outcome> {
    for (const fileSpec of jobSpec.inFiles) {
      if (fileSpec.lfn === null) return failed(`PandaID=${String(jobSpec.PandaID)}: an input file has no LFN`);
      fileSpec.path = posix.join(this.localBasePath, fileSpec.lfn);
    }
    return succeeded();
  }
}
