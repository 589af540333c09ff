// The handshake on a freshly opened bot stream, for both callers (the tunnel pool's BotClient and
// tunnel-test). When whatever answers on the bot's TCP port is not a bot — garbage for a hello, or silence
// from a socket of another user — the error says so in one line, naming the port and who holds it: on a
// shared login node another user can take the port before the bot starts (the unix socket cannot be taken).
import type { MiddlewareConfig } from '../../config/index.js';
import { HandshakeTimeoutError, NotOurBotError, type MiddlewareError } from '../errors.js';
import { ClientSession } from '../protocol/index.js';
import { programVersion } from '../../version.js';
import type { BotLink } from './bot-link.js';
import type { OpenedBotStream } from './bot-stream.js';

/** Who holds a listening TCP port on the remote host (from /proc/net/tcp, readable by every user). */
export interface PortHolder {
  readonly uid: number;
  readonly userName: string | undefined;
  /** The uid is the SSH user's own. */
  readonly mine: boolean;
  /** `ss -p`'s users:(...) field, when ss shows it (it does only for the user's own processes). */
  readonly process: string | undefined;
}

export async function handshakeWithBot(
  link: BotLink,
  opened: OpenedBotStream,
  mw: MiddlewareConfig,
  readSecret: () => Promise<string>,
): Promise<ClientSession> {
  try {
    return await ClientSession.connect(opened.stream, {
      secret: readSecret,
      programVersion: programVersion(),
      context: { host: mw.remoteHost, user: mw.sshUserName },
    });
  } catch (error) {
    opened.stream.destroy();
    if (opened.used.kind === 'tcp' && (error instanceof NotOurBotError || error instanceof HandshakeTimeoutError)) {
      throw await explainPortHolder(link, mw, opened.used.port, error);
    }
    throw error;
  }
}

async function explainPortHolder(link: BotLink, mw: MiddlewareConfig, port: number, error: MiddlewareError): Promise<MiddlewareError> {
  let holder: PortHolder | undefined;
  let lookup: string;
  try {
    holder = await portHolder(link, port);
    lookup = holder === undefined ? 'nothing listens there any more' : describeHolder(holder);
  } catch (lookupError) {
    lookup = `its holder is unknown: ${lookupError instanceof Error ? lookupError.message : String(lookupError)}`;
  }
  if (error instanceof HandshakeTimeoutError && (holder === undefined || holder.mine)) {
    // Silence from one of our own processes (a hung bot is as likely as a stranger): keep the timeout error.
    return error;
  }
  return new NotOurBotError(
    `not our bot on ${mw.remoteHost}: 127.0.0.1:${port} is held by ${lookup}, and ${error.bareMessage}; ` +
      `another program took the port before the bot started: stop it, choose another remoteBindPort, or use "transport": "auto" (the bot's private unix socket)`,
    { host: mw.remoteHost, user: mw.sshUserName, step: 'handshake' },
    { cause: error },
  );
}

function describeHolder(holder: PortHolder): string {
  const who = holder.mine ? `your own user ${holder.userName ?? ''}`.trimEnd() : `user ${holder.userName ?? '?'}`;
  return `${who} (uid ${holder.uid})${holder.process === undefined ? '' : ` ${holder.process}`}`;
}

/** The holder of a listening TCP port on the link's host, undefined when none listens. */
export async function portHolder(link: BotLink, port: number): Promise<PortHolder | undefined> {
  const result = await link.exec(portHolderCommand(port));
  if (result.code === 3) return undefined;
  if (result.code !== 0) throw new Error(`the lookup command failed (exit ${String(result.code)}): ${result.stderr.trim() || result.stdout.trim()}`);
  return parsePortHolder(result.stdout);
}

/** A POSIX shell command printing "<my uid> <holder uid> <holder name>" and, if ss shows it, the process. */
export function portHolderCommand(port: number): string {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return [
    `uid=$(awk '$4 == "0A" && $2 ~ /:${hex}$/ { print $8; exit }' /proc/net/tcp /proc/net/tcp6 2>/dev/null)`,
    '[ -n "$uid" ] || exit 3',
    'name=$(getent passwd "$uid" 2>/dev/null | cut -d: -f1)',
    'printf \'%s %s %s\\n\' "$(id -u)" "$uid" "${name:-?}"',
    `if command -v ss >/dev/null 2>&1; then ss -ltnpH 'sport = :${port}' 2>/dev/null | grep -o 'users:(.*)' | head -n 1; fi`,
    'exit 0',
  ].join('; ');
}

export function parsePortHolder(stdout: string): PortHolder {
  const [first = '', second] = stdout.split('\n');
  const [me, uid, name] = first.trim().split(/\s+/);
  const holderUid = Number(uid);
  if (!Number.isInteger(holderUid)) throw new Error(`unexpected lookup output: ${JSON.stringify(first)}`);
  return {
    uid: holderUid,
    userName: name === undefined || name === '?' ? undefined : name,
    mine: Number(me) === holderUid,
    process: second === undefined || second.trim() === '' ? undefined : second.trim(),
  };
}
