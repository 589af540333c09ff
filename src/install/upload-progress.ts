// The upload's progress for a person: a bar with bytes, rate and ETA on a terminal, plain lines (one per
// second) when the output is a file or a pipe (cli-progress's no-TTY mode), then one summary line.
import cliProgress from 'cli-progress';

export interface UploadProgress {
  update(sent: number): void;
  /** Ends the display; `ok` false after a failed upload. */
  stop(ok: boolean): void;
}

const MB = 1024 * 1024;

export function uploadProgress(stream: NodeJS.WriteStream, label: string, total: number): UploadProgress {
  const tty = stream.isTTY === true;
  const started = Date.now();
  let sent = 0;
  const payload = (): Record<string, string> => {
    const seconds = Math.max((Date.now() - started) / 1000, 0.001);
    return { sentMb: (sent / MB).toFixed(1), totalMb: (total / MB).toFixed(1), rate: (sent / MB / seconds).toFixed(1) };
  };
  const bar = new cliProgress.SingleBar({
    stream,
    format: tty
      ? `${label} [{bar}] {percentage}% {sentMb}/{totalMb} MB {rate} MB/s ETA {eta_formatted}`
      : `${label} {percentage}% {sentMb}/{totalMb} MB {rate} MB/s ETA {eta_formatted}`,
    noTTYOutput: true,
    notTTYSchedule: 1000,
    hideCursor: tty,
    etaBuffer: 50,
    barsize: 30,
  });
  bar.start(total, 0, payload());
  return {
    update(value) {
      sent = value;
      bar.update(value, payload());
    },
    stop(ok) {
      bar.stop();
      const seconds = (Date.now() - started) / 1000;
      stream.write(ok ? `${label} done: ${(total / MB).toFixed(1)} MB in ${seconds.toFixed(1)} s (${(total / MB / Math.max(seconds, 0.001)).toFixed(1)} MB/s)\n` : `${label} stopped after ${(sent / MB).toFixed(1)} of ${(total / MB).toFixed(1)} MB\n`);
    },
  };
}
