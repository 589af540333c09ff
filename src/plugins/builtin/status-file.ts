// The dummy batch system's state: one status.txt per worker access point holding the worker's status, as
// harvester's dummy submitter writes it and its dummy monitor reads it. Written via a temporary file and a
// rename, so a monitor never reads a half-written status.
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const statusFileName = 'status.txt';
/** Our addition: one "<workerID> <batchID>" line per submission, to prove no worker was submitted twice. */
export const submittedLogName = 'submitted.log';

export function statusFilePath(accessPoint: string): string {
  return join(accessPoint, statusFileName);
}

export async function writeStatusFile(accessPoint: string, status: string): Promise<void> {
  const target = statusFilePath(accessPoint);
  const temporary = `${target}.${process.pid}.tmp`;
  await writeFile(temporary, status);
  await rename(temporary, target);
}
