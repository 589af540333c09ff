// What SLURM's command line tools mean by their error messages. Their exit code is 1 for nearly everything,
// so the message decides whether to try again later (the controller is not answering, munge is down) or
// whether SLURM said no for good (a bad partition, a malformed #SBATCH line).

/** Why a SLURM command did not do what was asked. */
export type SlurmFailureKind =
  /** slurmctld (or slurmdbd, for sacct) is down, overloaded or unreachable: try again later. */
  | 'unreachable'
  /** munge cannot make or check credentials (munged down, clocks apart, different keys): try again later. */
  | 'authentication'
  /** The cluster keeps no accounting (sacct cannot help): use squeue alone. */
  | 'accounting-disabled'
  /** Anything else: SLURM refused the request. */
  | 'refused';

// Phrases as SLURM 22.05's slurm_strerror and the tools print them, matched case-insensitively.
const unreachable = [
  'unable to contact slurm controller',
  'socket timed out on send/recv operation',
  'connection refused',
  'zero bytes were transmitted or received',
  'communication connection failure',
  'slurm backup controller in standby mode',
  'connection timed out',
  'no route to host',
  'network is unreachable',
  'transport endpoint is not connected',
  'unable to establish controller machine',
  'slurmctld is not responding',
  'problem talking to the database',
  'persistent connection',
  'slurmdbd: ',
];

const authentication = [
  'munge',
  'invalid authentication credential',
  'protocol authentication error',
  'authentication failure',
  'credential expired',
  'rewound credential',
];

const accountingDisabled = ['accounting storage is disabled', 'slurm accounting storage is disabled', 'no accounting storage', 'accounting_storage/none'];

function has(text: string, phrases: readonly string[]): boolean {
  return phrases.some((p) => text.includes(p));
}

/** The meaning of a SLURM tool's error output (stderr, with stdout for tools that print errors there). */
export function slurmFailureKind(output: string): SlurmFailureKind {
  const text = output.toLowerCase();
  if (has(text, accountingDisabled)) return 'accounting-disabled';
  // munge's messages often say "Socket communication error" too: the credential is the cause to name.
  if (has(text, authentication)) return 'authentication';
  if (has(text, unreachable)) return 'unreachable';
  return 'refused';
}

/** squeue/scancel for a job SLURM does not know (any more). */
export function isInvalidJobId(text: string): boolean {
  return /invalid job id specified/i.test(text);
}

/** scancel for a job that has already ended or is ending. */
export function isAlreadyDone(text: string): boolean {
  return /already completing or completed|job has already finished/i.test(text);
}

/** What an operator should do about a failure of that kind (appended to diagnostics). */
export function failureHint(kind: SlurmFailureKind): string {
  switch (kind) {
    case 'unreachable':
      return 'SLURM is not answering (slurmctld down or overloaded?); checked again later';
    case 'authentication':
      return 'munge authentication failed (is munged running on this host, with the cluster key and a synchronised clock?); tried again later';
    case 'accounting-disabled':
      return 'the cluster keeps no job accounting (AccountingStorageType=accounting_storage/none); squeue alone is used';
    case 'refused':
      return 'SLURM refused the request';
  }
}
