// Values of the admin commands (workers, jobs, queues list): option parsers for statuses and ids, and how
// times and long texts appear in tables (JSON output keeps full values: ISO times, untruncated texts).
import { InvalidArgumentError } from 'commander';

/** "--status a,b" (or repeated): each must be one of `known`; a typo is a usage error listing them. */
export function statusList(known: readonly string[]): (value: string, previous?: string[]) => string[] {
  return (value, previous = []) => {
    const given = value
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    if (given.length === 0) throw new InvalidArgumentError(`expected a status: ${known.join(', ')}`);
    const unknown = given.filter((s) => !known.includes(s));
    if (unknown.length > 0) throw new InvalidArgumentError(`unknown status ${unknown.join(', ')} (expected ${known.join(', ')})`);
    return [...new Set([...previous, ...given])];
  };
}

/** "--id 3 4" or "--id 3,4": positive whole numbers, accumulated. */
export function idList(value: string, previous: number[] = []): number[] {
  const ids = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      const n = Number(s);
      if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`expected positive whole numbers, got '${s}'`);
      return n;
    });
  if (ids.length === 0) throw new InvalidArgumentError('expected positive whole numbers');
  return [...new Set([...previous, ...ids])];
}

/** A time for a table: UTC, to the second, as harvester prints them ("2024-05-01 12:00:00"). */
export function timeCell(time: Date | null): string {
  return time === null ? '' : time.toISOString().slice(0, 19).replace('T', ' ');
}

/** A time for JSON: ISO 8601 (UTC), or null. */
export function timeJson(time: Date | null): string | null {
  return time === null ? null : time.toISOString();
}

/** A long free text (a command, a diagnostic) cut for a table cell, on one line. */
export function shortText(text: string | null, max = 60): string {
  if (text === null) return '';
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > max ? `${oneLine.slice(0, max - 3)}...` : oneLine;
}
