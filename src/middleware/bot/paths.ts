// Where the bot keeps its files in its home. A module of its own, free of heavy imports, so the herder can
// name the same paths on the remote host (posix joins: the herder computes them for a Linux login node).
import { posix } from 'node:path';

/** The bot's unix socket: the herder reaches it by stream-local forwarding or through `harvester bot connect`. */
export function botSocketPath(home: string): string {
  return posix.join(home, 'bot.sock');
}

/** The default pid file of `harvester bot start|stop|status|connect`. */
export function botPidPath(home: string): string {
  return posix.join(home, 'bot.pid');
}

/** Held while `bot connect` starts a bot, so several of them starting at once make one bot. */
export function botStartLockPath(home: string): string {
  return posix.join(home, 'bot-start.lock');
}

export function botSecretPath(home: string): string {
  return posix.join(home, 'bot.secret');
}

export function botJournalPath(home: string): string {
  return posix.join(home, 'bot-journal.jsonl');
}
