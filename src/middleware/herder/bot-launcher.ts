// On-demand launch (the wiki says it "should be possible"): when nothing answers on the bot's port and the
// "rpc" element says "launchBot": true, start the bot over an SSH exec channel, after the optional
// "remoteSetup" command. Launches are serialized per route: several links finding the port closed at once
// start one bot.
import type { MiddlewareConfig } from '../../config/index.js';
import type { Logger } from '../../logging/index.js';
import { shellWord } from '../../plugins/shell-quote.js';
import { botPidPath } from '../bot/paths.js';
import { BotUnavailableError } from '../errors.js';
import type { BotLink } from './bot-link.js';

export class BotLauncher {
  private running: Promise<void> | undefined;

  constructor(
    private readonly mw: MiddlewareConfig,
    private readonly log: Logger,
  ) {}

  /** The shell command run on the remote host. `bot start` returns once the bot listens (or one already does). */
  command(): string {
    return remoteBotCommand(this.mw, 'start', ['--if-not-running']);
  }

  launch(link: BotLink): Promise<void> {
    this.running ??= this.run(link).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async run(link: BotLink): Promise<void> {
    const command = this.command();
    this.log.info({ host: this.mw.remoteHost, user: this.mw.sshUserName, command }, 'launching the bot on demand');
    const result = await link.exec(command);
    if (result.code !== 0) {
      throw new BotUnavailableError(
        `launching the bot on ${this.mw.remoteHost} as ${this.mw.sshUserName} failed (exit ${result.code}): ${lastLine(result.stderr) || lastLine(result.stdout)} — command: ${command}`,
        { host: this.mw.remoteHost, user: this.mw.sshUserName, step: 'launch-bot' },
      );
    }
  }
}

function lastLine(text: string | Buffer): string {
  return String(text).trim().split('\n').pop() ?? '';
}

/**
 * `harvester bot start|connect` as the herder runs it on the remote host: the rpc element's remoteCommand, the
 * bot's home, port and pid file (the bot's own default, botPidPath), after remoteSetup when there is one.
 */
export function remoteBotCommand(mw: MiddlewareConfig, subcommand: 'start' | 'connect', extra: readonly string[] = []): string {
  const line = [
    mw.remoteCommand,
    '--home',
    shellWord(mw.botHome),
    'bot',
    subcommand,
    '--port',
    String(mw.remoteBindPort),
    '--pid',
    shellWord(botPidPath(mw.botHome)),
    ...extra,
  ].join(' ');
  return mw.remoteSetup ? `${mw.remoteSetup} && ${line}` : line;
}
