// The bundle as a .tar.gz that is the same, byte for byte, whenever its content is: entries in a fixed order
// (sorted, directories listed explicitly, no recursion), one fixed mtime, no owner, times or inode data
// (node-tar's portable mode, which also fixes the gzip header), and modes normalized to 755/644 beforehand.
import { readdir, stat, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { create } from 'tar';
import { BundleError } from './errors.js';
import { compareNames } from './manifest.js';

/** Every entry's mtime: fixed, so the archive depends on content only. */
export const ARCHIVE_MTIME = new Date('2000-01-01T00:00:00Z');

/**
 * zlib's default level. Measured on the bundle with Node.js (102 MB unpacked): level 1 gives 40.9 MB in 1.6 s,
 * 6 gives 37.5 MB in 3.9 s, 9 gives 37.3 MB in 9.9 s; unpacking takes 0.9-1.0 s at every level. Level 9
 * saves 0.4% of the transfer for 2.5 times the build time.
 */
export const ARCHIVE_GZIP_LEVEL = 6;

export interface StagedEntry {
  /** Relative to the directory that holds the bundle's top directory, '/'-separated: "<id>/bin/harvester". */
  readonly path: string;
  readonly type: 'directory' | 'file';
}

/** The entries under parent/top, `top` itself first, sorted by path. */
export async function listStagedEntries(parent: string, top: string): Promise<StagedEntry[]> {
  const entries: StagedEntry[] = [{ path: top, type: 'directory' }];
  async function walk(relative: string): Promise<void> {
    const names = (await readdir(join(parent, relative))).sort(compareNames);
    for (const name of names) {
      const path = `${relative}/${name}`;
      const info = await stat(join(parent, path));
      if (info.isDirectory()) {
        entries.push({ path, type: 'directory' });
        await walk(path);
      } else if (info.isFile()) {
        entries.push({ path, type: 'file' });
      } else {
        throw new BundleError('archive', `${join(parent, path)} is neither a file nor a directory`);
      }
    }
  }
  await walk(top);
  return entries.sort((a, b) => compareNames(a.path, b.path));
}

/** Sets 755 on directories and on the `executables` (relative to parent), 644 on every other file. */
export async function normalizeModes(parent: string, entries: readonly StagedEntry[], executables: ReadonlySet<string>): Promise<void> {
  for (const entry of entries) {
    const mode = entry.type === 'directory' || executables.has(entry.path) ? 0o755 : 0o644;
    await chmod(join(parent, entry.path), mode);
  }
}

/** Writes the entries (paths relative to parent) as a gzip tar to outFile. */
export async function writeArchive(parent: string, entries: readonly StagedEntry[], outFile: string, gzipLevel = ARCHIVE_GZIP_LEVEL): Promise<void> {
  try {
    await create(
      {
        cwd: parent,
        file: outFile,
        gzip: { level: gzipLevel },
        portable: true,
        noDirRecurse: true,
        mtime: ARCHIVE_MTIME,
        strict: true,
      },
      entries.map((entry) => entry.path),
    );
  } catch (error) {
    throw new BundleError('archive', `cannot write ${outFile}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}
