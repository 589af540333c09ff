// The slice of a logger the SSH transport needs. pino's Logger fits it structurally, so callers pass theirs;
// keeping our own narrow type means this folder does not depend on how logging is set up.

export interface SshLog {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** A logger that drops everything, for callers that truly have nowhere to log (tools, tests). */
export const silentLog: SshLog = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
