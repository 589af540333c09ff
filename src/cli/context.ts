// What every command needs, built once from the global options: the master config, a logger writing JSON
// lines to the log directory, the queue configuration and the plugin factory.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadMasterConfig, loadQueueConfig, type MasterConfig, type QueueConfigLoad, type QueueConfig } from '../config/index.js';
import { createLogger, type Logger } from '../logging/index.js';
import { PluginFactory } from '../plugins/index.js';
import type { BotClient, RegisteredMiddleware } from '../middleware/index.js';
import { UsageError } from './exit-codes.js';
import { ensureHome } from './home-dir.js';

export interface GlobalOptions {
  readonly home?: string;
  readonly config?: string;
  readonly logLevel?: string;
}

export class CliContext {
  private logger?: Logger;
  private pluginFactory?: PluginFactory;
  private middleware?: RegisteredMiddleware;

  private constructor(readonly master: MasterConfig, private readonly logFileName: string) {}

  static fromCommand(command: Command, logFileName = 'harvester.log'): CliContext {
    const globals = command.optsWithGlobals<GlobalOptions>();
    const master = loadMasterConfig({
      home: globals.home,
      configFile: globals.config,
      logLevel: globals.logLevel,
      env: process.env,
    });
    return new CliContext(master, logFileName);
  }

  /** JSON log lines go to <logDir>/<logFileName>; people read the command's own output. */
  get log(): Logger {
    if (this.logger === undefined) {
      // The home first, so a first command creates it private (the log directory is usually inside it).
      ensureHome(this.master.home);
      mkdirSync(this.master.logDir, { recursive: true });
      this.logger = createLogger({ level: this.master.logLevel, name: 'harvester', file: join(this.master.logDir, this.logFileName) });
    }
    return this.logger;
  }

  loadQueues(queueConfigFile?: string): QueueConfigLoad {
    return loadQueueConfig(queueConfigFile ?? this.master.queueConfigFile, { harvesterID: this.master.harvesterID });
  }

  /** The queue NAME, or a UsageError listing the queues there are (and why NAME failed to load, if it did). */
  queue(load: QueueConfigLoad, name: string): QueueConfig {
    const queue = load.queues.get(name);
    if (queue !== undefined) return queue;
    const own = load.problems.filter((p) => p.queue === name);
    if (own.length > 0) {
      throw new UsageError(`queue '${name}' in ${load.file} could not be built: ${own.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
    }
    const known = [...load.queues.keys()].join(', ') || 'none';
    throw new UsageError(`no queue '${name}' in ${load.file} (queues: ${known})`);
  }

  /** Stops what the factory started (tunnel pools of remote sections). Safe to call twice. */
  async close(): Promise<void> {
    await this.middleware?.close();
  }

  /**
   * The plugin factory with the middleware providers registered. Loaded on first use: the SSH transport is
   * only imported by the commands that may need it, which keeps `bot start` (on a login node) and the other
   * commands small and quick to start.
   */
  async factory(): Promise<PluginFactory> {
    if (this.pluginFactory === undefined) {
      const { registerMiddlewareProviders } = await import('../middleware/index.js');
      const factory = new PluginFactory({ pluginDirs: this.master.pluginDirs, log: this.log });
      this.middleware = registerMiddlewareProviders(factory, { master: this.master, log: this.log });
      this.pluginFactory = factory;
    }
    return this.pluginFactory;
  }

  /** The routes' clients the factory made so far (none before factory() or without remote sections). */
  routes(): readonly BotClient[] {
    return this.middleware?.routes() ?? [];
  }

}
