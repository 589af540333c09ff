// Turns the core benchmark's measurements into its targets (PASS/MISS), a fixed-width table for stdout and
// the JSON document for bench-results/core.json. Formatting and the target lines are the middleware
// benchmark's (report.ts), so both read alike.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { CorePlan } from './core-cases.js';
import { cycleCaseId, cycleLabels } from './core-cases.js';
import { stageNames } from './core-lifecycle.js';
import type { CoreCaseResult } from './core-results.js';
import { formatValue, machineInfo, target, targetLines, type TargetResult } from './report.js';

/** One monitor cycle over this many workers has a time target. */
export const monitorTargetWorkers = 10_000;
export const monitorCycleLimitMs = 1000;
/** "Linear": the large size's per-worker cost at most this many times the small size's (not ~10x). */
export const perWorkerRatioLimit = 1.5;

/** Peak RSS of the process after each part of the benchmark. */
export interface MemoryMark {
  readonly after: string;
  readonly peakRssMB: number;
}

function splitText(detail: CoreCaseResult['detail']): string {
  if (detail?.['storeMs'] === undefined) return '';
  const ms = (key: string): string => Math.round(Number(detail[key])).toString();
  return `store ${ms('storeMs')}, plugins ${ms('pluginMs')}, agent ${ms('agentMs')} ms`;
}

export function evaluateCoreTargets(cases: readonly CoreCaseResult[], plan: CorePlan): TargetResult[] {
  const targets: TargetResult[] = [];
  const byId = new Map(cases.map((c) => [c.id, c]));
  if (plan.cycles.large === monitorTargetWorkers) {
    for (const stage of stageNames.filter((s) => s.startsWith('monitor'))) {
      const c = byId.get(cycleCaseId(stage, plan.cycles.large));
      if (c === undefined) continue;
      targets.push(target(`one ${cycleLabels[stage]}, ${plan.cycles.large}`, c.median, '<=', monitorCycleLimitMs, 'ms', `median of ${c.runs} runs; ${splitText(c.detail)}`));
    }
  }
  for (const stage of stageNames) {
    const large = byId.get(cycleCaseId(stage, plan.cycles.large));
    const small = byId.get(cycleCaseId(stage, plan.cycles.small));
    const ratio = large?.detail?.['perWorkerRatioToSmall'];
    if (large === undefined || small === undefined || typeof ratio !== 'number') continue;
    const basis = `median of per-run ratios; medians ${large.detail?.['perWorkerUs']} vs ${small.detail?.['perWorkerUs']} us per worker`;
    targets.push(target(`per-worker cost ${plan.cycles.large}/${plan.cycles.small}, ${cycleLabels[stage]}`, ratio, '<=', perWorkerRatioLimit, 'x', basis));
  }
  return targets;
}

const pad = (text: string, width: number): string => text.padEnd(width);
const padLeft = (text: string, width: number): string => text.padStart(width);

export function renderCoreTable(cases: readonly CoreCaseResult[], targets: readonly TargetResult[], memory: readonly MemoryMark[], notes: readonly string[]): string {
  const lines: string[] = [];
  const header = `${pad('case', 50)} ${padLeft('median', 11)} ${padLeft('p90', 11)} ${padLeft('runs', 5)} ${padLeft('per worker', 11)}  where the time goes (medians)`;
  lines.push(header, '-'.repeat(header.length + 24));
  let previousGroup = '';
  for (const c of cases) {
    const group = c.id.split('/')[0]!;
    if (previousGroup !== '' && group !== previousGroup) lines.push('');
    previousGroup = group;
    const perWorker = c.detail?.['perWorkerUs'];
    lines.push(
      `${pad(c.what, 50)} ${padLeft(formatValue(c.median, c.unit), 11)} ${padLeft(formatValue(c.p90, c.unit), 11)} ${padLeft(String(c.runs), 5)} ${padLeft(perWorker === undefined ? '' : `${perWorker} us`, 11)}  ${splitText(c.detail)}`,
    );
  }
  if (memory.length > 0) {
    const peak = Math.max(...memory.map((m) => m.peakRssMB));
    lines.push('', `peak RSS of this process (maxRSS): ${formatValue(peak, 'MB')} (${memory.map((m) => `after ${m.after} ${formatValue(m.peakRssMB, 'MB')}`).join(', ')})`);
  }
  lines.push('', ...targetLines(targets, 68));
  for (const note of notes) lines.push(`note: ${note}`);
  return `${lines.join('\n')}\n`;
}

export async function writeCoreReport(
  file: string,
  content: { plan: CorePlan; cases: readonly CoreCaseResult[]; targets: readonly TargetResult[]; memory: readonly MemoryMark[]; notes: readonly string[]; wallSeconds: number; metrics: string },
): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify({ benchmark: 'core', machine: machineInfo(), ...content }, null, 2)}\n`);
}

/** The cost of metrics: each case's median with metrics off and on, and on/off (the issue's limit: 1.05). */
export function metricsCostLines(cases: readonly CoreCaseResult[]): string {
  const byId = new Map(cases.map((c) => [c.id, c]));
  const header = `${pad('metrics off vs on (medians)', 50)} ${padLeft('off', 11)} ${padLeft('on', 11)} ${padLeft('on/off', 8)}`;
  const lines = ['', header, '-'.repeat(header.length)];
  const ratios: number[] = [];
  for (const off of cases) {
    const on = byId.get(`${off.id}@metrics`);
    if (on === undefined) continue;
    const ratio = on.median / off.median;
    ratios.push(ratio);
    lines.push(`${pad(off.what, 50)} ${padLeft(formatValue(off.median, off.unit), 11)} ${padLeft(formatValue(on.median, on.unit), 11)} ${padLeft(`${ratio.toFixed(3)}x`, 8)}`);
  }
  if (ratios.length > 0) {
    const sorted = [...ratios].sort((a, b) => a - b);
    lines.push(`ratio of medians over ${ratios.length} cases: median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(3)}x (limit 1.05x); range ${sorted[0]!.toFixed(3)}-${sorted.at(-1)!.toFixed(3)}x`);
  }
  for (const c of cases) {
    const pairRatio = c.detail?.['medianPairRatio'];
    if (typeof pairRatio === 'number' && !c.id.endsWith('@metrics')) {
      lines.push(`paired (${c.detail?.['pairs']} off/on pairs, one environment): ${c.what.replace(/: metrics off$/, '')}: median per-pair on/off ${pairRatio.toFixed(3)}x (limit 1.05x)`);
    }
  }
  return `${lines.join('\n')}\n`;
}
