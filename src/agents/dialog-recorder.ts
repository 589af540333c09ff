// The agents' warnings and errors as dialog messages for PanDA's operators (harvester's LogWrapper hook,
// which records an agent's WARNING and ERROR lines with add_dialog_message). The recorder taps the log, so
// every warn-or-worse line of any agent becomes a message without touching the log calls; it takes the line
// as written, after the secrets were masked. Lines are stored in batches, after the log call has returned:
// a log call stays synchronous, and a flood of lines costs one transaction per batch. The store keeps the
// newest `keep` messages, and so does the batch waiting to be stored.
import { tapLogLines, type Logger } from '../logging/index.js';
import type { NewDialogMessage, Store } from '../store/index.js';

/** Messages kept in the store at most, beyond which the oldest are dropped (harvester keeps an hour's worth). */
export const DIALOG_MESSAGES_KEPT = 1000;

/** pino's level numbers: warn and above become dialogs. */
const WARN = 40;
const ERROR = 50;

/** A line the recorder itself logs about failing to store dialogs: never recorded, or a failure would feed itself. */
const NOT_A_DIALOG = 'noDialog';

/** The fields of a line, in this order, that say what it is about (harvester's token). */
const identifierFields: readonly string[] = ['queue', 'siteName', 'PandaID', 'workerID'];

/** pino writes the level first: lines below warn are passed over without parsing them. */
const LEVEL_PREFIX = /^\{"level":(\d+)/;

/** The dialog message of a log line, or null when the line is not one (below warn, unparsable, the recorder's own). */
export function dialogOfLine(line: string): NewDialogMessage | null {
  const level = Number(LEVEL_PREFIX.exec(line)?.[1] ?? 0);
  if (level < WARN) return null;
  let fields: Record<string, unknown>;
  try {
    fields = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (fields[NOT_A_DIALOG] === true) return null;
  const text = (value: unknown): string | undefined => (typeof value === 'string' || typeof value === 'number' ? String(value) : undefined);
  const parts = identifierFields.flatMap((key) => {
    const value = text(fields[key]);
    return value === undefined ? [] : [`${key}=${value}`];
  });
  const err = fields['err'] as { message?: unknown } | undefined;
  const errMessage = typeof err === 'object' && err !== null ? text(err.message) : undefined;
  const msg = text(fields['msg']) ?? '';
  return {
    moduleName: text(fields['agent']) ?? text(fields['component']) ?? text(fields['name']) ?? 'harvester',
    identifier: parts.length > 0 ? parts.join(' ') : null,
    messageLevel: level >= ERROR ? 'ERROR' : 'WARNING',
    diagMessage: errMessage === undefined ? msg : `${msg}: ${errMessage}`,
    creationTime: new Date(typeof fields['time'] === 'number' ? fields['time'] : Date.now()),
  };
}

export interface DialogRecorderOptions {
  readonly store: Store;
  /** The logger whose lines (its own and its children's) are recorded; the recorder's failures go to it too. */
  readonly log: Logger;
  /** Default DIALOG_MESSAGES_KEPT. */
  readonly keep?: number;
}

export class DialogRecorder {
  readonly #store: Store;
  readonly #log: Logger;
  readonly #keep: number;
  readonly #untap: () => void;
  #pending: NewDialogMessage[] = [];
  #storing: Promise<void> | null = null;
  /** While storing fails, the failure is logged once. */
  #failing = false;

  constructor(options: DialogRecorderOptions) {
    this.#store = options.store;
    this.#log = options.log;
    this.#keep = options.keep ?? DIALOG_MESSAGES_KEPT;
    this.#untap = tapLogLines(options.log, (line) => this.#record(line));
  }

  /** Stops recording and waits until the lines recorded so far are stored (or failed to be). */
  async close(): Promise<void> {
    this.#untap();
    while (this.#storing !== null) await this.#storing;
  }

  #record(line: string): void {
    const message = dialogOfLine(line);
    if (message === null) return;
    this.#pending.push(message);
    if (this.#pending.length > this.#keep) this.#pending.splice(0, this.#pending.length - this.#keep);
    this.#storing ??= this.#storeAll();
  }

  async #storeAll(): Promise<void> {
    // After the log call that recorded the first line has returned: the lines logged with it join the batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending;
        this.#pending = [];
        try {
          await this.#store.addDialogMessages(batch, { keep: this.#keep });
          this.#failing = false;
        } catch (error) {
          if (!this.#failing) this.#log.warn({ err: error, lost: batch.length, [NOT_A_DIALOG]: true }, 'dialog messages could not be stored; they are lost, PanDA will not get them');
          this.#failing = true;
        }
      }
    } finally {
      this.#storing = null;
    }
  }
}
