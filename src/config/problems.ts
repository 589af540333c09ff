// What is wrong with a configuration file, said so an operator can find it: file, queue, JSON path.

export interface ConfigProblem {
  readonly file: string;
  /** The queue (or template) concerned; absent for file-level problems. */
  readonly queue?: string;
  /** JSON path inside the queue ("rpc.remoteBindPort", "submitter.middleware"); "" for the queue/file itself. */
  readonly path: string;
  readonly message: string;
}

/** "file: queue: json.path: message" ("-" in place of the queue for file-level problems). */
export function formatProblem(p: ConfigProblem): string {
  const path = p.path === '' ? '' : `${p.path}: `;
  return `${p.file}: ${p.queue ?? '-'}: ${path}${p.message}`;
}

/** A configuration file that cannot be read at all (missing, unreadable, a directory). */
export class ConfigFileError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot read configuration file ${file}: ${reason}`, options);
    this.name = 'ConfigFileError';
  }
}

/** A configuration file that was read but cannot be used (master config: bad JSON or wrong types). */
export class ConfigInvalidError extends Error {
  constructor(
    readonly file: string,
    readonly problems: readonly ConfigProblem[],
  ) {
    super(`invalid configuration file ${file}:\n${problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`);
    this.name = 'ConfigInvalidError';
  }
}

/** Joins JSON path segments: ["rpc", "numTunnels"] -> "rpc.numTunnels", array indexes as "[0]". */
export function jsonPath(...segments: readonly PropertyKey[]): string {
  let path = '';
  for (const segment of segments) {
    if (typeof segment === 'number') path += `[${segment}]`;
    else path += path === '' ? String(segment) : `.${String(segment)}`;
  }
  return path;
}
