// Pid files of our daemons: the bot's (harvester's /var/tmp/harvester_rpc.pid) and `harvester run`'s. A stale
// file — its process gone — never blocks a restart; a live one does, with a message naming the pid and the file.
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { MiddlewareError } from '../errors.js';

export class AlreadyRunningError extends MiddlewareError {
  override readonly name = 'AlreadyRunningError';
  constructor(
    /** "a bot", "harvester". */
    readonly what: string,
    readonly pid: number,
    readonly pidFile: string,
    /** The command that stops it, for the message. */
    readonly stopCommand: string,
  ) {
    super(`${what} is already running with pid ${pid} (pid file ${pidFile}); stop it first with '${stopCommand}'`, {});
  }
}

/** Who claims a pid file, for the error when another one holds it. */
export interface PidFileOwner {
  readonly what: string;
  readonly stopCommand: string;
}

export function readPid(file: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists but belongs to someone else — alive all the same.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !hasExited(pid);
}

/**
 * Whether a process that answered kill(0) has in fact exited: a zombie (no port, no pid file) answers kill(0)
 * until its parent reaps it, and a daemonized bot's parent is init, which may take seconds in some containers.
 * Without /proc we cannot tell, and say it has not.
 */
function hasExited(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // ENOENT/ESRCH: reaped between kill(0) and the read, i.e. gone.
    if (code === 'ENOENT' || code === 'ESRCH') return true;
    return false;
  }
  // "pid (comm) state ...": comm may contain spaces and parentheses, so the state follows the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
}

/** The pid of a live bot recorded in `file`, or undefined (no file, unreadable pid, or a stale one). */
export function livePid(file: string): number | undefined {
  const pid = readPid(file);
  return pid !== undefined && isProcessAlive(pid) ? pid : undefined;
}

/** Claims the pid file for this process. Returns whether a stale file was replaced. */
export function acquirePidFile(file: string, owner: PidFileOwner, pid = process.pid): { replacedStale: boolean } {
  let replacedStale = false;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o644);
      writeSync(fd, `${pid}\n`);
      closeSync(fd);
      return { replacedStale };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const other = readPid(file);
      if (other !== undefined && other !== pid && isProcessAlive(other)) throw new AlreadyRunningError(owner.what, other, file, owner.stopCommand);
      unlinkSync(file);
      replacedStale = true;
    }
  }
  throw new MiddlewareError(`could not claim the pid file ${file}: another process is starting at the same time`, {});
}

/** Removes the pid file if it still names `pid`. */
export function releasePidFile(file: string, pid = process.pid): void {
  if (readPid(file) === pid) unlinkSync(file);
}
