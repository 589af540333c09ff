// Kills local-process workers (their whole process group: SIGTERM, SIGKILL after killGracePeriod seconds)
// and sweeps them by removing the access point, as harvester's sweepers clean up after a batch job. Both are
// idempotent: a payload already gone, or an access point already removed, is a success.
import type { WorkSpec } from '../../spec/index.js';
import { abortedDiag } from '../abort.js';
import type { PluginContext, Sweeper } from '../contracts.js';
import { PluginOptionError } from '../errors.js';
import { OptionReader, type PluginOptions } from '../options.js';
import { failed, retryLater, succeeded, type Outcome } from '../outcome.js';
import { removeAccessPoint } from './access-point-removal.js';
import { readPidFile, LocalProcessStateError } from './local-process-files.js';
import type { ProcessIdentity } from './local-process-identity.js';
import { killPayloadGroups, type KillResult } from './local-process-kill.js';
import { accessPointOf, errorText } from './worker-fields.js';

function killOutcome(result: KillResult): Outcome {
  switch (result.kind) {
    case 'gone':
    case 'terminated':
    case 'killed':
      return succeeded(undefined, result.detail);
    case 'survived':
    case 'aborted':
      return retryLater(result.detail);
    case 'refused':
      return failed(result.detail);
  }
}

export class LocalProcessSweeper implements Sweeper {
  private readonly graceMs: number;
  private readonly killConfirmMs: number;

  constructor(options: PluginOptions = {}) {
    const read = new OptionReader('LocalProcessSweeper', options);
    const grace = read.number('killGracePeriod', 10);
    if (grace < 0) throw new PluginOptionError('LocalProcessSweeper', 'killGracePeriod', `must be zero or more seconds, got ${grace}`);
    this.graceMs = grace * 1000;
    const confirm = read.number('killConfirmTimeout', 5);
    if (confirm < 0) throw new PluginOptionError('LocalProcessSweeper', 'killConfirmTimeout', `must be zero or more seconds, got ${confirm}`);
    this.killConfirmMs = confirm * 1000;
  }

  async killWorker(ctx: PluginContext, workSpec: WorkSpec): Promise<Outcome> {
    const [outcome] = await this.killWorkers(ctx, [workSpec]);
    return outcome!;
  }

  /** Kills all given workers together, so the grace period is waited once for the whole batch. */
  async killWorkers(ctx: PluginContext, workSpecs: WorkSpec[]): Promise<Outcome[]> {
    if (ctx.signal.aborted) return workSpecs.map(() => retryLater(abortedDiag(ctx)));
    const outcomes: (Outcome | undefined)[] = [];
    const toKill: { index: number; identity: ProcessIdentity }[] = [];
    for (const [index, workSpec] of workSpecs.entries()) {
      const found = await this.payloadOf(workSpec);
      if ('outcome' in found) outcomes[index] = found.outcome;
      else toKill.push({ index, identity: found.identity });
    }
    const results = await killPayloadGroups(
      toKill.map((k) => k.identity),
      { graceMs: this.graceMs, killConfirmMs: this.killConfirmMs, signal: ctx.signal },
    );
    for (const [n, { index }] of toKill.entries()) {
      const outcome = killOutcome(results[n]!);
      outcomes[index] = outcome;
      const workSpec = workSpecs[index]!;
      ctx.log.debug({ workerID: workSpec.workerID, batchID: workSpec.batchID, result: results[n]!.kind }, outcome.diag);
    }
    return outcomes as Outcome[];
  }

  async sweepWorker(ctx: PluginContext, workSpec: WorkSpec): Promise<Outcome> {
    // A payload still running would write into a directory we are removing: end it first.
    return removeAccessPoint(ctx, workSpec, () => this.killWorker(ctx, workSpec));
  }

  private async payloadOf(workSpec: WorkSpec): Promise<{ identity: ProcessIdentity } | { outcome: Outcome }> {
    const accessPoint = accessPointOf(workSpec);
    if (accessPoint === undefined) return { outcome: succeeded(undefined, 'no accessPoint: nothing to kill') };
    try {
      const claim = await readPidFile(accessPoint, workSpec.workerID);
      if (claim === undefined) return { outcome: succeeded(undefined, `no payload was started in ${accessPoint}: nothing to kill`) };
      if (workSpec.batchID !== null && workSpec.batchID !== String(claim.pid)) {
        return { outcome: failed(`batchID ${workSpec.batchID} is not the payload in ${accessPoint} (pid ${claim.pid}): not killing`) };
      }
      return { identity: claim };
    } catch (error) {
      if (error instanceof LocalProcessStateError) return { outcome: failed(error.message) };
      return { outcome: retryLater(`worker ${String(workSpec.workerID)}: cannot read the payload pid in ${accessPoint}: ${errorText(error)}`) };
    }
  }
}
