// How built-in plugins honour ctx.signal. The choice, for every built-in:
// - a method returning one Outcome per item (submitWorkers, killWorkers) stops at the first item it has not
//   started and answers retryLater for that item and every later one; items already done keep their outcome;
// - a method returning one Outcome for the batch answers retryLater for the batch;
// - a method whose contract has no Outcome (jobRequested, isAlive, ...) throws PluginAbortedError.
// An item is never left half done by an abort: the check happens between items only.
import type { PluginContext } from './contracts.js';
import { PluginAbortedError } from './errors.js';
import { retryLater, type Outcome } from './outcome.js';

export function abortedDiag(ctx: PluginContext): string {
  const reason: unknown = ctx.signal.reason;
  const why = reason instanceof Error ? reason.message : reason === undefined ? 'no reason given' : String(reason);
  return `aborted before this item was started (${why})`;
}

/** Runs `each` over items in order; once ctx.signal is aborted, the remaining items get retry outcomes. */
export async function forEachUntilAborted<T, R>(
  ctx: PluginContext,
  items: readonly T[],
  each: (item: T, index: number) => Promise<Outcome<R>>,
): Promise<Outcome<R>[]> {
  const outcomes: Outcome<R>[] = [];
  for (const [index, item] of items.entries()) {
    if (ctx.signal.aborted) {
      outcomes.push(retryLater(abortedDiag(ctx)));
      continue;
    }
    outcomes.push(await each(item, index));
  }
  return outcomes;
}

export function throwIfAborted(ctx: PluginContext, step: string): void {
  if (ctx.signal.aborted) throw new PluginAbortedError(ctx.queue.queueName, step, { cause: ctx.signal.reason });
}

/** Waits for `work` (which must not reject) unless ctx.signal aborts first: true when it settled. */
export function settledUnlessAborted(ctx: PluginContext, work: Promise<unknown>): Promise<boolean> {
  const { signal } = ctx;
  if (signal.aborted) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    const onAbort = (): void => resolve(false);
    signal.addEventListener('abort', onAbort, { once: true });
    void work.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    });
  });
}
