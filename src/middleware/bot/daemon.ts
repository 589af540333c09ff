// The bot in the foreground: claims the pid file, makes sure its secret exists, opens its journal, listens
// on loopback and on its unix socket and serves plugin calls until SIGTERM/SIGINT, then lets calls in flight
// finish up to a grace deadline and exits. Daemonizing is the CLI's job (it starts this in a detached child).
import { chmodSync, mkdirSync } from 'node:fs';
import type { Logger } from '../../logging/index.js';
import type { PluginFactory } from '../../plugins/index.js';
import { programVersion } from '../../version.js';
import { BotDispatcher } from './dispatcher.js';
import { IdleCollector } from './idle-collector.js';
import { CallJournal } from './journal.js';
import { botJournalPath, botSecretPath, botSocketPath } from './paths.js';
import { acquirePidFile, isOurBot, releasePidFile } from './pid-file.js';
import { ensureBotSecret } from './secret.js';
import { RpcServer } from './server.js';

export interface BotOptions {
  readonly home: string;
  readonly port: number;
  /** The unix socket; default <home>/bot.sock (botSocketPath). */
  readonly socketPath?: string;
  readonly pidFile: string;
  readonly backlog: number;
  readonly graceMs: number;
  /** How long a connection may take to authenticate (default DEFAULT_BOT_HANDSHAKE_TIMEOUT_MS). */
  readonly handshakeTimeoutMs?: number;
  readonly pluginDirs: readonly string[];
  readonly factory: PluginFactory;
  readonly log: Logger;
  /**
   * A full garbage collection (global.gc, exposed by --expose-gc): with it the bot collects once it goes
   * quiet after calls (see idle-collector.ts). Without it, V8 alone decides when to collect.
   */
  readonly collectGarbage?: () => void;
  /** Called once the bot listens (the daemonizing parent waits for this). */
  readonly onReady?: (info: { port: number; pid: number; socketPath: string }) => void;
}

export function botPaths(home: string): { secret: string; journal: string; socket: string } {
  return { secret: botSecretPath(home), journal: botJournalPath(home), socket: botSocketPath(home) };
}

/** Creates the bot's home (0700, with its parents) unless it exists; a home we create is ours alone, whatever the umask. */
export function ensureBotHome(home: string): void {
  if (mkdirSync(home, { recursive: true, mode: 0o700 }) !== undefined) chmodSync(home, 0o700);
}

export class Bot {
  private server: RpcServer | undefined;
  private journal: CallJournal | undefined;
  private collector: IdleCollector | undefined;
  private stopping: Promise<void> | undefined;
  private stopped!: Promise<void>;
  private resolveStopped!: () => void;

  constructor(private readonly opts: BotOptions) {
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
  }

  async start(): Promise<void> {
    const { opts } = this;
    // The secret check refuses a home others can write to.
    ensureBotHome(opts.home);
    const { replacedStale, notOurs } = acquirePidFile(opts.pidFile, {
      what: 'a bot',
      stopCommand: `harvester bot stop --pid ${opts.pidFile}`,
      isOurs: (pid) => isOurBot(pid).ours,
    });
    if (notOurs !== undefined) opts.log.warn({ pidFile: opts.pidFile, pid: notOurs }, 'replaced a stale pid file (its pid now belongs to a process that is not a bot)');
    else if (replacedStale) opts.log.warn({ pidFile: opts.pidFile }, 'replaced a stale pid file (its process was gone)');
    const paths = botPaths(opts.home);
    const socketPath = opts.socketPath ?? paths.socket;
    try {
      const secret = ensureBotSecret(paths.secret);
      this.journal = CallJournal.open(paths.journal, { log: opts.log });
      const dispatcher = new BotDispatcher(opts.factory, opts.pluginDirs, opts.log, opts.home);
      const journal = this.journal;
      const collector =
        opts.collectGarbage === undefined ? undefined : new IdleCollector({ collect: opts.collectGarbage, busy: () => journal.runningCount > 0, log: opts.log });
      this.collector = collector;
      this.server = new RpcServer({
        host: '127.0.0.1',
        port: opts.port,
        socketPath,
        backlog: opts.backlog,
        ...(opts.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: opts.handshakeTimeoutMs }),
        secret,
        offer: dispatcher.offer(),
        handler:
          collector === undefined
            ? dispatcher.handle
            : (payload, call) => {
                collector.noteCall();
                return dispatcher.handle(payload, call);
              },
        journal,
        journalBytes: () => journal.sizeBytes,
        ...(collector === undefined ? {} : { onLastConnectionClosed: () => collector.noteDisconnected() }),
        programVersion: programVersion(),
        log: opts.log,
      });
      await this.server.start();
    } catch (error) {
      this.collector?.close();
      this.journal?.close();
      releasePidFile(opts.pidFile);
      throw error;
    }
    const port = this.server.address().port;
    opts.log.info({ port, socket: socketPath, pid: process.pid, pidFile: opts.pidFile, home: opts.home }, 'bot listening on 127.0.0.1');
    opts.onReady?.({ port, pid: process.pid, socketPath });
  }

  /** Stops accepting, lets calls in flight finish up to the grace deadline, closes the journal. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.opts.log.info({ graceMs: this.opts.graceMs }, 'bot stopping');
      try {
        await this.server?.stop({ graceMs: this.opts.graceMs });
      } finally {
        this.collector?.close();
        this.journal?.close();
        releasePidFile(this.opts.pidFile);
        this.opts.log.info('bot stopped');
        this.resolveStopped();
      }
    })();
    return this.stopping;
  }

  /** Resolves when stop() has finished. */
  whenStopped(): Promise<void> {
    return this.stopped;
  }
}
