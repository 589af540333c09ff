// The harvester instance's id (harvester's [master] harvester_id). Plugins need it (a batch job's name and
// comment carry it, templates use {harvesterID}) and so does the PanDA client: one value, decided here from
// the master file and put on every resolved queue, which is what travels with each remote plugin call.
import { hostname } from 'node:os';
import { isPlainObject, type QueueReporter } from './report.js';

/** The id of an instance whose master file names none. */
export function defaultHarvesterID(): string {
  return `harvester-ts-${hostname()}`;
}

/**
 * Where a master file may set the id: harvester's section ("master": {"harvester_id"}), the top-level key
 * earlier versions read, and the "pandacon" section that earlier versions documented it in.
 */
const spellings: readonly (readonly string[])[] = [['master', 'harvester_id'], ['harvester_id'], ['pandacon', 'harvester_id']];

function valueAt(document: Readonly<Record<string, unknown>>, path: readonly string[]): unknown {
  let value: unknown = document;
  for (const key of path) {
    if (!isPlainObject(value)) return undefined;
    value = value[key];
  }
  return value;
}

/**
 * The id a master document sets, or the default. Spellings that disagree are a problem (reported when a
 * reporter is given; the first spelling wins otherwise); a non-string or empty value is a problem too.
 */
export function harvesterIDFrom(document: Readonly<Record<string, unknown>>, report?: QueueReporter): string {
  const found: { path: string; value: string }[] = [];
  for (const path of spellings) {
    const value = valueAt(document, path);
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string' || value.trim() === '') {
      report?.problem([...path], `must be a non-empty string (the harvester instance's id), got ${JSON.stringify(value)}`);
      continue;
    }
    found.push({ path: path.join('.'), value });
  }
  const [first, ...others] = found;
  if (first === undefined) return defaultHarvesterID();
  for (const other of others) {
    if (other.value !== first.value) {
      report?.problem(other.path, `'${other.value}' disagrees with ${first.path} '${first.value}': set the harvester id once (master.harvester_id)`);
    }
  }
  return first.value;
}
