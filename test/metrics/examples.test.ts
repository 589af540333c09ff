// The monitoring examples an operator copies: the alert rules and the Prometheus configuration pass promtool,
// and the Grafana dashboard and the rules use only metrics harvester defines.
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HarvesterMetrics } from '../../src/metrics/index.js';
import { packageRoot } from '../cli/support.js';

const dir = join(packageRoot, 'examples', 'monitoring');

/** promtool, or why not: under CI=true a missing promtool fails the test, else it skips. */
function promtool(t: TestContext): string | undefined {
  if (spawnSync('promtool', ['--version']).status === 0) return 'promtool';
  const why = "promtool is missing: install Debian's 'prometheus' package (scripts/testbed installs it)";
  if (process.env.CI === 'true') throw new Error(why);
  t.skip(why);
  return undefined;
}

/** Every metric name a PromQL text uses (histogram series reduced to their metric). */
function metricsUsed(promql: string): Set<string> {
  const withoutStrings = promql.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\{[^}]*\}/g, '{}');
  const names = new Set<string>();
  for (const [name] of withoutStrings.matchAll(/\b(?:harvester|process|nodejs)_[a-z0-9_]+/g)) names.add(name.replace(/_(bucket|count|sum)$/, ''));
  return names;
}

async function definedMetrics(): Promise<Set<string>> {
  const metrics = new HarvesterMetrics({ version: 'test', processMetrics: true });
  return new Set((await metrics.registry.getMetricsAsJSON()).map((m) => m.name));
}

describe('the monitoring examples', () => {
  test('promtool check rules accepts the alert rules, and check config the Prometheus configuration', (t) => {
    const tool = promtool(t);
    if (tool === undefined) return;
    const rules = spawnSync(tool, ['check', 'rules', join(dir, 'harvester-rules.yml')], { encoding: 'utf8' });
    assert.equal(rules.status, 0, rules.stdout + rules.stderr);
    const config = spawnSync(tool, ['check', 'config', join(dir, 'prometheus.yml')], { encoding: 'utf8' });
    assert.equal(config.status, 0, config.stdout + config.stderr);
  });

  test('the alert rules use only metrics the registry defines', async () => {
    const defined = await definedMetrics();
    const used = metricsUsed(readFileSync(join(dir, 'harvester-rules.yml'), 'utf8').split('\n').filter((l) => !l.trim().startsWith('#') && !/summary|description/.test(l)).join('\n'));
    assert.ok(used.size >= 10, `the rules use the metrics (${[...used].join(', ')})`);
    assert.deepEqual([...used].filter((name) => !defined.has(name)), []);
  });

  test('the Grafana dashboard parses, and its queries use only metrics the registry defines', async () => {
    const dashboard = JSON.parse(readFileSync(join(dir, 'grafana-dashboard.json'), 'utf8')) as { title: string; panels: { type: string; title: string; targets?: { expr: string }[] }[] };
    assert.equal(dashboard.title, 'harvester-ts');
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((target) => target.expr));
    assert.ok(exprs.length > 20, 'every panel has its query');
    const defined = await definedMetrics();
    const used = new Set(exprs.flatMap((e) => [...metricsUsed(e)]));
    assert.deepEqual([...used].filter((name) => !defined.has(name)), []);
    // The panels the README describes.
    for (const title of ['Workers by status', 'Cycle time p90 by agent', 'Remote call latency p50/p90 per route', 'Errors', 'Bot health per route']) {
      assert.ok(dashboard.panels.some((p) => p.title === title), `panel '${title}'`);
    }
  });
});
