// The harvester home holds the database (job parameters, tokens), the logs and the access points: on a shared
// login node other users must not read it. A home harvester creates is 0700; one the operator made is left as
// it is, and `harvester run` and `harvester status` say when it is open to group or others.
import { mkdirSync, statSync } from 'node:fs';

/** Owner-only: the mode of a home (and of a database directory) harvester creates. */
export const privateDirectoryMode = 0o700;

/** Creates the home, and any missing parent, 0700 when it is absent; an existing home is not touched. */
export function ensureHome(home: string): void {
  mkdirSync(home, { recursive: true, mode: privateDirectoryMode });
}

/**
 * One line saying that an existing home is readable or searchable by group or others, and how to close it;
 * undefined when it is owner-only or absent.
 */
export function homeAccessWarning(home: string): string | undefined {
  let mode: number;
  try {
    mode = statSync(home).mode & 0o777;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    // A status report must not end here: the line says what could not be checked.
    return `the mode of the home ${home} cannot be read (${code ?? String(error)}): check that only its owner can read it`;
  }
  if ((mode & 0o077) === 0) return undefined;
  const octal = mode.toString(8).padStart(3, '0');
  return `the home ${home} is open to group or others (mode ${octal}): its database holds job parameters and tokens; run 'chmod 700 ${home}'`;
}
