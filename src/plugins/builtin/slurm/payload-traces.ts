// What a worker's payload left in its access point about how it ended: payload.exit_code (written by
// harvester_payload.sh), else harvester's postmortem file FINISHED ({"worker_status": "finished"|"failed"},
// which harvester's SlurmSqueueMonitor reads). The monitor uses it for a COMPLETED job whose payload failed,
// and for jobs SLURM has forgotten.
import { join } from 'node:path';
import type { WorkSpec } from '../../../spec/index.js';
import { isPlainObject, readJsonFile } from '../json-files.js';
import { localProcessPath, readExitCode, LocalProcessStateError } from '../local-process-files.js';
import { accessPointOf } from '../worker-fields.js';

export const postmortemFileName = 'FINISHED';

export type PayloadTrace =
  | { readonly kind: 'exit-code'; readonly code: number; readonly at: Date; readonly file: string }
  | { readonly kind: 'postmortem'; readonly status: 'finished' | 'failed'; readonly file: string }
  | { readonly kind: 'none' }
  /** A file is there but cannot be read or makes no sense: said in the diag, never a verdict. */
  | { readonly kind: 'unreadable'; readonly detail: string };

export async function payloadTraceOf(workSpec: WorkSpec): Promise<PayloadTrace> {
  const accessPoint = accessPointOf(workSpec);
  if (accessPoint === undefined) return { kind: 'none' };
  try {
    const ended = await readExitCode(accessPoint, workSpec.workerID);
    if (ended !== undefined) return { kind: 'exit-code', code: ended.code, at: ended.at, file: localProcessPath(accessPoint, 'exitCode') };
  } catch (error) {
    if (error instanceof LocalProcessStateError) return { kind: 'unreadable', detail: error.message };
    return { kind: 'unreadable', detail: `cannot read the exit code file in ${accessPoint}: ${String(error)}` };
  }
  const file = join(accessPoint, postmortemFileName);
  const read = await readJsonFile(file);
  if (!read.found) return { kind: 'none' };
  if ('error' in read) return { kind: 'unreadable', detail: `${file}: ${read.error}` };
  const status = isPlainObject(read.value) ? read.value['worker_status'] : undefined;
  if (status === 'finished' || status === 'failed') return { kind: 'postmortem', status, file };
  return { kind: 'unreadable', detail: `${file} holds no worker_status "finished" or "failed"` };
}
