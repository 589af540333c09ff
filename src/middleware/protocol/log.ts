// The little the middleware needs from a logger. pino's Logger satisfies it, so the lead's logger plugs in
// unchanged; tests pass a recording one.
export interface MiddlewareLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}
