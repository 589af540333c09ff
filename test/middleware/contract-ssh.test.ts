// The contract suite over real SSH: the herder in hv-core, the bot on hpc as the testbed user, reached
// through the jump host with the production tunnel pool — once by the default transport (the bot's unix
// socket), once by the stdio transport through hpc's second sshd (hpcstrict, port 2222), which forwards
// nothing (AllowTcpForwarding no, AllowStreamLocalForwarding no): there the herder runs `harvester bot
// connect` in an SSH session per tunnel, and the first one starts the bot.
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

const home = mkdtempSync(join(tmpdir(), 'hv-contract-ssh-'));
after(() => rmSync(home, { recursive: true, force: true }));

function sshContractSuite(title: string, botName: string, port: number, startBot: boolean, rpc: (testbed: Testbed) => Record<string, unknown>): void {
  let testbed: Testbed | undefined;
  let bot: RemoteBot;
  defineContractSuite(
    title,
    async (t) => {
      testbed = requireTestbed(t as never);
      if (testbed === undefined) return undefined;
      bot = await remoteBot(testbed, botName, port);
      await bot.cleanup();
      if (startBot) await bot.start();
      const log = createLogger({ level: 'warn', name: botName });
      const provider = new RpcMiddlewareProvider({ knownHostsFile: join(home, `known_hosts-${botName}`), log });
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
    () => bot.rpc(rpc(testbed!)),
  );
}

sshContractSuite('SSH through the jump host', 'contract', 18871, true, () => ({}));
sshContractSuite('the stdio transport (sshd without any forwarding)', 'contract-stdio', 18872, false, (testbed) => ({
  remotePort: testbed.hosts.hpcstrict.port,
  transport: 'stdio',
}));
