// Reading and writing the small JSON files harvester and the payload exchange. Writes go through a
// temporary name and a rename, so the other side never reads half a file.
import { readFile, rename, writeFile } from 'node:fs/promises';
import { isNotFound } from './worker-fields.js';

export type JsonRead =
  | { readonly found: false }
  | { readonly found: true; readonly value: unknown }
  | { readonly found: true; readonly error: string };

/** Absent is not an error (the payload has not written it yet); unreadable or malformed is, with the reason. */
export async function readJsonFile(path: string): Promise<JsonRead> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (isNotFound(error)) return { found: false };
    return { found: true, error: error instanceof Error ? error.message : String(error) };
  }
  try {
    return { found: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    return { found: true, error: `not valid JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
}

export async function writeFileAtomically(path: string, content: string): Promise<void> {
  const temporary = `${path}.new`;
  await writeFile(temporary, content);
  await rename(temporary, path);
}

export function writeJsonAtomically(path: string, value: unknown): Promise<void> {
  return writeFileAtomically(path, JSON.stringify(value));
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
