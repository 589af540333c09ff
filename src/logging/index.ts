export { createLogger, LogLevelError, logLevels, secretKeyNames, type Logger, type LoggerOptions, type LogLevel } from './logger.js';
export {
  MIN_MASKED_SECRET_LENGTH,
  SECRET_MASK,
  SecretRegistry,
  maskSecrets,
  processSecrets,
  registerSecret,
} from './secrets.js';
