// The HPC benchmark's printed table (per scenario: each figure for both modes, the paired bot/bare ratio,
// harvester's numbers; where the bot's calls spent their time; the targets) and its JSON document.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { callParts } from './cases.js';
import { hpcModeLabels, hpcModes, type CheckedRun, type HpcMode } from './hpc-results.js';
import { harvesterReference, pairedRatio, type CallBreakdown, type HpcPlan, type HpcSummary, type ModeSummary, type RunFigures } from './hpc-summary.js';
import { formatValue, machineInfo, targetLines, type TargetResult } from './report.js';

const pad = (text: string, width: number): string => text.padEnd(width);
const padLeft = (text: string, width: number): string => text.padStart(width);
const ms = (value: number): string => formatValue(value, 'ms');

/** A table row: its label, how a mode's summary reads in it, and the figure whose paired ratio it shows (if any). */
type Row = readonly [label: string, cell: (s: ModeSummary) => string, ratioOf?: keyof RunFigures];

const perRun = (s: ModeSummary, show: (f: RunFigures) => string): string => s.runs.map(show).join(', ');

/** What the runs shared the machine with. */
const contextRows: readonly Row[] = [
  ['jobs slurmctld held at the start, per run', (s) => perRun(s, (f) => String(f.jobsHeldAtStart))],
  ['load avg at start / CPUs busy, per run', (s) => perRun(s, (f) => `${f.loadAverageAtStart.toFixed(1)}/${Math.round(100 * f.cpuBusyShare)}%`)],
];

const columnWidth = 26;

function scenarioLines(title: string, modes: Partial<Record<HpcMode, ModeSummary>> | undefined, rows: readonly Row[], extra: (label: string) => string = () => ''): string[] {
  if (modes === undefined) return [];
  const lines = [`${pad(title, 46)} ${hpcModes.map((m) => padLeft(hpcModeLabels[m], columnWidth)).join(' ')} ${padLeft('bot/bare', 9)}`];
  for (const [label, cell, ratioOf] of rows) {
    const cells = hpcModes.map((m) => padLeft(modes[m] === undefined ? '-' : cell(modes[m]), columnWidth));
    const ratio = ratioOf !== undefined && modes.bot !== undefined && modes.bare !== undefined ? `${pairedRatio(modes.bot, modes.bare, ratioOf).toFixed(2)}x` : '';
    lines.push(`${pad(`  ${label}`, 46)} ${cells.join(' ')} ${padLeft(ratio, 9)}  ${extra(label)}`.trimEnd());
  }
  return lines;
}

function lifecycleLines(plan: HpcPlan, summary: HpcSummary): string[] {
  const { workers, command, runs, intervalMs } = plan.lifecycle;
  return scenarioLines(`${workers} workers, '${command}', ${runs} run(s)/mode`, summary.lifecycle, [
    ['submit (one submitWorkers call)', (s) => `${ms(s.median.submitMs)} (${Math.round(s.workers / (s.median.submitMs / 1000))}/s)`, 'submitMs'],
    ['monitor cycle, median', (s) => ms(s.median.cycleMedianMs), 'cycleMedianMs'],
    ['monitor cycle, p90', (s) => ms(s.median.cycleP90Ms), 'cycleP90Ms'],
    ['first cycle (all workers)', (s) => ms(s.median.firstCycleMs), 'firstCycleMs'],
    ['cycles, per run', (s) => perRun(s, (f) => String(f.cycles))],
    [`monitor until all final (every ${intervalMs / 1000} s)`, (s) => ms(s.median.monitorMs), 'monitorMs'],
    ['kill (one killWorkers call)', (s) => ms(s.median.killMs), 'killMs'],
    ['sweep (sweepWorker each, 32 at once)', (s) => ms(s.median.sweepMs), 'sweepMs'],
    ['whole run', (s) => ms(s.median.wholeMs), 'wholeMs'],
    ['whole run, per run', (s) => perRun(s, (f) => ms(f.wholeMs))],
    ...contextRows,
  ]);
}

function referenceLines(plan: HpcPlan, summary: HpcSummary): string[] {
  const { workers, command, runs, checks } = plan.reference;
  const h = harvesterReference;
  const lines = scenarioLines(
    `${workers} live workers, '${command}', ${runs} run(s)/mode`,
    summary.reference,
    [
      ['submit (one submitWorkers call)', (s) => ms(s.median.submitMs), 'submitMs'],
      ['submit, per run', (s) => perRun(s, (f) => ms(f.submitMs))],
      [`check of all (settled), median of ${checks}`, (s) => ms(s.median.cycleMedianMs), 'cycleMedianMs'],
      ['check, per run', (s) => perRun(s, (f) => ms(f.cycleMedianMs))],
      ...contextRows,
    ],
    (label) => (label.startsWith('submit (') ? `harvester: ${ms(h.submitMs)}` : label.startsWith('check of') ? `harvester: ${ms(h.checkBareMs)} bare, ${ms(h.checkMiddlewareMs)} via its middleware` : ''),
  );
  if (lines.length === 0) return lines;
  lines.push(`  (harvester: its own SLURM plugins, ${h.workers} workers, one sbatch and one squeue per worker, measured earlier on this machine)`);
  const { bare, bot } = summary.reference ?? {};
  if (bare !== undefined && bot !== undefined) {
    const faster = (theirs: number, ours: number): string => `${(theirs / ours).toFixed(1)}x`;
    lines.push(
      `  ours vs harvester's: submit ${faster(h.submitMs, bot.median.submitMs)} faster via bot (${faster(h.submitMs, bare.median.submitMs)} bare); ` +
        `check ${faster(h.checkMiddlewareMs, bot.median.cycleMedianMs)} via bot vs its middleware, ${faster(h.checkBareMs, bare.median.cycleMedianMs)} bare vs its bare, ` +
        `${faster(h.checkBareMs, bot.median.cycleMedianMs)} via bot vs its bare`,
    );
  }
  return lines;
}

function pairedLines(plan: HpcPlan, summary: HpcSummary): string[] {
  const paired = summary.pairedCycles;
  if (paired === undefined) return [];
  const x = (value: number): string => `${value.toFixed(2)}x`;
  const row = (label: string, value: string): string => `${pad(`  ${label}`, 46)} ${padLeft(value, columnWidth)}`;
  return [
    '',
    `${paired.workers} live workers, '${plan.paired.command}', ${paired.runs} run(s) through the bot, ${plan.paired.checks} checks each (settled), every check joined by the bare monitor's of the same workers (back to back, order alternating)`,
    row('cycles', String(paired.ratio.samples.length)),
    row('bare check, median / p90', `${ms(paired.bareMs.median)} / ${ms(paired.bareMs.p90)}`),
    row('bot check, median / p90', `${ms(paired.botMs.median)} / ${ms(paired.botMs.p90)}`),
    row('bot/bare per cycle, median / p90', `${x(paired.ratio.median)} / ${x(paired.ratio.p90)}`),
    row('  when the bot went first / second', `${x(paired.ratioBotFirst)} / ${x(paired.ratioBareFirst)}`),
  ];
}

function breakdownLine(label: string, parts: CallBreakdown, bare: string): string[] {
  return [
    `${pad(`  ${label}`, 26)}${callParts.map((p) => padLeft(String(parts[p]), 13)).join('')}${padLeft(String(parts.roundTripMs), 12)}${padLeft(bare, 11)}${padLeft(String(parts.calls), 7)}`,
    `${pad('', 26)}the middleware's own time (encode + round trip + apply - plugin): ${ms(parts.middlewareMs)} per call, call/plugin ${parts.callOverPlugin}x`,
  ];
}

/** Where the bot mode's calls spent their time, next to the bare mode's median for the same step. */
function breakdownLines(summary: HpcSummary): string[] {
  const rows: string[] = [];
  for (const scenario of ['lifecycle', 'reference'] as const) {
    const { bot, bare } = summary[scenario] ?? {};
    if (bot?.checkCalls !== undefined) rows.push(...breakdownLine(`${scenario} checks`, bot.checkCalls, bare === undefined ? '-' : bare.median.cycleMedianMs.toFixed(1)));
    if (bot?.submitCalls !== undefined) rows.push(...breakdownLine(`${scenario} submit`, bot.submitCalls, bare === undefined ? '-' : bare.median.submitMs.toFixed(1)));
  }
  const paired = summary.pairedCycles;
  if (paired?.checkCalls !== undefined) rows.push(...breakdownLine('paired checks', paired.checkCalls, paired.bareMs.median.toFixed(1)));
  if (rows.length === 0) return [];
  const labels = ['herder enc', 'bot decode', 'plugin', 'bot encode', 'wire', 'herder apply'];
  return [
    '',
    "Where the bot mode's calls spent their time (medians over the calls, ms; plugin = in the bot; wire = round trip minus the bot's own times):",
    `${pad('  calls', 26)}${labels.map((l) => padLeft(l, 13)).join('')}${padLeft('round trip', 12)}${padLeft('bare', 11)}${padLeft('calls', 7)}`,
    ...rows,
  ];
}

export function renderHpcTable(plan: HpcPlan, summary: HpcSummary, targets: readonly TargetResult[], notes: readonly string[]): string {
  const lines = [
    'bot/bare: geometric mean over r of bot run r / bare run r (run back to back, the order alternating)',
    '',
    ...lifecycleLines(plan, summary),
    '',
    ...referenceLines(plan, summary),
    ...pairedLines(plan, summary),
    ...breakdownLines(summary),
    '',
    ...targetLines(targets),
    ...notes.map((note) => `note: ${note}`),
  ];
  return `${lines.join('\n')}\n`;
}

export async function writeHpcReport(
  file: string,
  content: { plan: HpcPlan; runs: readonly CheckedRun[]; summary: HpcSummary; targets: readonly TargetResult[]; notes: readonly string[]; wallSeconds: number },
): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const document = { benchmark: 'hpc', machine: machineInfo(), ...content, reference: { harvesterSlurmPlugins: harvesterReference } };
  await writeFile(file, `${JSON.stringify(document, null, 2)}\n`);
}
