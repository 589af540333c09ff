// Whether to ask sacct. Off when the section says squeue only (harvester's use_squeue_monitor, our
// squeueOnly); otherwise on, until sacct says the cluster keeps no accounting: then off, asked again after
// a while (an operator may turn accounting on without restarting us).
import type { Logger } from '../../../logging/index.js';
import type { OptionReader } from '../../options.js';

const recheckMs = 10 * 60_000;

export class AccountingUse {
  private disabledUntil = 0;

  constructor(readonly squeueOnly: boolean) {}

  static fromOptions(read: OptionReader): AccountingUse {
    return new AccountingUse(read.boolean('squeueOnly', read.boolean('use_squeue_monitor', false)));
  }

  /** Whether sacct is worth asking now. */
  usable(now = Date.now()): boolean {
    return !this.squeueOnly && now >= this.disabledUntil;
  }

  /** sacct said accounting is disabled: use squeue alone for a while (logged once per period). */
  markDisabled(log: Logger, message: string, now = Date.now()): void {
    if (now >= this.disabledUntil) {
      log.warn({ sacct: message }, `SLURM keeps no job accounting: using squeue alone (jobs stay visible for MinJobAge), asking sacct again in ${recheckMs / 60_000} min`);
    }
    this.disabledUntil = now + recheckMs;
  }
}
