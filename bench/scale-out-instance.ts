// One instance of the scale-out benchmark (bench/scale-out.ts): the store calls of a submitter, a monitor
// and a sweeper, each in its own loop as harvester's agent threads are, around plugin calls that wait like
// a batch system (`--plugin-ms`, little CPU). Usage: node scale-out-instance.js <settings JSON> <owner>
// <queues,...> <batch> <plugin ms> <seconds>. Prints {"submitted", "swept"} (worker counts) when done.
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkSpec } from '../src/spec/index.js';
import { openServerStore } from '../src/store/server/open-server-store.js';
import type { ServerConnectionSettings } from '../src/store/server/settings.js';

async function main(): Promise<void> {
  const [settingsJson, owner, queueList, batchText, pluginMsText, secondsText] = process.argv.slice(2);
  if (settingsJson === undefined || owner === undefined || queueList === undefined || secondsText === undefined) throw new Error('usage: scale-out-instance <settings> <owner> <queues> <batch> <pluginMs> <seconds>');
  const settings = JSON.parse(settingsJson) as ServerConnectionSettings;
  const queues = queueList.split(',');
  const batch = Number(batchText);
  const pluginMs = Number(pluginMsText);
  const until = Date.now() + Number(secondsText) * 1000;
  const store = await openServerStore({ ...settings, nConnections: 6 });
  const lock = { lockIntervalSec: 600, checkIntervalSec: 0 };
  // Live workers per queue at most (nQueueLimitWorker): the monitor and sweeper keep up, the submitter fills.
  const cap = batch * 4;
  let submitted = 0;
  let swept = 0;
  const plugin = () => sleep(pluginMs);

  const submitter = async (): Promise<void> => {
    const me = `${owner}-submitter`;
    while (Date.now() < until) {
      const claimed = await store.claimQueues({ queueNames: queues, owner: me, ...lock });
      if (claimed.length === 0) await sleep(pluginMs);
      for (const queueName of claimed) {
        const live = Object.values(await store.getWorkerStats(queueName)).reduce((a, b) => a + b, 0);
        const n = Math.min(batch, cap - live);
        if (n > 0) {
          await plugin();
          const workers = Array.from({ length: n }, () => new WorkSpec({ computingSite: queueName, status: 'submitted', modificationTime: new Date(0) }));
          await store.insertWorkers(workers);
          submitted += n;
        }
        await store.releaseQueues([queueName], me);
      }
    }
  };
  const monitor = async (): Promise<void> => {
    const me = `${owner}-monitor`;
    while (Date.now() < until) {
      const workers = await store.claimWorkers({ purpose: 'monitor', owner: me, statuses: ['submitted', 'running'], limit: batch, ...lock });
      if (workers.length === 0) {
        await sleep(pluginMs);
        continue;
      }
      await plugin();
      for (const w of workers) w.status = w.status === 'submitted' ? 'running' : 'finished';
      await store.updateWorkers(workers, { lock: { purpose: 'monitor', owner: me }, releaseLock: true });
    }
  };
  const sweeper = async (): Promise<void> => {
    const me = `${owner}-sweeper`;
    while (Date.now() < until) {
      const workers = await store.claimWorkers({ purpose: 'sweeper', owner: me, statuses: ['finished'], limit: batch, ...lock });
      if (workers.length === 0) {
        await sleep(pluginMs);
        continue;
      }
      await plugin();
      swept += await store.deleteWorkers(workers.map((w) => w.workerID as number));
    }
  };
  try {
    await Promise.all([submitter(), monitor(), sweeper()]);
  } finally {
    await store.close();
  }
  process.stdout.write(`${JSON.stringify({ submitted, swept })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  // The other loops may still hold the pool: a failed instance must not outlive its benchmark.
  process.exit(1);
});
