// How a worker's payload runs inside a batch job (push model): the submitter writes harvester_payload.sh in
// the worker's access point; the batch script runs it. It goes to the access point, runs the worker's
// command (as the local-process submitter would: jobParams.command, else transformation + jobPars, else the
// section's "command", e.g. a pilot reading pandaJobData.out), writes the command's exit status to
// payload.exit_code (the local-process convention, via a rename) and exits with it. The monitor reads that
// file to tell a payload that failed inside a COMPLETED job, and to decide on jobs SLURM has forgotten.
import { randomUUID } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { shellQuote } from '../shell-quote.js';
import { localProcessFileNames } from './local-process-files.js';

export const payloadScriptName = 'harvester_payload.sh';

export function payloadScriptPath(accessPoint: string): string {
  return join(accessPoint, payloadScriptName);
}

export interface PayloadScriptRequest {
  readonly accessPoint: string;
  readonly workerID: number;
  readonly queueName: string;
  readonly pandaID: number | null | undefined;
  readonly command: string;
  /** Runs the command (`<shell> -c <command>`). */
  readonly shell: string;
}

/** Text for a comment line: a line break in it would start a command. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}

export function payloadScriptText(request: PayloadScriptRequest): string {
  const ap = shellQuote(request.accessPoint);
  const exitFile = localProcessFileNames.exitCode;
  const env = [
    `HARVESTER_ACCESS_POINT=${ap}`,
    `HARVESTER_WORKER_ID=${request.workerID}`,
    `HARVESTER_QUEUE_NAME=${shellQuote(request.queueName)}`,
    ...(request.pandaID === null || request.pandaID === undefined ? [] : [`HARVESTER_PANDA_ID=${request.pandaID}`]),
  ];
  return [
    '#!/bin/sh',
    `# The payload of harvester worker ${request.workerID} (queue ${oneLine(request.queueName)}), written by harvester-ts.`,
    `# Its exit status goes to ${exitFile}, which harvester's monitor reads.`,
    // The path as one quoted word: inside "..." a $(...) or `...` in it would run.
    `cd ${ap} || { printf 'harvester_payload.sh: cannot enter %s\\n' ${ap} >&2; exit 1; }`,
    ...env.map((assignment) => `${assignment}; export ${assignment.split('=')[0]}`),
    // A handler (not '') so the command gets the default handling back; the shell waits for it to end.
    "trap 'signalled=1' TERM INT HUP",
    `${shellQuote(request.shell)} -c ${shellQuote(request.command)}`,
    'code=$?',
    `printf '%s\\n' "$code" > ${exitFile}.$$ && mv -f ${exitFile}.$$ ${exitFile}`,
    'exit "$code"',
    '',
  ].join('\n');
}

/** Writes an executable script through a temporary file and a rename: never half written, same name on repeat. */
export async function writeExecutable(path: string, text: string): Promise<void> {
  const temporary = `${path}.${randomUUID()}.tmp`;
  await writeFile(temporary, text, { mode: 0o755 });
  await rename(temporary, path);
}
