// The contract suite over the in-memory channel pair and over loopback TCP (no SSH): the herder, pool,
// protocol, journal and dispatcher are the production ones.
import { mkdtemp, rm } from 'node:fs/promises';
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
      // Every scenario's roots under one directory, removed with the transport (each run left ~200 behind).
      const roots = await mkdtemp(join(tmpdir(), `hv-contract-${transport}-`));
      return {
        factory: bot.factory,
        makeRoot: (name) => mkdtemp(join(roots, `${name}-`)),
        callsServed: async () => bot.journal.recordCount,
        close: async () => {
          try {
            await bot.close();
          } finally {
            await rm(roots, { recursive: true, force: true });
          }
        },
      };
    },
    () => bot.rpc(),
  );
}
