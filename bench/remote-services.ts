// What the SSH cases need on the testbed's hpc host, run as the testbed user: the bot (the production CLI's
// `bot start`, on a benchmark port) and a raw TCP echo server on 127.0.0.1. Both are stopped by stop(),
// which the caller runs whatever happened; the echo server also exits by itself when we do (stdin closes).
import { readFile } from 'node:fs/promises';
import { remoteBot, type RemoteBot } from '../test/support/remote-bot.js';
import { startEchoServer, type EchoServer } from '../test/middleware/ssh/support.js';
import type { Testbed } from '../test/support/testbed.js';

/** Ports 18950-18959 are the benchmark's; the bot takes the first. */
export const benchBotPort = 18950;

export class BotMemoryError extends Error {
  constructor(
    message: string,
    readonly pid: number | undefined,
  ) {
    super(message);
    this.name = 'BotMemoryError';
  }
}

export interface HpcServices {
  readonly bot: RemoteBot;
  readonly echo: EchoServer;
  /** The bot's resident set size in MB (VmRSS of /proc/<pid>/status). */
  botRssMB(): Promise<{ pid: number; rssMB: number }>;
  stop(): Promise<void>;
}

export async function startHpcServices(testbed: Testbed): Promise<HpcServices> {
  const bot = await remoteBot(testbed, 'bench', benchBotPort);
  await bot.cleanup();
  await bot.start();
  let echo: EchoServer;
  try {
    echo = await startEchoServer(testbed);
  } catch (error) {
    await bot.stop();
    await bot.cleanup();
    throw error;
  }
  return {
    bot,
    echo,
    async botRssMB() {
      const pid = await bot.pid();
      if (pid === undefined) throw new BotMemoryError(`the bot has no pid file at ${bot.pidFile}`, undefined);
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
      if (match?.[1] === undefined) throw new BotMemoryError(`no VmRSS line in /proc/${pid}/status`, pid);
      return { pid, rssMB: Number(match[1]) / 1024 };
    },
    async stop() {
      const failures: unknown[] = [];
      await echo.stop().catch((error: unknown) => failures.push(error));
      await bot.stop().catch(async (error: unknown) => {
        failures.push(error);
        // A bot that will not stop politely must still not outlive the benchmark.
        if ((await bot.pid()) !== undefined) await bot.kill();
      });
      await bot.cleanup();
      if (failures.length > 0) {
        const reasons = failures.map((f) => (f instanceof Error ? f.message : String(f))).join('; ');
        throw new AggregateError(failures, `stopping the benchmark services on hpc: ${reasons}`);
      }
    },
  };
}
