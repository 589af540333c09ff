// The measured cases. Each returns CaseResults; none of them prints. Inputs are fresh for every run (new
// WorkSpecs, a new directory for submissions) and every call's answer is checked, so a fast failure can
// never pass for a fast call.
import { join } from 'node:path';
import { caseId, type CaseResult, type Transport } from './results.js';
import { pingFrameBytes, type SshProbe } from './ssh-probe.js';
import { repeatTimed, summarize, type RepeatPlan } from './stats.js';
import { cheapCall, checkAll, submitAll, submittedAccessPoints, workersToCheck, workersToSubmit, type BenchPlugins, type WorkRoots } from './workload.js';

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

/** submitWorkers for each N, checkWorkers for N = 1000, and the cheapest plugin call, through `plugins`. */
export async function workloadCases(plugins: BenchPlugins, transport: Transport, roots: WorkRoots, plan: BenchPlan, progress: (line: string) => void): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  for (const n of submitSizes) {
    progress(`${transport}: submitWorkers N=${n}`);
    const root = await roots.make(`submit-${n}-${transport}`);
    const samples = await repeatTimed(
      plan.workload,
      async (run) => workersToSubmit(join(root, `run-${run}`), n),
      (workers) => submitAll(plugins, workers),
    );
    await roots.remove(root);
    results.push(result(`submitWorkers N=${n}`, transport, 'ms', plan.workload, samples));
  }

  progress(`${transport}: checkWorkers N=${checkSize}`);
  const root = await roots.make(`check-${transport}`);
  const accessPoints = await submittedAccessPoints(root, checkSize);
  const checkSamples = await repeatTimed(plan.workload, async () => workersToCheck(accessPoints), (workers) => checkAll(plugins, workers));
  await roots.remove(root);
  results.push(result(`checkWorkers N=${checkSize}`, transport, 'ms', plan.workload, checkSamples));

  progress(`${transport}: getNumJobsPerWorker x${plan.latency.runs}`);
  const cheap = await repeatTimed(plan.latency, async () => undefined, () => cheapCall(plugins));
  results.push(result('getNumJobsPerWorker', transport, 'ms', plan.latency, cheap));
  return results;
}

/** A no-op call (ping) and a raw echo of the same number of bytes, over channels of the same SshLink. */
export async function pingVersusEcho(probe: SshProbe, transport: Transport, plan: BenchPlan, progress: (line: string) => void): Promise<CaseResult[]> {
  const bytes = pingFrameBytes();
  progress(`${transport}: no-op call and ${bytes}-byte echo x${plan.latency.runs}`);
  const ping: number[] = [];
  const echo: number[] = [];
  // Interleaved, so both see the same moments of the machine's load.
  for (let run = 0; run < plan.latency.warmups + plan.latency.runs; run++) {
    let started = performance.now();
    await probe.ping();
    const pingMs = performance.now() - started;
    started = performance.now();
    await probe.echoRoundTrip(bytes);
    const echoMs = performance.now() - started;
    if (run >= plan.latency.warmups) {
      ping.push(pingMs);
      echo.push(echoMs);
    }
  }
  return [
    result('no-op call (ping)', transport, 'ms', plan.latency, ping, { requestBytes: bytes }),
    result('raw SSH channel echo', transport, 'ms', plan.latency, echo, { bytes }),
  ];
}

/** Completed calls per second with `concurrency` calls always in flight, for `seconds`. */
async function callsPerSecond(call: () => Promise<void>, concurrency: number, seconds: number): Promise<number> {
  const started = performance.now();
  const end = started + seconds * 1000;
  let completed = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await call();
        completed += 1;
      }
    }),
  );
  return completed / ((performance.now() - started) / 1000);
}

export async function throughputCase(what: string, transport: Transport, call: () => Promise<void>, tunnels: number, plan: BenchPlan, progress: (line: string) => void): Promise<CaseResult> {
  const { concurrency, seconds, runs, warmupSeconds } = plan.throughput;
  progress(`${transport}: ${what}, ${concurrency} in flight over ${tunnels} tunnels, ${runs} x ${seconds} s`);
  await callsPerSecond(call, concurrency, warmupSeconds);
  const samples: number[] = [];
  for (let run = 0; run < runs; run++) samples.push(await callsPerSecond(call, concurrency, seconds));
  return result(what, transport, 'calls/s', { warmups: 1, runs }, samples, { concurrency, seconds, tunnels });
}
