export {
  createLogger,
  LogLevelError,
  logLevels,
  LogTapError,
  secretKeyNames,
  tapLogLines,
  type Logger,
  type LoggerOptions,
  type LogLevel,
  type LogLineListener,
} from './logger.js';
export { RotatingFileSink, type RotationOptions } from './rotating-file.js';
export {
  MIN_MASKED_SECRET_LENGTH,
  SECRET_MASK,
  SecretRegistry,
  maskSecrets,
  processSecrets,
  registerSecret,
} from './secrets.js';
