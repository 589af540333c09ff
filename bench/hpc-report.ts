// Turns the HPC benchmark's checked runs into summaries per scenario and mode, the issue's targets (PASS/MISS),
// the printed table and the JSON document for bench-results/hpc.json.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { callParts } from './cases.js';
import { hpcModeLabels, hpcModes, type CheckedRun, type HpcMode, type HpcScenario, type RemoteCall } from './hpc-results.js';
import { formatValue, machineInfo, target, targetLines, type TargetResult } from './report.js';
import { summarize, type Summary } from './stats.js';

/** harvester's own SLURM plugins (one sbatch and one squeue per worker), measured earlier on this machine. */
export const harvesterReference = {
  workers: 200,
  submitMs: 7000,
  checkBareMs: 3100,
  checkMiddlewareMs: 6200,
} as const;

export interface HpcPlan {
  readonly lifecycle: { readonly workers: number; readonly runs: number; readonly command: string; readonly intervalMs: number };
  readonly reference: { readonly workers: number; readonly runs: number; readonly checks: number; readonly command: string };
}

export interface ModeSummary {
  readonly runs: number;
  readonly workers: number;
  readonly submit: Summary;
  /** Workers per second of the median submission. */
  readonly submitRate: number;
  /** Every checkWorkers call of every run, pooled. */
  readonly cycle: Summary;
  readonly firstCycle: Summary;
  readonly cyclesPerRun: readonly number[];
  readonly monitor: Summary;
  readonly kill: Summary;
  readonly sweep: Summary;
  readonly whole: Summary;
  readonly jobsHeldAtStart: readonly number[];
  readonly loadAverageAtStart: readonly number[];
  readonly cpuBusyShare: readonly number[];
  /** Bot mode: medians of the parts of its checkWorkers calls (ms), and how many calls had them. */
  readonly checkParts?: Record<string, number>;
}

export type HpcSummary = Partial<Record<HpcScenario, Partial<Record<HpcMode, ModeSummary>>>>;

const round2 = (value: number): number => Math.round(value * 100) / 100;

/** A remote call's time outside the plugin: herder encode + round trip + herder apply - the plugin's time in the bot. */
const middlewareMsOf = (call: RemoteCall): number => call.parts!.herderEncodeMs + call.roundTripMs + call.parts!.herderApplyMs - call.parts!.botPluginMs;

function summarizeMode(runs: readonly CheckedRun[], what: string): ModeSummary {
  const of = (pick: (r: CheckedRun) => number, label: string): Summary => summarize(runs.map(pick), `${what} ${label}`);
  const submit = of((r) => r.submitMs, 'submit');
  const workers = runs[0]!.workers;
  const checks = runs.flatMap((r) => r.remoteCalls.filter((c) => c.phase === 'cycles' && c.method === 'monitor.checkWorkers' && c.parts !== undefined));
  const checkParts =
    checks.length === 0
      ? undefined
      : {
          ...Object.fromEntries(callParts.map((part) => [part, round2(summarize(checks.map((c) => c.parts![part]), `${what} ${part}`).median)])),
          roundTripMs: round2(summarize(checks.map((c) => c.roundTripMs), `${what} round trip`).median),
          // What the middleware adds to each call, measured inside the call, so free of the load's drift between runs.
          middlewareMs: round2(summarize(checks.map(middlewareMsOf), `${what} middleware`).median),
          callOverPlugin: round2(summarize(checks.map((c) => (middlewareMsOf(c) + c.parts!.botPluginMs) / c.parts!.botPluginMs), `${what} call/plugin`).median),
          calls: checks.length,
        };
  return {
    runs: runs.length,
    workers,
    submit,
    submitRate: workers / (submit.median / 1000),
    cycle: summarize(runs.flatMap((r) => r.cycles.map((c) => c.ms)), `${what} cycles`),
    firstCycle: of((r) => r.cycles[0]?.ms ?? Number.NaN, 'first cycle'),
    cyclesPerRun: runs.map((r) => r.cycles.length),
    monitor: of((r) => r.monitorMs, 'monitor'),
    kill: of((r) => r.killMs, 'kill'),
    sweep: of((r) => r.sweepMs, 'sweep'),
    whole: of((r) => r.wholeMs, 'whole'),
    jobsHeldAtStart: runs.map((r) => r.jobsHeldAtStart),
    loadAverageAtStart: runs.map((r) => r.loadAverageAtStart),
    cpuBusyShare: runs.map((r) => r.cpuBusyShare),
    ...(checkParts === undefined ? {} : { checkParts }),
  };
}

export function summarizeRuns(runs: readonly CheckedRun[]): HpcSummary {
  const summary: HpcSummary = {};
  for (const scenario of ['lifecycle', 'reference'] as const) {
    for (const mode of hpcModes) {
      const these = runs.filter((r) => r.scenario === scenario && r.mode === mode);
      if (these.length === 0) continue;
      (summary[scenario] ??= {})[mode] = summarizeMode(these, `${scenario} ${mode}`);
    }
  }
  return summary;
}

export function evaluateHpcTargets(summary: HpcSummary): TargetResult[] {
  const targets: TargetResult[] = [];
  const life = summary.lifecycle;
  if (life?.bare !== undefined && life.bot !== undefined) {
    const { bare, bot } = life;
    targets.push(
      target(`monitor cycle, ${bot.workers} workers: bot / bare`, bot.cycle.median / bare.cycle.median, '<=', 1.1, 'x', `medians of ${bot.cycle.samples.length} / ${bare.cycle.samples.length} cycles: ${formatValue(bot.cycle.median, 'ms')} vs ${formatValue(bare.cycle.median, 'ms')}`),
      ...(bot.checkParts === undefined
        ? []
        : [
            target(`monitor cycle, ${bot.workers} workers: bot's call / its plugin`, bot.checkParts['callOverPlugin']!, '<=', 1.1, 'x', `within each call (free of drift between runs): median middleware time ${formatValue(bot.checkParts['middlewareMs']!, 'ms')} per call`),
          ]),
      target(`whole run, ${bot.workers} workers: bot / bare`, bot.whole.median / bare.whole.median, '<=', 1.1, 'x', `medians of ${bot.runs} / ${bare.runs} runs: ${formatValue(bot.whole.median, 'ms')} vs ${formatValue(bare.whole.median, 'ms')}`),
    );
  }
  const ref = summary.reference?.bot;
  if (ref !== undefined) {
    const scale = harvesterReference.workers / ref.workers;
    const basis = scale === 1 ? '' : ` (ours scaled x${scale.toFixed(2)} to ${harvesterReference.workers} workers)`;
    targets.push(
      target(`submit ${ref.workers}: harvester's / ours via bot`, harvesterReference.submitMs / (ref.submit.median * scale), '>=', 3.5, 'x', `${formatValue(harvesterReference.submitMs, 'ms')} / ${formatValue(ref.submit.median, 'ms')}${basis}`),
      target(`check ${ref.workers} live: harvester's middleware / ours via bot`, harvesterReference.checkMiddlewareMs / (ref.cycle.median * scale), '>=', 60, 'x', `${formatValue(harvesterReference.checkMiddlewareMs, 'ms')} / ${formatValue(ref.cycle.median, 'ms')}${basis}`),
    );
  }
  return targets;
}

const pad = (text: string, width: number): string => text.padEnd(width);
const padLeft = (text: string, width: number): string => text.padStart(width);
const ms = (value: number): string => formatValue(value, 'ms');
const ratio = (bot: number | undefined, bare: number | undefined): string => (bot === undefined || bare === undefined ? '' : `${(bot / bare).toFixed(2)}x`);

type Row = [label: string, pick: (s: ModeSummary) => string, ratioOf?: (s: ModeSummary) => number];

function scenarioLines(title: string, modes: Partial<Record<HpcMode, ModeSummary>> | undefined, rows: readonly Row[], extra: (label: string) => string = () => ''): string[] {
  if (modes === undefined) return [];
  const lines = [`${pad(title, 50)} ${hpcModes.map((m) => padLeft(hpcModeLabels[m], 26)).join(' ')} ${padLeft('bot/bare', 9)}`];
  for (const [label, pick, ratioOf] of rows) {
    const cells = hpcModes.map((m) => padLeft(modes[m] === undefined ? '-' : pick(modes[m]), 26));
    const r = ratioOf === undefined ? '' : ratio(modes.bot && ratioOf(modes.bot), modes.bare && ratioOf(modes.bare));
    lines.push(`${pad(`  ${label}`, 50)} ${cells.join(' ')} ${padLeft(r, 9)}  ${extra(label)}`.trimEnd());
  }
  return lines;
}

/** What the runs shared the machine with, per run. */
const contextRows: readonly Row[] = [
  ['jobs slurmctld held at the start, per run', (s) => s.jobsHeldAtStart.join(', ')],
  ['load average at the start / CPUs busy, per run', (s) => s.loadAverageAtStart.map((l, i) => `${l.toFixed(1)}/${Math.round(100 * s.cpuBusyShare[i]!)}%`).join(', ')],
];

function partLines(summary: HpcSummary): string[] {
  const labels = ['herder encode', 'bot decode', 'plugin (in bot)', 'bot encode', 'wire', 'herder apply'];
  const lines: string[] = [];
  for (const scenario of ['lifecycle', 'reference'] as const) {
    const bot = summary[scenario]?.bot;
    const bare = summary[scenario]?.bare;
    if (bot?.checkParts === undefined) continue;
    const parts = bot.checkParts;
    if (lines.length === 0) {
      lines.push('', "Where the bot mode's checkWorkers time goes (medians over its calls, ms; wire = round trip minus the bot's own times):");
      lines.push(`${pad('  scenario', 14)}${labels.map((l) => padLeft(l, 16)).join('')}${padLeft('round trip', 12)}${padLeft('bare call', 11)}${padLeft('calls', 7)}`);
    }
    lines.push(`${pad(`  ${scenario}`, 14)}${callParts.map((p) => padLeft(String(parts[p]), 16)).join('')}${padLeft(String(parts['roundTripMs']), 12)}${padLeft(bare === undefined ? '-' : bare.cycle.median.toFixed(2), 11)}${padLeft(String(parts['calls']), 7)}`);
    lines.push(`${pad('', 14)}the middleware's own time per call (encode + round trip + apply - plugin): ${parts['middlewareMs']} ms, call/plugin ${parts['callOverPlugin']}x (medians)`);
  }
  return lines;
}

export function renderHpcTable(plan: HpcPlan, summary: HpcSummary, targets: readonly TargetResult[], notes: readonly string[]): string {
  const life = plan.lifecycle;
  const ref = plan.reference;
  const lines = [
    ...scenarioLines(`${life.workers} workers, '${life.command}', ${life.runs} run(s) per mode`, summary.lifecycle, [
      ['submit (one submitWorkers call)', (s) => `${ms(s.submit.median)} (${Math.round(s.submitRate)}/s)`, (s) => s.submit.median],
      ['monitor cycle, median', (s) => ms(s.cycle.median), (s) => s.cycle.median],
      ['monitor cycle, p90', (s) => ms(s.cycle.p90), (s) => s.cycle.p90],
      ['first cycle (all workers checked)', (s) => ms(s.firstCycle.median), (s) => s.firstCycle.median],
      ['cycles per run', (s) => s.cyclesPerRun.join(', ')],
      [`monitor until all final (every ${life.intervalMs / 1000} s)`, (s) => ms(s.monitor.median), (s) => s.monitor.median],
      ['kill (one killWorkers call)', (s) => ms(s.kill.median), (s) => s.kill.median],
      ['sweep (sweepWorker each, 32 at once)', (s) => ms(s.sweep.median), (s) => s.sweep.median],
      ['whole run', (s) => ms(s.whole.median), (s) => s.whole.median],
      ...contextRows,
    ]),
    '',
    ...scenarioLines(
      `${ref.workers} live workers ('${ref.command}'), ${ref.runs} run(s) per mode`,
      summary.reference,
      [
        ['submit (one submitWorkers call)', (s) => ms(s.submit.median), (s) => s.submit.median],
        [`check of all live (settled), ${ref.checks}/run`, (s) => ms(s.cycle.median), (s) => s.cycle.median],
        ...contextRows,
      ],
      (label) =>
        label.startsWith('submit')
          ? `harvester: ${ms(harvesterReference.submitMs)}`
          : label.startsWith('check')
            ? `harvester: ${ms(harvesterReference.checkBareMs)} bare, ${ms(harvesterReference.checkMiddlewareMs)} via its middleware`
            : '',
    ),
    `  (harvester: its own SLURM plugins, ${harvesterReference.workers} workers, one sbatch and one squeue per worker, measured earlier on this machine)`,
  ];
  const refSummary = summary.reference;
  if (refSummary?.bare !== undefined && refSummary.bot !== undefined) {
    const { bare, bot } = refSummary;
    lines.push(
      `  ours vs harvester's: submit ${(harvesterReference.submitMs / bot.submit.median).toFixed(1)}x faster via bot (${(harvesterReference.submitMs / bare.submit.median).toFixed(1)}x bare); ` +
        `check ${(harvesterReference.checkMiddlewareMs / bot.cycle.median).toFixed(0)}x faster via bot vs its middleware, ${(harvesterReference.checkBareMs / bare.cycle.median).toFixed(0)}x bare vs its bare, ` +
        `${(harvesterReference.checkBareMs / bot.cycle.median).toFixed(0)}x via bot vs its bare`,
    );
  }
  lines.push(...partLines(summary), '', ...targetLines(targets));
  for (const note of notes) lines.push(`note: ${note}`);
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
