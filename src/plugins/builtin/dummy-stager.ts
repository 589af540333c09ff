// harvester's DummyStager: stage-out that moves nothing. checkStageOutStatus marks every output file not yet
// done as finished; triggerStageOut has nothing to start; zipOutput does what harvester's simple_zip_output
// does: for each output (zip) file, a plain tar of its associated files, then path, fsize and chksum set.
import { stat } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { existsSync } from 'node:fs';
import type { JobSpec } from '../../spec/index.js';
import type { PluginContext, Stager } from '../contracts.js';
import { adler32OfFile } from '../checksum.js';
import { OptionReader, type PluginOptions } from '../options.js';
import { failed, retryLater, succeeded, type Outcome } from '../outcome.js';
import { abortedDiag } from '../abort.js';
import { writeTar } from '../tar.js';
import { errorText } from './worker-fields.js';

const doneStatuses = new Set(['finished', 'failed']);

export class DummyStager implements Stager {
  /** harvester's zipDir: "${SRCDIR}" puts the zip next to its first associated file. */
  private readonly zipDir: string;

  constructor(options: PluginOptions = {}) {
    this.zipDir = new OptionReader('DummyStager', options).string('zipDir', '${SRCDIR}');
  }

  async triggerStageOut(ctx: PluginContext, jobSpec: JobSpec): Promise<Outcome> {
    const pending = jobSpec.outFiles.filter((f) => !doneStatuses.has(String(f.status)));
    ctx.log.debug({ PandaID: jobSpec.PandaID, nFiles: pending.length }, 'DummyStager: nothing to transfer');
    return succeeded();
  }

  async checkStageOutStatus(ctx: PluginContext, jobSpec: JobSpec): Promise<Outcome> {
    let n = 0;
    for (const fileSpec of jobSpec.outFiles) {
      if (doneStatuses.has(String(fileSpec.status))) continue;
      fileSpec.status = 'finished';
      n++;
    }
    ctx.log.debug({ PandaID: jobSpec.PandaID, nFiles: n }, 'DummyStager: output files finished');
    return succeeded();
  }

  async zipOutput(ctx: PluginContext, jobSpec: JobSpec): Promise<Outcome> {
    for (const zipSpec of jobSpec.outFiles) {
      if (ctx.signal.aborted) return retryLater(abortedDiag(ctx));
      const associated = zipSpec.associatedFiles.filter((f) => typeof f.path === 'string' && f.path !== '');
      if (associated.length === 0) continue;
      if (zipSpec.lfn === null) return failed(`PandaID=${String(jobSpec.PandaID)}: a zip file has no LFN`);
      const directory = this.zipDir === '${SRCDIR}' ? dirname(associated[0]!.path!) : this.zipDir;
      const zipPath = join(directory, zipSpec.lfn);
      const present = associated.filter((f) => existsSync(f.path!));
      try {
        await writeTar(
          zipPath,
          present.map((f) => ({ path: f.path!, name: basename(f.path!) })),
        );
        zipSpec.path = zipPath;
        zipSpec.fsize = (await stat(zipPath)).size;
        zipSpec.chksum = await adler32OfFile(zipPath);
      } catch (error) {
        return retryLater(`PandaID=${String(jobSpec.PandaID)}: cannot make ${zipPath}: ${errorText(error)}`);
      }
      ctx.log.debug({ PandaID: jobSpec.PandaID, zipPath, nFiles: present.length }, 'zipped');
    }
    return succeeded();
  }
}
