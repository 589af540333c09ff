// What the fake PanDA server knows, whichever API reaches it: jobs queued per site and dispatched, the reports
// received (jobs, workers, heartbeats, events, worker statistics, service metrics, dialogs) and harvester
// commands. The API handlers (fake-panda-v1.ts, fake-panda-legacy.ts) only translate to and from these calls.

export interface FakeCommand {
  readonly command_id: number;
  readonly command: string;
  readonly params: unknown;
  status: 'new' | 'retrieved' | 'acknowledged';
}

export class FakePandaState {
  /** Every update received per PandaID, in order, as sent (v1 or legacy names). */
  readonly jobUpdates = new Map<number, Record<string, unknown>[]>();
  /** The latest report of each worker, by workerID. */
  readonly workers = new Map<number, Record<string, unknown>>();
  readonly heartbeats: { harvesterID: string; data: Record<string, unknown> }[] = [];
  /** Every event update received (the entries of the updates' eventRanges, flattened). */
  readonly eventUpdates: Record<string, unknown>[] = [];
  readonly commands: FakeCommand[] = [];
  /** The latest worker statistics of each queue, as decoded from the report. */
  readonly workerStats = new Map<string, unknown>();
  /** Every service metrics entry received. */
  readonly serviceMetrics: unknown[] = [];
  readonly dialogs: unknown[] = [];

  readonly #queued = new Map<string, Record<string, unknown>[]>();
  readonly #dispatched = new Map<number, Record<string, unknown>>();
  readonly #pendingCommands = new Map<number, string>();
  readonly #eventRanges = new Map<number, Record<string, unknown>[]>();

  addJobs(siteName: string, ...jobs: Record<string, unknown>[]): void {
    this.#queued.set(siteName, [...(this.#queued.get(siteName) ?? []), ...jobs]);
  }

  queuedJobs(siteName: string): number {
    return this.#queued.get(siteName)?.length ?? 0;
  }

  /** Hands out up to n jobs of the site (at least one), marking them dispatched. */
  takeJobs(siteName: string, n: number): Record<string, unknown>[] {
    const queue = this.#queued.get(siteName) ?? [];
    const jobs = queue.splice(0, Number.isInteger(n) && n > 0 ? n : 1);
    for (const job of jobs) this.#dispatched.set(Number(job['PandaID']), job);
    return jobs;
  }

  killJob(pandaID: number): void {
    this.#pendingCommands.set(pandaID, 'tobekilled');
  }

  /** Records an update of a dispatched job; the command for it ("NULL" for none), or null for an unknown job. */
  updateJob(pandaID: number, report: Record<string, unknown>): string | null {
    if (!this.#dispatched.has(pandaID)) return null;
    this.jobUpdates.set(pandaID, [...(this.jobUpdates.get(pandaID) ?? []), report]);
    const command = this.#pendingCommands.get(pandaID) ?? 'NULL';
    this.#pendingCommands.delete(pandaID);
    return command;
  }

  /** A job's status as PanDA sees it: the last one reported, "sent" once dispatched, null when unknown. */
  jobStatus(pandaID: number): string | null {
    const last = this.jobUpdates.get(pandaID)?.at(-1);
    const reported = last?.['job_status'] ?? last?.['state'];
    if (typeof reported === 'string') return reported;
    return this.#dispatched.has(pandaID) ? 'sent' : null;
  }

  updateWorkers(workers: readonly Record<string, unknown>[]): boolean[] {
    for (const worker of workers) this.workers.set(Number(worker['workerID']), worker);
    return workers.map(() => true);
  }

  addEventRanges(pandaID: number, ranges: readonly Record<string, unknown>[]): void {
    this.#eventRanges.set(pandaID, [...(this.#eventRanges.get(pandaID) ?? []), ...ranges]);
  }

  takeEventRanges(pandaID: number, n: number): Record<string, unknown>[] {
    return (this.#eventRanges.get(pandaID) ?? []).splice(0, n);
  }

  /** Records event updates ({eventRanges: [...]} entries); one true per event. */
  updateEvents(updates: readonly { eventRanges: Record<string, unknown>[] }[]): boolean[] {
    const returns: boolean[] = [];
    for (const update of updates) {
      for (const event of update.eventRanges) {
        this.eventUpdates.push(event);
        returns.push(true);
      }
    }
    return returns;
  }

  addCommand(command: string, params: unknown = null): number {
    const id = this.commands.length + 1;
    this.commands.push({ command_id: id, command, params, status: 'new' });
    return id;
  }

  takeCommands(n: number): { command_id: number; command: string; params: unknown }[] {
    const fresh = this.commands.filter((c) => c.status === 'new').slice(0, n);
    for (const command of fresh) command.status = 'retrieved';
    return fresh.map(({ command_id, command, params }) => ({ command_id, command, params }));
  }

  acknowledgeCommands(ids: readonly number[]): void {
    for (const command of this.commands) if (ids.includes(command.command_id)) command.status = 'acknowledged';
  }
}
