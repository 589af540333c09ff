// The instruments of one registry, read back as Prometheus text: what the hooks record, what the scrape-time
// sources fill in, and that a failing source costs only its own metrics.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HarvesterMetrics, metricNames, type RouteSample } from './harvester-metrics.js';

/** The sample lines of a metric (no comments), e.g. `harvester_workers{queue="q",status="running"} 3`. */
function samples(text: string, name: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
}

describe('HarvesterMetrics', () => {
  test('every name in metricNames is defined by the registry', async () => {
    const metrics = new HarvesterMetrics({ version: '1.2.3' });
    const defined = new Set((await metrics.registry.getMetricsAsJSON()).map((m) => m.name));
    for (const name of Object.values(metricNames)) assert.ok(defined.has(name), `${name} is defined`);
  });

  test('an agent cycle is observed with its report keys as actions; a failed one is counted and kept as the last cycle', async () => {
    const metrics = new HarvesterMetrics({ version: '1.2.3' });
    metrics.agentCycle('monitor', 0.02, { checked: 3, finished: 0 });
    metrics.agentCycle('monitor', 0.5, {}, new Error('database is locked'));
    const text = await metrics.text();
    assert.deepEqual(samples(text, 'harvester_agent_cycle_seconds_count'), ['harvester_agent_cycle_seconds_count{agent="monitor"} 2']);
    assert.deepEqual(samples(text, metricNames.agentCycleItems), ['harvester_agent_cycle_items_total{agent="monitor",action="checked"} 3']);
    assert.deepEqual(samples(text, metricNames.agentCycleErrors), ['harvester_agent_cycle_errors_total{agent="monitor"} 1']);
    const last = metrics.activity().agents.monitor;
    assert.equal(last?.cycles, 2);
    assert.equal(last?.error, 'database is locked');
  });

  test('plugin calls by queue, method and where; submissions count calls in a row that submitted nothing', async () => {
    const metrics = new HarvesterMetrics({ version: '1.2.3' });
    metrics.pluginCall('Q', 'submitWorkers', 'prod@login via gw', 0.3, false);
    metrics.pluginCall('Q', 'checkWorkers', 'local', 0.01, true);
    const text = await metrics.text();
    assert.deepEqual(samples(text, 'harvester_plugin_call_seconds_count'), [
      'harvester_plugin_call_seconds_count{queue="Q",method="submitWorkers",where="prod@login via gw"} 1',
      'harvester_plugin_call_seconds_count{queue="Q",method="checkWorkers",where="local"} 1',
    ]);
    assert.deepEqual(samples(text, metricNames.pluginCallErrors), ['harvester_plugin_call_errors_total{queue="Q",method="checkWorkers",where="local"} 1']);
    metrics.submission('Q', { submitted: 0, failed: 2, error: 'sbatch: error' });
    metrics.submission('Q', { submitted: 0, failed: 0, error: 'timeout' });
    assert.equal(metrics.activity().submissions.Q?.failingInARow, 2);
    metrics.submission('Q', { submitted: 1, failed: 1 });
    assert.equal(metrics.activity().submissions.Q?.failingInARow, 0);
  });

  test('the scrape reads counts, store size and routes from its sources; a failing source is counted and the rest is served', async () => {
    const metrics = new HarvesterMetrics({ version: '1.2.3' });
    const route: RouteSample = {
      route: 'prod@login',
      links: 2,
      linksUp: 1,
      callsInFlight: 3,
      reconnects: 4,
      failuresByType: new Map([['OutcomeUnknownError', 5]]),
      bot: { rssBytes: 1000, callsInFlight: 1, journalBytes: 77, roundTripSeconds: 0.01 },
    };
    metrics.setSources({
      workers: async () => new Map([['Q', { running: 2, finished: 1 }]]),
      jobs: async () => {
        throw new Error('store closed');
      },
      storeSizeBytes: async () => 4096,
      routes: async () => [route],
      onError: () => undefined,
    });
    const text = await metrics.text();
    assert.deepEqual(samples(text, metricNames.workers), ['harvester_workers{queue="Q",status="running"} 2', 'harvester_workers{queue="Q",status="finished"} 1']);
    assert.deepEqual(samples(text, metricNames.jobs), []);
    // Gauges are collected side by side: the failure shows from the next scrape on.
    assert.deepEqual(samples(await metrics.text(), metricNames.collectErrors), ['harvester_metrics_collect_errors_total{source="harvester_jobs"} 1']);
    assert.deepEqual(samples(text, metricNames.storeSize), ['harvester_store_size_bytes 4096']);
    assert.deepEqual(samples(text, metricNames.tunnelLinksUp), ['harvester_tunnel_links_up{route="prod@login"} 1']);
    assert.deepEqual(samples(text, metricNames.tunnelReconnects), ['harvester_tunnel_reconnects_total{route="prod@login"} 4']);
    assert.deepEqual(samples(text, metricNames.remoteCallFailures), ['harvester_remote_call_failures_total{route="prod@login",type="OutcomeUnknownError"} 5']);
    assert.deepEqual(samples(text, metricNames.botJournalBytes), ['harvester_bot_journal_bytes{route="prod@login"} 77']);
    assert.deepEqual(samples(text, metricNames.botUp), ['harvester_bot_up{route="prod@login"} 1']);
  });

  test('a route whose bot did not answer: bot_up 0 and no bot gauges for it', async () => {
    const metrics = new HarvesterMetrics({ version: '1.2.3' });
    metrics.setSources({ routes: async () => [{ route: 'r', links: 1, linksUp: 0, callsInFlight: 0, reconnects: 0, failuresByType: new Map() }] });
    const text = await metrics.text();
    assert.deepEqual(samples(text, metricNames.botUp), ['harvester_bot_up{route="r"} 0']);
    assert.deepEqual(samples(text, metricNames.botRss), []);
  });

  test('with process metrics: RSS and event-loop lag are there, and no gauge named *_total', async () => {
    const metrics = new HarvesterMetrics({ version: '1.2.3', processMetrics: true });
    const text = await metrics.text();
    assert.match(text, /^process_resident_memory_bytes \d+/m);
    assert.match(text, /^nodejs_eventloop_lag_seconds /m);
    const gauges = [...text.matchAll(/^# TYPE (\S+) gauge$/gm)].map((m) => m[1]!);
    assert.deepEqual(gauges.filter((g) => g.endsWith('_total')), []);
  });
});
