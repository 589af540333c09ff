// The wrappers that feed the metrics of `harvester run`: claims timed, everything else of the store passed
// through untouched; plugin calls timed by queue, method and where they run; submissions' outcomes counted.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { PluginLookup } from '../agents/environment.js';
import { parseQueueConfig, type QueueConfig } from '../config/index.js';
import { HarvesterMetrics } from '../metrics/index.js';
import { SqliteStore } from '../store/index.js';
import { callPlace, timedPlugins, timedStore } from './instrument.js';

const dir = mkdtempSync(join(tmpdir(), 'hv-instrument-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function queue(): QueueConfig {
  const rpc = { name: 'RpcHerder', module: 'pandaharvester.harvestermiddleware.rpc_herder', remoteHost: 'login04', jumpHost: 'gw', sshUserName: 'prod' };
  const load = parseQueueConfig(
    JSON.stringify({
      Q: {
        rpc,
        submitter: { name: 'DummySubmitter', module: 'dummy_submitter', middleware: 'rpc', bareFunctions: ['kill_workers'] },
        monitor: { name: 'DummyMonitor', module: 'dummy_monitor' },
      },
    }),
    'instrument.json',
  );
  assert.deepEqual(load.problems, []);
  return load.queues.get('Q')!;
}

const count = async (metrics: HarvesterMetrics, series: string): Promise<number | undefined> => {
  const line = (await metrics.text()).split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('instrument', () => {
  test('the timed store times claims and passes getters and other methods through to the store', async () => {
    const store = await SqliteStore.open(join(dir, 'a.db'));
    try {
      const metrics = new HarvesterMetrics({ version: 't' });
      const timed = timedStore(store, metrics);
      assert.equal(timed.database, store.database);
      assert.deepEqual(await timed.claimQueues({ queueNames: ['Q'], owner: 'me', lockIntervalSec: 60 }), ['Q']);
      assert.deepEqual(await timed.listWorkers(), []);
      assert.equal(await count(metrics, 'harvester_store_claim_seconds_count{method="claimQueues"}'), 1);
      assert.equal(await count(metrics, 'harvester_store_claim_seconds_count{method="listWorkers"}'), undefined);
    } finally {
      await store.close();
    }
  });

  test('a section behind "rpc" runs on its route, except its bare functions; other sections run locally', () => {
    const q = queue();
    assert.equal(callPlace(q, 'submitter', 'submitWorkers'), 'prod@login04 via gw');
    assert.equal(callPlace(q, 'submitter', 'killWorkers'), 'local');
    assert.equal(callPlace(q, 'monitor', 'checkWorkers'), 'local');
  });

  test('timed plugins: one wrapper per queue and kind; calls timed, throws counted, submitWorkers outcomes counted', async () => {
    const q = queue();
    const metrics = new HarvesterMetrics({ version: 't' });
    const plugin = {
      async submitWorkers(_ctx: unknown, workers: unknown[]) {
        return workers.map((_w, i) => (i === 0 ? { kind: 'succeeded', value: undefined, diag: '' } : { kind: 'failed', diag: 'refused' }));
      },
      async checkWorkers() {
        throw new Error('squeue: timeout');
      },
    };
    const lookup = timedPlugins((async () => plugin) as unknown as PluginLookup, metrics);
    const wrapped = (await lookup(q, 'submitter')) as unknown as typeof plugin;
    assert.equal(await lookup(q, 'submitter'), wrapped, 'the same wrapper each time');
    assert.equal((await wrapped.submitWorkers({}, [1, 2, 3])).length, 3);
    await assert.rejects(wrapped.checkWorkers(), /squeue: timeout/);
    assert.equal(await count(metrics, 'harvester_plugin_call_seconds_count{queue="Q",method="submitWorkers",where="prod@login04 via gw"}'), 1);
    assert.equal(await count(metrics, 'harvester_plugin_call_errors_total{queue="Q",method="checkWorkers",where="prod@login04 via gw"}'), 1);
    assert.equal(await count(metrics, 'harvester_worker_submissions_total{queue="Q",status="submitted"}'), 1);
    assert.equal(await count(metrics, 'harvester_worker_submissions_total{queue="Q",status="failed"}'), 2);
    assert.deepEqual(metrics.activity().submissions.Q, { ...metrics.activity().submissions.Q, submitted: 1, failed: 2, failingInARow: 0 });
    const last = metrics.activity().pluginCalls.Q?.submitter;
    assert.deepEqual([last?.method, last?.failed], ['checkWorkers', true], "the queue's last call of its submitter plugin");
  });
});
