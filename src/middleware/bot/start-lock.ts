// The lock `harvester bot connect` holds while it starts a bot, so that several of them finding no bot at
// the same moment (the herder opening several links at once) start one. A lock file made with O_EXCL holds
// its owner's pid; a lock whose owner died is taken over. Two waiters taking over the same dead lock at once
// could both go on; the pid file (claimed with O_EXCL by the bot itself) still lets only one bot run, and
// the loser connects to the winner's socket.
import { closeSync, openSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { MiddlewareError } from '../errors.js';
import { isProcessAlive, readPid } from './pid-file.js';

export class BotStartLockError extends MiddlewareError {}

/** A lock file without a pid this long after it was made belongs to a process killed while writing it. */
const EMPTY_LOCK_GRACE_MS = 5_000;

export interface StartLockOptions {
  /** How long to wait for another holder before giving up. */
  readonly timeoutMs: number;
  readonly pollMs?: number;
}

/** Takes the lock, waiting while a live process holds it; resolves with the function that releases it. */
export async function acquireStartLock(file: string, options: StartLockOptions): Promise<() => void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      return () => {
        if (readPid(file) === process.pid) unlinkSync(file);
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new BotStartLockError(`cannot create the bot start lock ${file}: ${(error as Error).message}`, { step: 'launch-bot' }, { cause: error });
      }
    }
    const holder = readPid(file);
    if (holder === undefined ? lockAge(file) > EMPTY_LOCK_GRACE_MS : !isProcessAlive(holder)) {
      removeIfPresent(file);
      continue;
    }
    if (Date.now() > deadline) {
      throw new BotStartLockError(
        `another 'harvester bot connect'${holder === undefined ? '' : ` (pid ${holder})`} has been starting the bot for more than ${Math.round(options.timeoutMs / 1000)} s (lock file ${file})`,
        { step: 'launch-bot' },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 50));
  }
}

function lockAge(file: string): number {
  try {
    return Date.now() - statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function removeIfPresent(file: string): void {
  try {
    unlinkSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
