// The measured cases. Each returns CaseResults; none of them prints. Inputs are fresh for every run (new
// WorkSpecs, a new directory for submissions) and every call's answer is checked, so a fast failure can
// never pass for a fast call.
import { join } from 'node:path';
import type { BotClient } from '../src/middleware/herder/bot-client.js';
import type { RemoteCallTiming } from '../src/middleware/rpc/call-payload.js';
import { cpuSnapshot, type CpuGroups } from './cpu-usage.js';
import { caseId, type CaseResult, type Transport } from './results.js';
import { callFrameBytes, pingFrameBytes, type SshProbe } from './ssh-probe.js';
import { repeatTimed, summarize, type RepeatPlan } from './stats.js';
import { cheapCall, checkAll, checkRequestArgs, submitAll, submittedAccessPoints, workersToCheck, workersToSubmit, type BenchPlugins, type WorkRoots } from './workload.js';

export interface BenchPlan {
  /** submitWorkers / checkWorkers: the "7 runs after 2 warm-ups". */
  readonly workload: RepeatPlan;
  /** Single small calls: many more runs, they take a millisecond each. */
  readonly latency: RepeatPlan;
  readonly throughput: { readonly concurrency: number; readonly seconds: number; readonly runs: number; readonly warmupSeconds: number };
}

export const defaultPlan: BenchPlan = {
  workload: { warmups: 2, runs: 7 },
  latency: { warmups: 20, runs: 200 },
  throughput: { concurrency: 64, seconds: 3, runs: 3, warmupSeconds: 1 },
};

export const submitSizes = [1, 100, 1000] as const;
export const checkSize = 1000;

function result(what: string, transport: Transport, unit: CaseResult['unit'], plan: RepeatPlan, samples: number[], detail?: CaseResult['detail']): CaseResult {
  const id = caseId(what, transport);
  return { id, what, transport, unit, warmups: plan.warmups, runs: plan.runs, ...summarize(samples, id), ...(detail === undefined ? {} : { detail }) };
}

/** One transport's plugins, as the workload cases need them. */
export interface WorkloadTarget {
  readonly transport: Transport;
  readonly plugins: BenchPlugins;
  /** The herder's client, for middleware transports: its call timings split a call's time into parts. */
  readonly client?: BotClient;
}

/** The parts of a remote call's time, in the order they happen (detail keys of the checkWorkers results). */
export const callParts = ['herderEncodeMs', 'botDecodeMs', 'botPluginMs', 'botEncodeMs', 'wireMs', 'herderApplyMs'] as const;

/** One call's time split into callParts (undefined when the bot sent no times). */
export function partsOf(timing: RemoteCallTiming): Record<(typeof callParts)[number], number> | undefined {
  if (timing.bot === undefined) return undefined;
  const { decodeMs, pluginMs, encodeMs } = timing.bot;
  return {
    herderEncodeMs: timing.herderEncodeMs,
    botDecodeMs: decodeMs,
    botPluginMs: pluginMs,
    botEncodeMs: encodeMs,
    // Everything between the herder and the bot's handler: JSON text, frames, SSH, the journal's lines.
    wireMs: timing.roundTripMs - decodeMs - pluginMs - encodeMs,
    herderApplyMs: timing.herderApplyMs,
  };
}

/**
 * Records the timings of `method` on every target's client while `run` runs, and returns per transport the
 * median of each part over the timed runs (each run makes one such call per target; warm-ups come first).
 */
async function timedParts<T>(
  targets: readonly WorkloadTarget[],
  method: string,
  plan: RepeatPlan,
  run: () => Promise<T>,
): Promise<{ result: T; parts: Map<Transport, Record<string, number>> }> {
  const timings = new Map<Transport, RemoteCallTiming[]>();
  const stops = targets.flatMap((target) => {
    if (target.client === undefined) return [];
    const list: RemoteCallTiming[] = [];
    timings.set(target.transport, list);
    return [target.client.onTiming((timing) => timing.method === method && list.push(timing))];
  });
  let result: T;
  try {
    result = await run();
  } finally {
    for (const stop of stops) stop();
  }
  const out = new Map<Transport, Record<string, number>>();
  for (const [transport, list] of timings) {
    const parts = list.slice(plan.warmups).map(partsOf).filter((p) => p !== undefined);
    if (parts.length === 0) continue;
    out.set(transport, Object.fromEntries(callParts.map((part) => [part, round2(summarize(parts.map((p) => p[part]), `${method} ${part}`).median)])));
  }
  return { result, parts: out };
}

const round2 = (value: number): number => Math.round(value * 100) / 100;

/**
 * Runs `call` for every transport in turn, run by run (bare, then each middleware, then the next run), so
 * each middleware sample has a bare sample taken moments before it. On a shared machine whose load drifts,
 * the per-run ratios are far steadier than a ratio of two medians taken minutes apart.
 */
async function interleaved<T>(
  targets: readonly WorkloadTarget[],
  plan: RepeatPlan,
  prepare: (target: WorkloadTarget, run: number) => Promise<T>,
  call: (target: WorkloadTarget, input: T) => Promise<void>,
): Promise<Map<Transport, number[]>> {
  const samples = new Map<Transport, number[]>(targets.map((t) => [t.transport, []]));
  for (let run = 0; run < plan.warmups + plan.runs; run++) {
    for (const target of targets) {
      const input = await prepare(target, run);
      const started = performance.now();
      await call(target, input);
      const elapsed = performance.now() - started;
      if (run >= plan.warmups) samples.get(target.transport)!.push(elapsed);
    }
  }
  return samples;
}

/** CaseResults for `what`; middleware ones carry the median of their per-run ratios to bare. */
function pairedResults(what: string, plan: RepeatPlan, samples: Map<Transport, number[]>, includeBare: boolean): CaseResult[] {
  const bare = samples.get('bare');
  const results: CaseResult[] = [];
  for (const [transport, values] of samples) {
    if (transport === 'bare' && !includeBare) continue;
    const detail: Record<string, number> = {};
    if (transport !== 'bare' && bare !== undefined) {
      const ratios = values.map((v, i) => v / bare[i]!);
      detail['ratioToBareMedian'] = summarize(ratios, `${what} ratio`).median;
      detail['pairedBareMedianMs'] = summarize(bare, `${what} bare`).median;
    }
    results.push(result(what, transport, 'ms', plan, values, Object.keys(detail).length > 0 ? detail : undefined));
  }
  return results;
}

/**
 * submitWorkers for each N and checkWorkers for N = 1000, interleaved over `targets` (bare first), and the
 * cheapest plugin call per transport. `includeBare` false: bare runs only as the pairing reference.
 */
export async function workloadCases(targets: readonly WorkloadTarget[], roots: WorkRoots, plan: BenchPlan, includeBare: boolean, progress: (line: string) => void): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  const names = targets.map((t) => t.transport).join(', ');
  for (const n of submitSizes) {
    progress(`submitWorkers N=${n}: ${names}`);
    const root = await roots.make(`submit-${n}`);
    const samples = await interleaved(
      targets,
      plan.workload,
      async (target, run) => workersToSubmit(join(root, `${target.transport}-${run}`), n),
      (target, workers) => submitAll(target.plugins, workers),
    );
    await roots.remove(root);
    results.push(...pairedResults(`submitWorkers N=${n}`, plan.workload, samples, includeBare));
  }

  progress(`checkWorkers N=${checkSize}: ${names}`);
  const root = await roots.make('check');
  const accessPoints = await submittedAccessPoints(root, checkSize);
  const { result: checkSamples, parts: checkParts } = await timedParts(targets, 'monitor.checkWorkers', plan.workload, () =>
    interleaved(
      targets,
      plan.workload,
      async () => workersToCheck(accessPoints),
      (target, workers) => checkAll(target.plugins, workers),
    ),
  );
  await roots.remove(root);
  results.push(
    ...pairedResults(`checkWorkers N=${checkSize}`, plan.workload, checkSamples, includeBare).map((r) => {
      const parts = checkParts.get(r.transport);
      return parts === undefined ? r : { ...r, detail: { ...r.detail, ...parts } };
    }),
  );

  for (const target of targets) {
    if (target.transport === 'bare' && !includeBare) continue;
    progress(`${target.transport}: getNumJobsPerWorker x${plan.latency.runs}`);
    const cheap = await repeatTimed(plan.latency, async () => undefined, () => cheapCall(target.plugins));
    results.push(result('getNumJobsPerWorker', target.transport, 'ms', plan.latency, cheap));
  }
  return results;
}

/** A no-op call (ping) and a raw echo of the same number of bytes, over channels of the same SshLink. */
export async function pingVersusEcho(probe: SshProbe, transport: Transport, plan: BenchPlan, progress: (line: string) => void): Promise<CaseResult[]> {
  const bytes = pingFrameBytes();
  const bigBytes = callFrameBytes(checkRequestArgs(checkSize));
  progress(`${transport}: no-op call, ${bytes}-byte echo and ${bigBytes}-byte echo x${plan.latency.runs}`);
  const ping: number[] = [];
  const echo: number[] = [];
  const bigEcho: number[] = [];
  // Interleaved, so all see the same moments of the machine's load.
  for (let run = 0; run < plan.latency.warmups + plan.latency.runs; run++) {
    let started = performance.now();
    await probe.ping();
    const pingMs = performance.now() - started;
    started = performance.now();
    await probe.echoRoundTrip(bytes);
    const echoMs = performance.now() - started;
    started = performance.now();
    await probe.echoRoundTrip(bigBytes);
    const bigEchoMs = performance.now() - started;
    if (run >= plan.latency.warmups) {
      ping.push(pingMs);
      echo.push(echoMs);
      bigEcho.push(bigEchoMs);
    }
  }
  return [
    result('no-op call (ping)', transport, 'ms', plan.latency, ping, { requestBytes: bytes }),
    result('raw SSH channel echo', transport, 'ms', plan.latency, echo, { bytes }),
    result(`raw SSH channel echo, checkWorkers N=${checkSize} request size`, transport, 'ms', plan.latency, bigEcho, { bytes: bigBytes }),
  ];
}

/** Completed calls with `concurrency` calls always in flight for `seconds`, and the time it took. */
async function callsInFlight(call: () => Promise<void>, concurrency: number, seconds: number): Promise<{ calls: number; ms: number }> {
  const started = performance.now();
  const end = started + seconds * 1000;
  let calls = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await call();
        calls += 1;
      }
    }),
  );
  return { calls, ms: performance.now() - started };
}

/**
 * Calls per second with many calls in flight. With `cpuGroups`, also the CPU each group of processes spent
 * per call over the timed runs (detail "cpuUsPerCall:<group>"), to show which process is the bottleneck.
 */
export async function throughputCase(
  what: string,
  transport: Transport,
  call: () => Promise<void>,
  tunnels: number,
  plan: BenchPlan,
  progress: (line: string) => void,
  cpuGroups?: CpuGroups,
): Promise<CaseResult> {
  const { concurrency, seconds, runs, warmupSeconds } = plan.throughput;
  progress(`${transport}: ${what}, ${concurrency} in flight over ${tunnels} tunnels, ${runs} x ${seconds} s`);
  await callsInFlight(call, concurrency, warmupSeconds);
  const samples: number[] = [];
  let totalCalls = 0;
  let totalMs = 0;
  const before = cpuGroups === undefined ? undefined : cpuSnapshot(cpuGroups);
  for (let run = 0; run < runs; run++) {
    const { calls, ms } = await callsInFlight(call, concurrency, seconds);
    samples.push(calls / (ms / 1000));
    totalCalls += calls;
    totalMs += ms;
  }
  const detail: Record<string, number> = { concurrency, seconds, tunnels };
  if (cpuGroups !== undefined && before !== undefined) {
    const after = cpuSnapshot(cpuGroups);
    for (const name of Object.keys(cpuGroups)) {
      detail[`cpuUsPerCall:${name}`] = Math.round(((after[name]! - before[name]!) * 1000) / totalCalls);
      detail[`cpuShare:${name}`] = Number(((after[name]! - before[name]!) / totalMs).toFixed(2));
    }
  }
  return result(what, transport, 'calls/s', { warmups: 1, runs }, samples, detail);
}
