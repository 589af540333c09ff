// Pid files of our daemons: the bot's (<home>/bot.pid, or harvester's /var/tmp/harvester_rpc.pid) and
// `harvester run`'s. A stale file — its process gone — never blocks a restart; a live one does, with a message
// naming the pid and the file. A pid file is only a claim: on a shared login node it may name a process of
// someone else (a file another user wrote, or a pid reused since), so the bot never signals a pid before
// /proc says it is a bot of this user.
import { closeSync, lstatSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
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
  /**
   * Whether a live pid found in the file is really such a daemon; one that is not (a pid reused since the
   * daemon died) counts as stale. Without it every live pid counts.
   */
  readonly isOurs?: (pid: number) => boolean;
}

function currentUid(): number | undefined {
  return typeof process.getuid === 'function' ? process.getuid() : undefined;
}

/** Why the pid file may not be trusted (a symbolic link, another user's file), or undefined when it may (or is absent). */
export function pidFileProblem(file: string): string | undefined {
  let info;
  try {
    info = lstatSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return `cannot inspect it: ${(error as Error).message}`;
  }
  if (info.isSymbolicLink()) return 'it is a symbolic link';
  if (!info.isFile()) return 'it is not a regular file';
  const uid = currentUid();
  if (uid !== undefined && info.uid !== uid) return `it belongs to uid ${info.uid}, not to this user (uid ${uid})`;
  return undefined;
}

export type BotProcessVerdict = { readonly ours: true } | { readonly ours: false; readonly reason: string };

/**
 * Whether `pid` is a bot of this user: its real and effective uid are ours and its command line runs
 * `bot start` (how the daemon and a foreground bot are started). Read from /proc; where it cannot be read,
 * the answer is no, with the reason.
 */
export function isOurBot(pid: number): BotProcessVerdict {
  let status: string;
  let cmdline: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { ours: false, reason: code === 'ENOENT' || code === 'ESRCH' ? 'the process is gone' : `cannot read /proc/${pid}: ${(error as Error).message}` };
  }
  const uid = currentUid();
  const uids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
  if (uids === null) return { ours: false, reason: `/proc/${pid}/status shows no uid` };
  if (uid !== undefined && (Number(uids[1]) !== uid || Number(uids[2]) !== uid)) {
    return { ours: false, reason: `it runs as uid ${uids[1]}, not as this user (uid ${uid})` };
  }
  const argv = cmdline.split('\0').filter((arg) => arg !== '');
  const isBot = argv.some((arg, i) => arg === 'bot' && argv[i + 1] === 'start');
  if (!isBot) {
    const shown = argv.join(' ');
    return { ours: false, reason: `it is not a harvester bot (it runs: ${shown.length > 120 ? `${shown.slice(0, 117)}...` : shown || '?'})` };
  }
  return { ours: true };
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

/**
 * Claims the pid file for this process. Returns whether a stale file was replaced, and the live pid it named
 * when that pid was not ours (see PidFileOwner.isOurs).
 */
export function acquirePidFile(file: string, owner: PidFileOwner, pid = process.pid): { replacedStale: boolean; notOurs?: number } {
  let replacedStale = false;
  let notOurs: number | undefined;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o644);
      writeSync(fd, `${pid}\n`);
      closeSync(fd);
      return { replacedStale, ...(notOurs === undefined ? {} : { notOurs }) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const problem = pidFileProblem(file);
      if (problem !== undefined) throw new MiddlewareError(`refusing the pid file ${file}: ${problem}`, {});
      const other = readPid(file);
      if (other !== undefined && other !== pid && isProcessAlive(other)) {
        if (owner.isOurs === undefined || owner.isOurs(other)) throw new AlreadyRunningError(owner.what, other, file, owner.stopCommand);
        notOurs = other;
      }
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
