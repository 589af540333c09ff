// The herder's copy of the bot secret, read over SFTP from the bot's home. It is registered for masking as
// soon as it is read: a message or log line that ever quotes it (a protocol trace, an error) shows "***".
import { registerSecret } from '../../logging/index.js';

/** Anything that reads a file on the remote host as the SSH user (an SshLink, a BotLink). */
export interface RemoteFileReader {
  readFile(path: string): Promise<Buffer>;
}

/** Reads the bot secret at `path` (relative to the SSH user's home), trimmed, and registers it as a secret. */
export async function readBotSecret(link: RemoteFileReader, path: string): Promise<string> {
  const secret = (await link.readFile(path)).toString('utf8').trim();
  registerSecret(secret);
  return secret;
}
