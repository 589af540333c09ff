// Starting a payload as a detached process (its own session and process group, so it outlives us and can be
// killed as a group) through a small /bin/sh wrapper. Everything variable reaches the wrapper through the
// environment, never through string concatenation, so no quoting can break it. The wrapper:
// 1. claims the access point by linking payload.pid into place (link(2) fails if it exists): of two wrappers
//    started for the same worker (a retry after a crash), exactly one runs the payload, the other exits 97;
// 2. appends "<workerID> <pid>" to the submitted log: one line per payload actually started;
// 3. runs the command with the configured shell, catching TERM/INT/HUP only to wait for the payload
//    (which gets the default handling back at exec), and writes payload.exit_code via a rename.
import { spawn, type ChildProcess } from 'node:child_process';
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { PluginError } from '../errors.js';
import type { ProcessIdentity } from './local-process-identity.js';
import { lastLineOf, localProcessPath, readPidFile } from './local-process-files.js';
import { errorText } from './worker-fields.js';

const wrapperScript = `
ticks=-
boot=-
if [ -r "/proc/$$/stat" ]; then
  read -r stat < "/proc/$$/stat"
  set -- \${stat##*") "}
  ticks=\${20:--}
fi
if [ -r /proc/sys/kernel/random/boot_id ]; then
  read -r boot < /proc/sys/kernel/random/boot_id
fi
claim="$HARVESTER_LP_PID_FILE.$$"
printf '%s %s %s\\n' "$$" "$ticks" "$boot" > "$claim" || exit 96
if ! ln "$claim" "$HARVESTER_LP_PID_FILE" 2>/dev/null; then
  rm -f "$claim"
  exit 97
fi
rm -f "$claim"
printf '%s %s\\n' "$HARVESTER_WORKER_ID" "$$" >> "$HARVESTER_LP_SUBMITTED_LOG"
command=$HARVESTER_LP_COMMAND
shell=$HARVESTER_LP_SHELL
exitfile=$HARVESTER_LP_EXIT_FILE
unset HARVESTER_LP_COMMAND HARVESTER_LP_SHELL HARVESTER_LP_PID_FILE HARVESTER_LP_EXIT_FILE HARVESTER_LP_SUBMITTED_LOG
trap 'signalled=1' TERM INT HUP
"$shell" -c "$command"
code=$?
printf '%s\\n' "$code" > "$exitfile.$$" && mv -f "$exitfile.$$" "$exitfile"
exit "$code"
`;

/** The wrapper's exit status when another wrapper had already claimed the access point. */
export const claimLostExitCode = 97;

export interface LaunchRequest {
  readonly workerID: number;
  readonly accessPoint: string;
  readonly command: string;
  /** The shell that runs the command (`<shell> -c <command>`). */
  readonly shell: string;
  readonly submittedLog: string;
  /** The payload's environment (without the wrapper's own variables). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** How long to wait for a wrapper to claim the access point. */
  readonly startTimeoutMs: number;
}

export interface LaunchResult {
  /** The process that runs the payload: the leader of its process group. */
  readonly identity: ProcessIdentity;
  /** False when a wrapper started earlier (before a crash) had claimed the access point: nothing new runs. */
  readonly startedNow: boolean;
}

/** The payload could not be started; names the worker, its access point and the step. */
export class LocalProcessLaunchError extends PluginError {
  constructor(
    readonly workerID: number,
    readonly accessPoint: string,
    readonly step: string,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(`worker ${workerID} (access point ${accessPoint}), ${step}: ${detail}`, options);
  }
}

function started(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', reject);
  });
}

/** Starts the wrapper and waits until some wrapper has claimed the access point. */
export async function launchPayload(request: LaunchRequest): Promise<LaunchResult> {
  const { workerID, accessPoint } = request;
  const fail = (step: string, detail: string, cause?: unknown): LocalProcessLaunchError =>
    new LocalProcessLaunchError(workerID, accessPoint, step, detail, cause === undefined ? undefined : { cause });
  const stdoutPath = localProcessPath(accessPoint, 'stdout');
  const stderrPath = localProcessPath(accessPoint, 'stderr');
  // Appending: a wrapper that loses the claim must not truncate the output of the one that won.
  let stdout;
  let stderr;
  try {
    stdout = await open(stdoutPath, 'a');
    stderr = await open(stderrPath, 'a');
  } catch (error) {
    await stdout?.close();
    throw fail('opening the payload output files', errorText(error), error);
  }
  let child: ChildProcess;
  try {
    child = spawn('/bin/sh', ['-c', wrapperScript], {
      cwd: accessPoint,
      detached: true,
      stdio: ['ignore', stdout.fd, stderr.fd],
      env: {
        ...request.env,
        HARVESTER_WORKER_ID: String(workerID),
        HARVESTER_LP_COMMAND: request.command,
        HARVESTER_LP_SHELL: request.shell,
        HARVESTER_LP_PID_FILE: localProcessPath(accessPoint, 'pidFile'),
        HARVESTER_LP_EXIT_FILE: localProcessPath(accessPoint, 'exitCode'),
        HARVESTER_LP_SUBMITTED_LOG: request.submittedLog,
      },
    });
    await started(child);
  } catch (error) {
    throw fail('spawning the payload wrapper', errorText(error), error);
  } finally {
    await stdout.close();
    await stderr.close();
  }
  child.unref();

  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
    exit = { code, signal };
  };
  child.once('exit', onExit);
  try {
    const deadline = Date.now() + request.startTimeoutMs;
    for (let pause = 2; ; pause = Math.min(pause * 2, 50)) {
      // Read the exit state first: a claim written before the wrapper exited is then always seen below.
      const exitedBefore = exit;
      const claim = await readPidFile(accessPoint, workerID);
      if (claim !== undefined) {
        const { pid, startTicks, bootId } = claim;
        return { identity: { pid, startTicks, bootId }, startedNow: pid === child.pid };
      }
      if (exitedBefore !== undefined) {
        const how = exitedBefore.signal !== null ? `signal ${exitedBefore.signal}` : `exit code ${String(exitedBefore.code)}`;
        const last = await lastLineOf(stderrPath);
        throw fail('starting the payload', `the wrapper ended (${how}) before claiming the access point${last === '' ? '' : `: ${last}`}`);
      }
      if (Date.now() > deadline) {
        throw fail('starting the payload', `no wrapper claimed the access point within ${request.startTimeoutMs} ms (pid ${String(child.pid)} still starting)`);
      }
      await sleep(pause);
    }
  } finally {
    child.off('exit', onExit);
  }
}
