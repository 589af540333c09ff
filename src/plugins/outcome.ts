// Harvester's plugins answer with a three-way meaning: it worked, it failed for good, or try again later
// (Python's True / False / None next to a diagnostic string). We keep the meaning but make it a typed value,
// so "try later" can never be confused with a missing answer.

export type Outcome<T = undefined> =
  | { readonly kind: 'succeeded'; readonly value: T; readonly diag: string }
  | { readonly kind: 'failed'; readonly diag: string }
  | { readonly kind: 'retry'; readonly diag: string };

export type OutcomeKind = Outcome['kind'];

export function succeeded(): Outcome<undefined>;
export function succeeded<T>(value: T, diag?: string): Outcome<T>;
export function succeeded<T>(value?: T, diag = ''): Outcome<T | undefined> {
  return { kind: 'succeeded', value, diag };
}

/** Failed for good: the caller must not try the same thing again. */
export function failed(diag: string): Outcome<never> {
  return { kind: 'failed', diag };
}

/** Not done yet, nothing lost: the caller tries again in a later cycle. */
export function retryLater(diag: string): Outcome<never> {
  return { kind: 'retry', diag };
}

export function isOutcome(value: unknown): value is Outcome<unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const kind = (value as { kind?: unknown }).kind;
  return (
    (kind === 'succeeded' || kind === 'failed' || kind === 'retry') &&
    typeof (value as { diag?: unknown }).diag === 'string'
  );
}
