// On-demand launch (the wiki says it "should be possible"): when nothing answers on the bot's port and the
// "rpc" element says "launchBot": true, start the bot over an SSH exec channel, after the optional
// "remoteSetup" command. Launches are serialized per route: several links finding the port closed at once
// start one bot.
import { posix } from 'node:path';
import type { MiddlewareConfig } from '../../config/index.js';
import type { Logger } from '../../logging/index.js';
import { shellWord } from '../../plugins/shell-quote.js';
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
    const start = [
      this.mw.remoteCommand,
      '--home',
      shellWord(this.mw.botHome),
      'bot',
      'start',
      '--port',
      String(this.mw.remoteBindPort),
      '--pid',
      shellWord(posix.join(this.mw.botHome, 'bot.pid')),
      '--if-not-running',
    ].join(' ');
    return this.mw.remoteSetup ? `${this.mw.remoteSetup} && ${start}` : start;
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
