// Exit codes shared by every command: scripts depend on them.
export const ExitCode = {
  ok: 0,
  /** Something failed while doing the job (a host unreachable, a plugin failing). */
  failure: 1,
  /** Bad input: usage error, invalid configuration, unknown queue. */
  badInput: 2,
} as const;

/** An error the CLI reports as bad input (exit 2) with a one-line reason. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
