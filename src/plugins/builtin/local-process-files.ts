// The on-disk state of a local-process worker, all in its access point:
// - local_process_submission.json: written by the submitter BEFORE it spawns (which worker, when);
// - payload.pid: "<pid> <startTicks> <bootId>", created by the payload's wrapper itself with an atomic
//   link(2), so exactly one wrapper ever claims an access point (the guard against a second submission);
// - payload.stdout / payload.stderr: the payload's output;
// - payload.exit_code: the payload's exit status, written (via a rename) when it ends.
import { randomUUID } from 'node:crypto';
import { open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PluginError } from '../errors.js';
import type { ProcessIdentity } from './local-process-identity.js';
import { readJsonFile, isPlainObject } from './json-files.js';
import { isNotFound } from './worker-fields.js';

export const localProcessFileNames = {
  submissionRecord: 'local_process_submission.json',
  pidFile: 'payload.pid',
  stdout: 'payload.stdout',
  stderr: 'payload.stderr',
  exitCode: 'payload.exit_code',
  /** Default place of the "<workerID> <batchID>" line per payload start (the dummy submitter's convention). */
  submittedLog: 'submitted.log',
} as const;

export type LocalProcessFile = keyof typeof localProcessFileNames;

export function localProcessPath(accessPoint: string, file: LocalProcessFile): string {
  return join(accessPoint, localProcessFileNames[file]);
}

/** A local-process worker's files are not what they should be; names the worker, its access point and the step. */
export class LocalProcessStateError extends PluginError {
  constructor(
    readonly workerID: number | null,
    readonly accessPoint: string,
    readonly step: string,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(`worker ${String(workerID)} (access point ${accessPoint}), ${step}: ${detail}`, options);
  }
}

/** What the submitter records before spawning. */
export interface SubmissionRecord {
  readonly workerID: number;
  readonly queueName: string;
  readonly host: string;
  /** ISO time of the latest spawn attempt. */
  readonly attemptedAt: string;
  /** How many spawns were attempted (more than one only after a crash or a failed start). */
  readonly attempts: number;
}

export async function readSubmissionRecord(accessPoint: string, workerID: number | null): Promise<SubmissionRecord | undefined> {
  const path = localProcessPath(accessPoint, 'submissionRecord');
  const read = await readJsonFile(path);
  if (!read.found) return undefined;
  if ('error' in read) throw new LocalProcessStateError(workerID, accessPoint, 'reading the submission record', `${path}: ${read.error}`);
  const value = read.value;
  if (
    !isPlainObject(value) ||
    typeof value['workerID'] !== 'number' ||
    typeof value['attemptedAt'] !== 'string' ||
    typeof value['attempts'] !== 'number'
  ) {
    throw new LocalProcessStateError(workerID, accessPoint, 'reading the submission record', `${path} is not a submission record`);
  }
  return {
    workerID: value['workerID'],
    queueName: typeof value['queueName'] === 'string' ? value['queueName'] : '',
    host: typeof value['host'] === 'string' ? value['host'] : '',
    attemptedAt: value['attemptedAt'],
    attempts: value['attempts'],
  };
}

/** Written via a temporary file of its own (two racing submitters must not share one) and a rename. */
export async function writeSubmissionRecord(accessPoint: string, record: SubmissionRecord): Promise<void> {
  const path = localProcessPath(accessPoint, 'submissionRecord');
  const temporary = `${path}.${randomUUID()}.tmp`;
  await writeFile(temporary, JSON.stringify(record));
  await rename(temporary, path);
}

/** The wrapper's claim: who runs the payload. Undefined when no wrapper has claimed the access point yet. */
export async function readPidFile(accessPoint: string, workerID: number | null): Promise<(ProcessIdentity & { readonly since: Date }) | undefined> {
  const path = localProcessPath(accessPoint, 'pidFile');
  let text: string;
  let since: Date;
  try {
    text = await readFile(path, 'utf8');
    since = (await stat(path)).mtime;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw new LocalProcessStateError(workerID, accessPoint, 'reading the payload pid file', String(error), { cause: error });
  }
  const [pid, ticks, boot] = text.trim().split(/\s+/);
  if (pid === undefined || !/^\d+$/.test(pid) || Number(pid) <= 1) {
    throw new LocalProcessStateError(workerID, accessPoint, 'reading the payload pid file', `${path} holds no pid: '${text.slice(0, 80)}'`);
  }
  const known = (v: string | undefined): string | undefined => (v === undefined || v === '' || v === '-' ? undefined : v);
  return { pid: Number(pid), startTicks: known(ticks), bootId: known(boot), since };
}

/** The payload's exit status and when it was written, or undefined while the payload has not ended. */
export async function readExitCode(accessPoint: string, workerID: number | null): Promise<{ readonly code: number; readonly at: Date } | undefined> {
  const path = localProcessPath(accessPoint, 'exitCode');
  let text: string;
  let at: Date;
  try {
    text = await readFile(path, 'utf8');
    at = (await stat(path)).mtime;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw new LocalProcessStateError(workerID, accessPoint, 'reading the payload exit code', String(error), { cause: error });
  }
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed)) {
    throw new LocalProcessStateError(workerID, accessPoint, 'reading the payload exit code', `${path} holds '${trimmed.slice(0, 40)}', not an exit code`);
  }
  return { code: Number(trimmed), at };
}

/** The last non-empty line of a file (read from its last 4 KiB), '' when there is none or no file. */
export async function lastLineOf(path: string): Promise<string> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if (isNotFound(error)) return '';
    throw error;
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, 4096);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    const lines = buffer.toString('utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '');
    return lines.at(-1) ?? '';
  } finally {
    await handle.close();
  }
}
