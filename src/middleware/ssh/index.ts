// SSH transport of the RPC middleware: routes, links through a jump host, and the self-healing tunnel pool.
export * from './errors.js';
export { type SshLog, silentLog } from './log.js';
export {
  RedactedSecret,
  defaultSshTimings,
  describeRoute,
  routeFromMiddleware,
  routeKey,
  type RouteOptions,
  type SshAuth,
  type SshHop,
  type SshRoute,
  type SshTimings,
} from './route.js';
export { connectRoute, loadPrivateKey, type ConnectOptions, type ConnectStep, type StepReport } from './connect.js';
export { SshLink, type ExecOptions, type ExecResult, type LinkCloseReason, type SpawnOptions, type UploadOptions } from './link.js';
export { runOtpCommand, type AuthMethodName, type OtpRunner } from './auth.js';
export { checkAndRecordHostKey, hostKeyFingerprint, parseKnownHosts, type KnownHostsDecision } from './known-hosts.js';
export { backoffDelay, defaultBackoff, type BackoffPolicy } from './backoff.js';
export {
  NoHealthyTunnelError,
  TunnelAttemptTimeoutError,
  TunnelLostError,
  TunnelPool,
  TunnelPoolStoppedError,
  type AcquireOptions,
  type LinkConnector,
  type PoolLink,
  type SlotState,
  type SlotStatus,
  type TunnelPoolOptions,
} from './tunnel-pool.js';
