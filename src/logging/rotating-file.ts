// A log file with a size cap: once the next line would take it past maxBytes it is renamed to <file>.1
// (<file>.1 to <file>.2, ..., the oldest beyond `keep` removed) and a new one is started. So a process that
// logs a flood (a bot on a shared login node, hammered by connections) uses at most (keep + 1) x maxBytes of
// disk, plus one line. Writes are synchronous, like the plain log file's: a line logged just before the
// process dies is in the file.
import { closeSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export interface RotationOptions {
  /** Size at which the file is rotated. */
  readonly maxBytes: number;
  /** Rotated files kept beside the current one (<file>.1 is the newest). */
  readonly keep: number;
}

export class RotatingFileSink {
  private fd: number;
  private size: number;

  constructor(
    readonly file: string,
    private readonly rotation: RotationOptions,
  ) {
    if (!(rotation.maxBytes > 0) || !Number.isInteger(rotation.keep) || rotation.keep < 0) {
      throw new RangeError(`log rotation needs maxBytes > 0 and a whole keep >= 0 (got ${rotation.maxBytes}, ${rotation.keep})`);
    }
    mkdirSync(dirname(file), { recursive: true });
    this.fd = openSync(file, 'a');
    this.size = fstatSync(this.fd).size;
  }

  write(chunk: string): boolean {
    const bytes = Buffer.from(chunk, 'utf8');
    if (this.fd < 0) this.reopen();
    // A line is never split: a file past the cap is rotated first (a line longer than the cap gets a file alone).
    if (this.size > 0 && this.size + bytes.length > this.rotation.maxBytes) this.rotate();
    for (let written = 0; written < bytes.length; ) written += writeSync(this.fd, bytes, written);
    this.size += bytes.length;
    return true;
  }

  flushSync(): void {
    // Every write went straight to the file.
  }

  end(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private rotate(): void {
    closeSync(this.fd);
    this.fd = -1;
    const { keep } = this.rotation;
    try {
      if (keep === 0) {
        rmSync(this.file, { force: true });
      } else {
        rmSync(`${this.file}.${keep}`, { force: true });
        for (let n = keep - 1; n >= 1; n--) renameIfPresent(`${this.file}.${n}`, `${this.file}.${n + 1}`);
        renameIfPresent(this.file, `${this.file}.1`);
      }
    } finally {
      // Even when a rename failed, the log goes on (in the file as it is); a failed open is retried next line.
      this.reopen();
    }
  }

  private reopen(): void {
    this.fd = openSync(this.file, 'a');
    // Another process writing the same log may have started the new file already.
    this.size = fstatSync(this.fd).size;
  }
}

function renameIfPresent(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
