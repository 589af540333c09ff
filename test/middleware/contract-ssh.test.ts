// The contract suite over real SSH: the herder in hv-core, the bot on hpc as the testbed user, reached
// through the jump host with the production tunnel pool.
import { after } from 'node:test';
import { join } from 'node:path';
import { createLogger } from '../../src/logging/index.js';
import { PluginFactory } from '../../src/plugins/index.js';
import { RpcMiddlewareProvider } from '../../src/middleware/herder/rpc-provider.js';
import { defineContractSuite } from './contract-suite.js';
import { requireTestbed, type Testbed } from '../support/testbed.js';
import { remoteBot, type RemoteBot } from '../support/remote-bot.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

// The bot's user must be able to write what this process sets up (access points, worker files).
process.umask(0o000);

let testbed: Testbed | undefined;
let bot: RemoteBot;
const home = mkdtempSync(join(tmpdir(), 'hv-contract-ssh-'));
after(() => rmSync(home, { recursive: true, force: true }));

defineContractSuite(
  'SSH through the jump host',
  async (t) => {
    testbed = requireTestbed(t as never);
    if (testbed === undefined) return undefined;
    bot = await remoteBot(testbed, 'contract', 18871);
    await bot.cleanup();
    await bot.start();
    const log = createLogger({ level: 'warn', name: 'contract-ssh' });
    const provider = new RpcMiddlewareProvider({ knownHostsFile: join(home, 'known_hosts'), log });
    const factory = new PluginFactory({ log });
    factory.registerMiddleware(provider);
    return {
      factory,
      makeRoot: (name) => bot.makeRoot(name),
      callsServed: () => bot.journalStarts(),
      close: async () => {
        await provider.close();
        await bot.stop();
        await bot.cleanup();
      },
    };
  },
  () => bot.rpc(),
);
