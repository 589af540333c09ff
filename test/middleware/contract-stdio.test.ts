// The contract suite over the stdio transport: hpc's second sshd (hpcstrict, port 2222) forwards nothing
// (AllowTcpForwarding no, AllowStreamLocalForwarding no), so the herder runs `harvester bot connect` in an SSH
// session per tunnel, which relays to the bot's unix socket — the same plugins, results and mutations.
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
const home = mkdtempSync(join(tmpdir(), 'hv-contract-stdio-'));
after(() => rmSync(home, { recursive: true, force: true }));

defineContractSuite(
  'the stdio transport (sshd without any forwarding)',
  async (t) => {
    testbed = requireTestbed(t as never);
    if (testbed === undefined) return undefined;
    bot = await remoteBot(testbed, 'contract-stdio', 18872);
    await bot.cleanup();
    // No bot is started here: the first `bot connect` starts it.
    const log = createLogger({ level: 'warn', name: 'contract-stdio' });
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
  () => bot.rpc({ remotePort: testbed!.hosts.hpcstrict.port, transport: 'stdio' }),
);
