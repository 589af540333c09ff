// Turns the measurements into the issue's targets (PASS/MISS), a fixed-width table for stdout and the JSON
// document for bench-results/middleware.json.
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, release, totalmem } from 'node:os';
import { dirname } from 'node:path';
import { callParts, type BenchPlan } from './cases.js';
import { transportLabels, type CaseResult, type Transport } from './results.js';

export interface BotMemory {
  readonly pid: number;
  readonly rssAtStartMB: number;
  readonly rssAfterRunsMB: number;
}

export interface TargetResult {
  readonly target: string;
  readonly measured: number;
  readonly limit: number;
  readonly unit: string;
  /** "<=": measured must not exceed limit; ">=": must reach it. */
  readonly sense: '<=' | '>=';
  readonly pass: boolean;
  readonly basis: string;
}

/** harvester's rpyc middleware on this kind of machine (from the issue), for the table's last column. */
export const rpycReference: Readonly<Record<string, string>> = {
  'submitWorkers N=1': '301 ms',
  'submitWorkers N=1000': '11.1 s (52x bare)',
  'no-op call (ping)': '100 ms',
};

function find(cases: readonly CaseResult[], what: string, transport: Transport): CaseResult | undefined {
  return cases.find((c) => c.what === what && c.transport === transport);
}

export function target(target: string, measured: number, sense: '<=' | '>=', limit: number, unit: string, basis: string): TargetResult {
  return { target, measured, limit, unit, sense, pass: sense === '<=' ? measured <= limit : measured >= limit, basis };
}

export function evaluateTargets(cases: readonly CaseResult[], bot: BotMemory | undefined): TargetResult[] {
  const targets: TargetResult[] = [];
  const middleware: Transport[] = ['ssh-jump', 'ssh-jump-tcp', 'ssh-jump-stdio', 'ssh-loopback', 'tcp-loopback'];
  for (const what of ['submitWorkers N=1000', 'checkWorkers N=1000']) {
    for (const transport of middleware) {
      const via = find(cases, what, transport);
      const ratio = via?.detail?.['ratioToBareMedian'];
      const bareMs = via?.detail?.['pairedBareMedianMs'];
      if (via === undefined || typeof ratio !== 'number' || typeof bareMs !== 'number') continue;
      // What moving the request alone costs over this transport, next to the bare call: the floor of the ratio.
      const echo = find(cases, `raw SSH channel echo, ${what} request size`, transport);
      const floor = echo === undefined ? '' : `; a raw echo of its request alone: ${echo.median.toFixed(1)} ms (${((100 * echo.median) / bareMs).toFixed(0)}% of bare)`;
      targets.push(target(`${what}: ${transport} / bare`, ratio, '<=', 1.2, 'x', `median of per-run ratios; medians ${via.median.toFixed(0)} ms vs bare ${bareMs.toFixed(0)} ms${floor}`));
    }
  }
  for (const transport of ['ssh-jump', 'ssh-loopback'] as const) {
    const ping = find(cases, 'no-op call (ping)', transport);
    const echo = find(cases, 'raw SSH channel echo', transport);
    if (ping === undefined || echo === undefined) continue;
    targets.push(target(`no-op call - channel echo, ${transport}`, ping.median - echo.median, '<=', 1, 'ms', `medians ${ping.median.toFixed(3)} ms - ${echo.median.toFixed(3)} ms`));
  }
  for (const what of ['no-op calls/s, 3 tunnels', 'getNumJobsPerWorker calls/s, 3 tunnels']) {
    for (const transport of ['ssh-jump', 'ssh-jump-tcp', 'ssh-jump-stdio'] as const) {
      const rate = find(cases, what, transport);
      if (rate !== undefined) targets.push(target(`${what}, ${transport}`, rate.median, '>=', 5000, 'calls/s', `median of ${rate.runs} runs of ${rate.detail?.['seconds'] ?? '?'} s`));
    }
  }
  if (bot !== undefined) targets.push(target('bot VmRSS after the runs', bot.rssAfterRunsMB, '<=', 80, 'MB', `pid ${bot.pid}, ${bot.rssAtStartMB.toFixed(1)} MB at start`));
  return targets;
}

export function formatValue(value: number, unit: string): string {
  if (unit === 'ms') return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : value >= 10 ? `${value.toFixed(1)} ms` : `${value.toFixed(3)} ms`;
  if (unit === 'calls/s') return `${Math.round(value)} /s`;
  if (unit.endsWith('/s')) return `${Math.round(value)} ${unit}`;
  if (unit === 'x') return `${value.toFixed(2)}x`;
  if (unit === 'MB') return `${value.toFixed(1)} MB`;
  return `${value.toFixed(3)} ${unit}`;
}

const pad = (text: string, width: number): string => text.padEnd(width);
const padLeft = (text: string, width: number): string => text.padStart(width);

/** The targets as table lines (a header, then one line each with PASS/MISS), shared by the benchmarks. */
export function targetLines(targets: readonly TargetResult[], width = 52): string[] {
  const lines = [`${pad('target', width)} ${padLeft('measured', 12)} ${padLeft('limit', 14)}  result  basis`, '-'.repeat(width + 58)];
  for (const t of targets) {
    lines.push(`${pad(t.target, width)} ${padLeft(formatValue(t.measured, t.unit), 12)} ${padLeft(`${t.sense} ${formatValue(t.limit, t.unit)}`, 14)}  ${pad(t.pass ? 'PASS' : 'MISS', 6)}  ${t.basis}`);
  }
  return lines;
}

export function renderTable(cases: readonly CaseResult[], targets: readonly TargetResult[], bot: BotMemory | undefined, notes: readonly string[]): string {
  const lines: string[] = [];
  const transportWidth = Math.max(34, ...cases.map((c) => transportLabels[c.transport].length));
  const header = `${pad('case', 40)} ${pad('transport', transportWidth)} ${padLeft('median', 11)} ${padLeft('p90', 11)} ${padLeft('runs', 5)}  rpyc (harvester)`;
  lines.push(header, '-'.repeat(header.length + 8));
  let previous = '';
  for (const c of cases) {
    if (previous !== '' && previous !== c.what) lines.push('');
    previous = c.what;
    const reference = c.transport === 'ssh-jump' ? (rpycReference[c.what] ?? '') : '';
    lines.push(
      `${pad(c.what, 40)} ${pad(transportLabels[c.transport], transportWidth)} ${padLeft(formatValue(c.median, c.unit), 11)} ${padLeft(formatValue(c.p90, c.unit), 11)} ${padLeft(String(c.runs), 5)}  ${reference}`,
    );
  }
  const cpuLines = cases.flatMap((c) => {
    const parts = Object.entries(c.detail ?? {})
      .filter(([key]) => key.startsWith('cpuUsPerCall:'))
      .map(([key, value]) => `${key.slice('cpuUsPerCall:'.length)} ${value} us (${c.detail?.[`cpuShare:${key.slice('cpuUsPerCall:'.length)}`] ?? '?'} CPU)`);
    return parts.length === 0 ? [] : [`  ${c.what}, ${c.transport}: ${parts.join(', ')}`];
  });
  if (cpuLines.length > 0) lines.push('', 'CPU per call while calls were in flight (and CPUs busy; the machine has ' + cpus().length + '):', ...cpuLines);
  lines.push(...callPartLines(cases));
  if (bot !== undefined) {
    lines.push('', `bot (pid ${bot.pid}) VmRSS: ${formatValue(bot.rssAtStartMB, 'MB')} at start, ${formatValue(bot.rssAfterRunsMB, 'MB')} after the runs`);
  }
  lines.push('', ...targetLines(targets));
  for (const note of notes) lines.push(`note: ${note}`);
  return `${lines.join('\n')}\n`;
}

/** Where a middleware call's time went, per case that has the parts (medians over its runs, in ms). */
function callPartLines(cases: readonly CaseResult[]): string[] {
  const withParts = cases.filter((c) => c.detail?.['wireMs'] !== undefined);
  if (withParts.length === 0) return [];
  const labels: Record<(typeof callParts)[number], string> = {
    herderEncodeMs: 'herder encode',
    botDecodeMs: 'bot decode',
    botPluginMs: 'plugin (in bot)',
    botEncodeMs: 'bot encode',
    wireMs: 'wire+frames+journal',
    herderApplyMs: 'herder apply',
  };
  const header = `${pad('  case, transport', 42)}${callParts.map((p) => padLeft(labels[p], 21)).join('')}`;
  const lines = ['', "Where a middleware call's time goes (medians, ms; wire = round trip minus the bot's own times):", header];
  for (const c of withParts) {
    lines.push(`${pad(`  ${c.what}, ${c.transport}`, 42)}${callParts.map((p) => padLeft(String(c.detail?.[p] ?? '?'), 21)).join('')}`);
  }
  return lines;
}

export function machineInfo(): Record<string, unknown> {
  const cpuList = cpus();
  return {
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    kernel: release(),
    cpus: cpuList.length,
    cpuModel: cpuList[0]?.model ?? 'unknown',
    totalMemoryMB: Math.round(totalmem() / 1024 / 1024),
    date: new Date().toISOString(),
  };
}

export async function writeReport(file: string, content: { plan: BenchPlan; cases: readonly CaseResult[]; targets: readonly TargetResult[]; bot: BotMemory | undefined; notes: readonly string[]; wallSeconds: number }): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const document = {
    benchmark: 'middleware',
    machine: machineInfo(),
    ...content,
    reference: { harvesterRpyc: rpycReference },
  };
  await writeFile(file, `${JSON.stringify(document, null, 2)}\n`);
}
