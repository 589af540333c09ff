// Failures of `harvester remote-install`. Each names the host, the directory and the step, and whether the
// remote host was left as it was (which it always is, except for the step's own temporary files).

export type InstallStep =
  | 'connect'
  | 'lock'
  | 'remote-setup'
  | 'probe'
  | 'runtime'
  | 'bundle'
  | 'disk-space'
  | 'upload'
  | 'verify'
  | 'unpack'
  | 'smoke-test'
  | 'switch'
  | 'rollback'
  | 'start-bot';

export interface InstallTarget {
  readonly host: string;
  readonly user: string;
  /** The install directory as given (relative to the user's home unless absolute). */
  readonly dir: string;
}

export class RemoteInstallError extends Error {
  override readonly name = 'RemoteInstallError';
  readonly step: InstallStep;
  readonly host: string;
  readonly user: string;
  readonly dir: string;

  constructor(target: InstallTarget, step: InstallStep, detail: string, options?: { cause?: unknown }) {
    super(`remote-install ${target.user}@${target.host}:${target.dir}: ${step}: ${detail}`, options);
    this.step = step;
    this.host = target.host;
    this.user = target.user;
    this.dir = target.dir;
  }
}
