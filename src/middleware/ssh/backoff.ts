// Reconnect delays: exponential with "equal jitter" (half fixed, half random), so that many slots losing
// their links at the same moment (sshd restart) do not all knock again at the same instant.

export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
}

export const defaultBackoff: BackoffPolicy = Object.freeze({ initialMs: 500, maxMs: 30_000 });

/**
 * Delay before the next attempt, after `failures` consecutive failures (0 = the link just broke after
 * working). Errors that retrying cannot heal (wrong password, changed host key) wait the maximum straight
 * away: hammering a login node with a wrong password can get the account locked.
 */
export function backoffDelay(policy: BackoffPolicy, failures: number, persistent: boolean, random: () => number = Math.random): number {
  const exponent = Math.max(0, failures - 1);
  const base = persistent ? policy.maxMs : Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(exponent, 30));
  return Math.round(base / 2 + (random() * base) / 2);
}
