// Killing local-process payloads as whole process groups: SIGTERM, then SIGKILL to what is left after a grace
// period. Many groups are handled together (one /proc scan per poll), so killing N workers takes one grace
// period, not N. A group is signalled only when it is provably the payload's: its leader still is the
// recorded process (pid, start time, boot), or the leader has exited and members of its group remain (Linux
// does not reuse a number still in use as a process group id).
import { setTimeout as sleep } from 'node:timers/promises';
import { isRunning, liveGroupMembers, ownProcessGroup, readProcessStat, type ProcessIdentity } from './local-process-identity.js';

export interface KillResult {
  /** gone: nothing was running; terminated / killed: it ended after SIGTERM / SIGKILL; survived: still there after
   * SIGKILL; aborted: SIGTERM sent, waiting stopped by the caller's signal; refused: not a group we may signal. */
  readonly kind: 'gone' | 'terminated' | 'killed' | 'survived' | 'aborted' | 'refused';
  readonly detail: string;
}

export interface KillOptions {
  readonly graceMs: number;
  /** How long to wait for the group to disappear after SIGKILL. */
  readonly killConfirmMs: number;
  readonly signal: AbortSignal;
  /** Between checks whether the groups are gone. */
  readonly pollMs?: number;
}

function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ESRCH') return false;
    throw error;
  }
}

/** Kills the process groups led by the given payloads; one result per identity, in order. */
export async function killPayloadGroups(identities: readonly ProcessIdentity[], options: KillOptions): Promise<KillResult[]> {
  const results: (KillResult | undefined)[] = identities.map(() => undefined);
  const ownGroup = await ownProcessGroup();
  const candidates = new Map<number, number[]>(); // pgid -> indexes of identities
  for (const [index, identity] of identities.entries()) {
    const pgid = identity.pid;
    if (pgid <= 1 || pgid === process.pid || pgid === ownGroup) {
      results[index] = { kind: 'refused', detail: `refusing to signal process group ${pgid}: it is this process's own or the system's` };
      continue;
    }
    const leader = await readProcessStat(pgid);
    const leaderLives = leader !== undefined && leader.state !== 'Z' && leader.state !== 'X';
    if (leaderLives && !(await isRunning(identity))) {
      results[index] = { kind: 'gone', detail: `pid ${pgid} now belongs to another process: the payload is long gone` };
      continue;
    }
    candidates.set(pgid, [...(candidates.get(pgid) ?? []), index]);
  }

  const settle = (pgid: number, result: KillResult): void => {
    for (const index of candidates.get(pgid) ?? []) results[index] = result;
    candidates.delete(pgid);
  };
  const settleGone = async (result: (pgid: number) => KillResult): Promise<void> => {
    const live = await liveGroupMembers(new Set(candidates.keys()));
    for (const pgid of [...candidates.keys()]) if (!live.has(pgid)) settle(pgid, result(pgid));
  };

  await settleGone((pgid) => ({ kind: 'gone', detail: `process group ${pgid} had already ended` }));
  for (const pgid of [...candidates.keys()]) {
    if (!signalGroup(pgid, 'SIGTERM')) settle(pgid, { kind: 'gone', detail: `process group ${pgid} had already ended` });
  }
  const pollMs = options.pollMs ?? 50;
  const graceEnd = Date.now() + options.graceMs;
  while (candidates.size > 0 && Date.now() < graceEnd && !options.signal.aborted) {
    await sleep(Math.min(pollMs, Math.max(0, graceEnd - Date.now())));
    await settleGone((pgid) => ({ kind: 'terminated', detail: `process group ${pgid} ended after SIGTERM` }));
  }
  if (options.signal.aborted) {
    for (const pgid of [...candidates.keys()]) {
      settle(pgid, { kind: 'aborted', detail: `process group ${pgid} was sent SIGTERM; stopped waiting for it (aborted)` });
    }
  }
  for (const pgid of [...candidates.keys()]) {
    if (!signalGroup(pgid, 'SIGKILL')) settle(pgid, { kind: 'terminated', detail: `process group ${pgid} ended after SIGTERM` });
  }
  const killEnd = Date.now() + options.killConfirmMs;
  while (candidates.size > 0) {
    await settleGone((pgid) => ({ kind: 'killed', detail: `process group ${pgid} ignored SIGTERM for ${options.graceMs} ms; killed with SIGKILL` }));
    if (candidates.size === 0 || Date.now() >= killEnd) break;
    await sleep(pollMs);
  }
  for (const [pgid, members] of await liveGroupMembers(new Set(candidates.keys()))) {
    settle(pgid, { kind: 'survived', detail: `process group ${pgid} survived SIGKILL (members ${members.join(', ')}; uninterruptible?)` });
  }
  for (const pgid of [...candidates.keys()]) settle(pgid, { kind: 'killed', detail: `process group ${pgid} killed with SIGKILL` });
  // Every identity was settled above: refused, gone, or one of the candidates settled in each branch.
  return results as KillResult[];
}
