// Running a per-item async step over many items with a bounded number in flight. Monitors look at thousands of
// workers per call, each a few small file reads: one at a time leaves the process waiting on the thread pool
// for every read in turn, all at once would open thousands of files. Results keep the items' order.

/** How many items the built-in plugins work on at once. */
export const defaultItemConcurrency = 32;

/**
 * Maps items through `step` with at most `limit` steps in flight; resolves with the results in item order.
 * Once `shouldStop()` answers true no further item is started, and the items not started are left out of the
 * answer (`undefined` entries): the caller decides what they mean. The first step that throws rejects the whole
 * map after the steps in flight have settled.
 */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  step: (item: T, index: number) => Promise<R>,
  shouldStop: () => boolean = () => false,
): Promise<(R | undefined)[]> {
  const results: (R | undefined)[] = new Array<R | undefined>(items.length).fill(undefined);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length && failure === undefined && !shouldStop()) {
      const index = next++;
      try {
        results[index] = await step(items[index]!, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure !== undefined) throw failure.error;
  return results;
}
