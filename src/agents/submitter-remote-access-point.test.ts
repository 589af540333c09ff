// The submitter agent with plugins in a bot (the in-memory local bot: production herder, protocol and
// dispatcher): a relative access point of a remote section is made under the bot's home, not the core's.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseQueueConfig, type QueueConfig } from '../config/index.js';
import { startLocalBot, type LocalBot } from '../../test/support/local-bot.js';
import { Submitter } from './submitter.js';
import { insertPreparedJobs, withWorkerSideEnv } from '../../test/support/agents/worker-side-fixtures.js';

describe('Submitter with its plugins in a bot', () => {
  let bot: LocalBot;
  /** The bot's home, as the local bot starts it: <remote user's home>/.harvester. */
  let botHome: string;

  before(async () => {
    bot = await startLocalBot('in-memory');
    botHome = join(bot.home, '.harvester');
  });
  after(() => bot.close());

  function queueWith(sections: Record<string, unknown>): QueueConfig {
    const rpc = { name: 'RpcHerder', module: 'pandaharvester.harvestermiddleware.rpc_herder', ...bot.rpc() };
    const load = parseQueueConfig(JSON.stringify({ TEST_QUEUE: { rpc, nQueueLimitWorker: 1, maxWorkers: 5, ...sections } }), 'remote-access-point.json');
    assert.deepEqual(load.problems, []);
    return load.queues.get('TEST_QUEUE')!;
  }

  for (const [what, sections] of [
    ['a remote submitter and no access point named', { submitter: { name: 'DummySubmitter', module: 'dummy_submitter', middleware: 'rpc' } }],
    [
      'a remote messenger and submitter, the messenger naming a relative access point',
      {
        submitter: { name: 'DummySubmitter', module: 'dummy_submitter', middleware: 'rpc' },
        messenger: { name: 'SharedFileMessenger', module: 'shared_file_messenger', middleware: 'rpc', accessPoint: 'aps/${workerID}' },
      },
    ],
  ] as const) {
    test(`${what}: the worker's directory is under the bot's home; the core records it relative`, async () => {
      const queue = queueWith(sections);
      const plugins = {
        submitter: await bot.factory.forQueue(queue, 'submitter'),
        messenger: await bot.factory.forQueue(queue, 'messenger'),
      };
      await withWorkerSideEnv({ queues: [queue], plugins: { TEST_QUEUE: plugins } }, async (w) => {
        await insertPreparedJobs(w.store, ['echo remote']);
        const report = await new Submitter(w.env).runCycle(w.signal);
        assert.equal(report.submitted, 1, JSON.stringify(report));
        const [worker] = await w.store.listWorkers();
        const relative = 'messenger' in sections ? join('aps', String(worker!.workerID)) : join('workdir', String(worker!.workerID));
        assert.equal(worker!.accessPoint, relative, "the core keeps it relative: it means the bot's home");
        assert.equal((await readFile(join(botHome, relative, 'status.txt'), 'utf8')).trim(), 'submitted');
        if ('messenger' in sections) assert.ok((await stat(join(botHome, relative, 'pandaJobData.out'))).isFile(), 'the messenger fed the job there');
        await assert.rejects(stat(join(w.home, relative)), { code: 'ENOENT' }, "nothing under the core's home");
      });
    });
  }
});
