// How the herder reaches the bot over an established link, by the rpc element's "transport":
//   unix  — a stream-local channel to the bot's socket <botHome>/bot.sock (in the bot's 0700 home: no other
//           local user can connect, and no port can be squatted);
//   tcp   — a direct-tcpip channel to 127.0.0.1:remoteBindPort (the wiki's way; needs AllowTcpForwarding);
//   stdio — `harvester bot connect` in an exec session, relaying its stdin/stdout to the bot's socket (and
//           starting the bot when none runs): for sites where sshd forwards nothing;
//   auto  — unix, and tcp when sshd prohibits stream-local forwarding (remembered for the route) or when no
//           socket answers but the port does (a bot started before it had a socket).
// One module for both callers: the tunnel pool's sessions (BotClient) and tunnel-test (route-check), which
// reports which transport it used and why.
import { posix } from 'node:path';
import type { Duplex } from 'node:stream';
import type { MiddlewareConfig } from '../../config/index.js';
import type { Logger } from '../../logging/index.js';
import { quotedDetail, UnixForwardError } from '../ssh/index.js';
import { BotUnavailableError } from '../errors.js';
import { botSocketPath } from '../bot/paths.js';
import { remoteBotCommand, type BotLauncher } from './bot-launcher.js';
import type { BotLink } from './bot-link.js';

export type TransportUsed =
  | { readonly kind: 'unix'; readonly path: string; readonly why: string }
  | { readonly kind: 'tcp'; readonly port: number; readonly why: string }
  | { readonly kind: 'stdio'; readonly command: string; readonly why: string };

export interface OpenedBotStream {
  readonly stream: Duplex;
  readonly used: TransportUsed;
}

/** The command the stdio transport runs on the remote host, after remoteSetup. */
export function relayCommand(mw: MiddlewareConfig): string {
  return remoteBotCommand(mw, 'connect');
}

export class BotStreamOpener {
  /** Why stream-local forwarding is off on this route (auto then uses TCP without asking again). */
  #unixProhibited: string | undefined;

  constructor(
    private readonly mw: MiddlewareConfig,
    private readonly log: Logger,
    private readonly launcher?: BotLauncher,
  ) {}

  async open(link: BotLink): Promise<OpenedBotStream> {
    switch (this.mw.transport) {
      case 'stdio':
        return this.#stdio(link);
      case 'tcp':
        return this.#withLaunch(link, () => this.#tcp(link, 'transport "tcp"'));
      case 'unix':
        return this.#withLaunch(link, () => this.#unix(link, 'transport "unix"'));
      case 'auto':
        return this.#withLaunch(link, () => this.#auto(link));
    }
  }

  async #auto(link: BotLink): Promise<OpenedBotStream> {
    if (this.#unixProhibited !== undefined) return this.#tcp(link, `stream-local forwarding is prohibited there (${this.#unixProhibited})`);
    try {
      return await this.#unix(link, 'stream-local forwarding to the bot\'s socket');
    } catch (error) {
      if (error instanceof UnixForwardError && error.prohibited) {
        this.#unixProhibited = error.message;
        this.log.warn({ host: this.mw.remoteHost, user: this.mw.sshUserName, err: error.message }, 'sshd refuses stream-local forwarding: reaching the bot by its TCP port from now on');
        return this.#tcp(link, `stream-local forwarding is prohibited there (${error.message})`);
      }
      // No socket: no bot, or a bot started before it had one; its port may answer.
      try {
        return await this.#tcp(link, `no bot socket answered (${quotedDetail(error)}); the TCP port did`);
      } catch (tcpError) {
        throw new BotUnavailableError(
          `no bot answers on ${this.mw.remoteHost}: not on its socket (${quotedDetail(error)}), not on 127.0.0.1:${this.mw.remoteBindPort} (${quotedDetail(tcpError)})`,
          { host: this.mw.remoteHost, user: this.mw.sshUserName, step: 'bot-stream' },
          { cause: tcpError },
        );
      }
    }
  }

  async #unix(link: BotLink, why: string): Promise<OpenedBotStream> {
    const home = this.mw.botHome.startsWith('/') ? this.mw.botHome : posix.join(await link.homeDirectory(), this.mw.botHome);
    const path = botSocketPath(home);
    try {
      return { stream: await link.forwardUnix(path), used: { kind: 'unix', path, why } };
    } catch (error) {
      // OpenSSH answers "open failed" both when the socket is missing and when AllowStreamLocalForwarding is no:
      // a socket that is there tells the second case.
      if (error instanceof UnixForwardError && !error.prohibited && (await link.isSocket(path).catch(() => false))) {
        throw new UnixForwardError(error, path, 'open failed, yet the socket is there: sshd prohibits stream-local forwarding (or the socket is a dead bot\'s)', true, { cause: error });
      }
      throw error;
    }
  }

  async #tcp(link: BotLink, why: string): Promise<OpenedBotStream> {
    return { stream: await link.forward(this.mw.remoteBindPort), used: { kind: 'tcp', port: this.mw.remoteBindPort, why } };
  }

  async #stdio(link: BotLink): Promise<OpenedBotStream> {
    const command = relayCommand(this.mw);
    return { stream: await link.openStdio(command), used: { kind: 'stdio', command, why: 'transport "stdio": no forwarding needed' } };
  }

  /** With launchBot, starts the bot when nothing answered, then tries once more. */
  async #withLaunch(link: BotLink, attempt: () => Promise<OpenedBotStream>): Promise<OpenedBotStream> {
    try {
      return await attempt();
    } catch (error) {
      if (error instanceof UnixForwardError && error.prohibited) throw error;
      if (this.launcher === undefined) {
        throw new BotUnavailableError(
          `nothing answers for the bot on ${this.mw.remoteHost} (${quotedDetail(error)}): start it there (${this.mw.remoteCommand} --home ${this.mw.botHome} bot start --port ${this.mw.remoteBindPort}) or set "launchBot": true`,
          { host: this.mw.remoteHost, user: this.mw.sshUserName, step: 'bot-stream' },
          { cause: error },
        );
      }
      await this.launcher.launch(link);
      return attempt();
    }
  }
}
