// A bot running inside the test process, reached through the herder's local links (in-memory pair or
// loopback TCP) instead of SSH: the same dispatcher, journal, protocol, pool and proxy as in production.
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, type Logger } from '../../src/logging/index.js';
import { PluginFactory } from '../../src/plugins/index.js';
import { BotDispatcher } from '../../src/middleware/bot/dispatcher.js';
import { CallJournal } from '../../src/middleware/bot/journal.js';
import { ensureBotSecret } from '../../src/middleware/bot/secret.js';
import { RpcServer } from '../../src/middleware/bot/server.js';
import { InMemoryLink, LoopbackLink, type BotLink } from '../../src/middleware/herder/bot-link.js';
import { RpcMiddlewareProvider } from '../../src/middleware/herder/rpc-provider.js';
import type { ServerSessionOptions } from '../../src/middleware/protocol/index.js';
import { programVersion } from '../../src/version.js';

export interface LocalBot {
  /** Plays the remote user's home: the bot's own home is <home>/.harvester, as for a real bot. */
  readonly home: string;
  readonly factory: PluginFactory;
  readonly provider: RpcMiddlewareProvider;
  readonly journal: CallJournal;
  readonly log: Logger;
  /** The "rpc" element to put in a queue for this bot. */
  rpc(extra?: Record<string, unknown>): Record<string, unknown>;
  close(): Promise<void>;
}

export async function startLocalBot(transport: 'in-memory' | 'loopback', opts: { log?: Logger; pluginDirs?: string[] } = {}): Promise<LocalBot> {
  const home = await mkdtemp(join(tmpdir(), `hv-localbot-${transport}-`));
  const botHome = join(home, '.harvester');
  await mkdir(botHome, { recursive: true, mode: 0o700 });
  const log = opts.log ?? createLogger({ level: 'warn', name: `local-bot-${transport}` });
  const secret = ensureBotSecret(join(botHome, 'bot.secret'));
  const journal = CallJournal.open(join(botHome, 'bot-journal.jsonl'), { log });
  const botFactory = new PluginFactory({ pluginDirs: opts.pluginDirs ?? [], log });
  const dispatcher = new BotDispatcher(botFactory, opts.pluginDirs ?? [], log, botHome);
  let server: RpcServer | undefined;
  let connect: () => Promise<BotLink>;
  if (transport === 'loopback') {
    server = new RpcServer({ host: '127.0.0.1', port: 0, secret, offer: dispatcher.offer(), handler: dispatcher.handle, journal, programVersion: programVersion(), log });
    await server.start();
    connect = async () => new LoopbackLink(home);
  } else {
    const startedAt = new Date().toISOString();
    const serverOptions = (): ServerSessionOptions => ({
      secret,
      offer: dispatcher.offer(),
      handler: dispatcher.handle,
      journal,
      botId: 'in-memory-bot',
      startedAt,
      programVersion: programVersion(),
      log,
    });
    connect = async () => new InMemoryLink(home, serverOptions);
  }
  const port = server?.address().port ?? 18861;
  const provider = new RpcMiddlewareProvider({ knownHostsFile: join(home, 'known_hosts'), log, connect });
  const factory = new PluginFactory({ log });
  factory.registerMiddleware(provider);
  return {
    home,
    factory,
    provider,
    journal,
    log,
    rpc: (extra = {}) => ({
      remoteHost: transport,
      sshUserName: 'tester',
      numTunnels: 2,
      remoteBindPort: port,
      botHome: '.harvester',
      callTimeout: 30,
      ...extra,
    }),
    close: async () => {
      await provider.close();
      await server?.stop({ graceMs: 1000 });
      journal.close();
      await rm(home, { recursive: true, force: true });
    },
  };
}
