// The contract suite over the in-memory channel pair and over loopback TCP (no SSH): the herder, pool,
// protocol, journal and dispatcher are the production ones.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineContractSuite } from './contract-suite.js';
import { startLocalBot, type LocalBot } from '../support/local-bot.js';

for (const transport of ['in-memory', 'loopback'] as const) {
  let bot: LocalBot;
  defineContractSuite(
    transport,
    async () => {
      bot = await startLocalBot(transport);
      return {
        factory: bot.factory,
        makeRoot: (name) => mkdtemp(join(tmpdir(), `hv-contract-${name}-`)),
        callsServed: async () => bot.journal.recordCount,
        close: () => bot.close(),
      };
    },
    () => bot.rpc(),
  );
}
