// The bot secret: 32 random bytes (64 hex digits) in a file only its user can read. The herder proves it
// knows it (it can log in as that user and read it) before the bot accepts any call. The secret's value
// never appears in an error or a log line. Synchronous: it is read once at bot start.
import { randomBytes } from 'node:crypto';
import { closeSync, lstatSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { MiddlewareError } from '../errors.js';

export class BotSecretError extends MiddlewareError {
  static override readonly wireType: string = 'BotSecretError';
}

const secretPattern = /^[0-9a-f]{64}$/;

function currentUid(): number | undefined {
  return typeof process.getuid === 'function' ? process.getuid() : undefined;
}

function fail(file: string, problem: string, cause?: unknown): BotSecretError {
  return new BotSecretError(`bot secret file ${file} ${problem}`, { step: 'secret' }, cause === undefined ? undefined : { cause });
}

/** Reads the secret, refusing a file another user could read or replace. */
export function readBotSecret(file: string): string {
  let info;
  try {
    info = lstatSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw fail(file, code === 'ENOENT' ? 'does not exist' : `cannot be read: ${(error as Error).message}`, error);
  }
  if (info.isSymbolicLink()) throw fail(file, 'is a symbolic link; use the file itself');
  if (!info.isFile()) throw fail(file, 'is not a regular file');
  const uid = currentUid();
  if (uid !== undefined && info.uid !== uid) throw fail(file, `belongs to uid ${info.uid}, not to this user (uid ${uid})`);
  if ((info.mode & 0o077) !== 0) {
    const mode = (info.mode & 0o777).toString(8).padStart(3, '0');
    throw fail(file, `is accessible by group or others (mode ${mode}); run: chmod 600 ${file}`);
  }
  const secret = readFileSync(file, 'utf8').trim();
  if (!secretPattern.test(secret)) throw fail(file, 'does not hold a secret of 64 hex digits');
  return secret;
}

/** Reads the secret, creating it first (file 0600, directory 0700) when there is none. */
export function ensureBotSecret(file: string): string {
  const directory = dirname(file);
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  const dirInfo = statSync(directory);
  const uid = currentUid();
  if (uid !== undefined && dirInfo.uid !== uid) {
    throw fail(file, `is in directory ${directory}, which belongs to uid ${dirInfo.uid}, not to this user (uid ${uid})`);
  }
  if ((dirInfo.mode & 0o022) !== 0) {
    throw fail(file, `is in directory ${directory}, which others can write to; run: chmod go-w ${directory}`);
  }
  let fd: number | undefined;
  try {
    // 'wx' fails when the file exists, so two bots starting together cannot overwrite each other's secret.
    fd = openSync(file, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw fail(file, `cannot be created: ${(error as Error).message}`, error);
  }
  if (fd !== undefined) {
    try {
      writeSync(fd, `${randomBytes(32).toString('hex')}\n`);
    } finally {
      closeSync(fd);
    }
  }
  return readBotSecret(file);
}
