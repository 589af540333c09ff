// A minimal POSIX ustar writer, for the two places harvester's built-ins make archives: the stager's zip
// output (a plain tar, as base_stager.simple_zip_output makes) and the messenger's log.tgz (gzipped).
// Regular files only (extractors create the directories). Written to a temporary name and renamed into
// place, so a reader never sees half an archive.
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

export interface TarEntry {
  /** File on disk. */
  readonly path: string;
  /** Name inside the archive: a relative path of at most 100 bytes, without "..". */
  readonly name: string;
}

const BLOCK = 512;

export class TarEntryError extends Error {
  constructor(
    readonly archive: string,
    readonly entry: string,
    detail: string,
  ) {
    super(`archive '${archive}', entry '${entry}': ${detail}`);
    this.name = 'TarEntryError';
  }
}

function octal(value: number, width: number): string {
  // width includes the terminating NUL.
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function header(name: string, size: number, mode: number, mtimeSeconds: number): Buffer {
  const block = Buffer.alloc(BLOCK, 0);
  block.write(name, 0, 100, 'utf8');
  block.write(octal(mode & 0o7777, 8), 100, 'ascii');
  block.write(octal(0, 8), 108, 'ascii'); // uid
  block.write(octal(0, 8), 116, 'ascii'); // gid
  block.write(octal(size, 12), 124, 'ascii');
  block.write(octal(Math.floor(mtimeSeconds), 12), 136, 'ascii');
  block.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  block.write('0', 156, 'ascii'); // regular file
  block.write('ustar\0', 257, 'ascii');
  block.write('00', 263, 'ascii');
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return block;
}

async function* tarStream(archive: string, entries: readonly TarEntry[]): AsyncGenerator<Buffer> {
  for (const entry of entries) {
    const name = entry.name;
    if (Buffer.byteLength(name) > 100 || name === '' || name.startsWith('/') || name.split('/').includes('..')) {
      throw new TarEntryError(archive, name, 'name must be a relative path of at most 100 bytes, without ".."');
    }
    const info = await stat(entry.path);
    if (!info.isFile()) throw new TarEntryError(archive, entry.name, `${entry.path} is not a regular file`);
    // The size is fixed by the header: a log still growing is cut at the size it had when we looked.
    const size = info.size;
    yield header(entry.name, size, info.mode, info.mtimeMs / 1000);
    let written = 0;
    if (size > 0) {
      for await (const chunk of createReadStream(entry.path, { start: 0, end: size - 1 })) {
        const buffer = chunk as Buffer;
        written += buffer.length;
        yield buffer;
      }
    }
    if (written < size) yield Buffer.alloc(size - written, 0); // the file shrank meanwhile: keep the archive valid
    const padding = (BLOCK - (size % BLOCK)) % BLOCK;
    if (padding > 0) yield Buffer.alloc(padding, 0);
  }
  yield Buffer.alloc(BLOCK * 2, 0);
}

/** Writes `entries` into the archive at `archive` (gzipped when `gzip`), replacing any previous one. */
export async function writeTar(archive: string, entries: readonly TarEntry[], options: { gzip?: boolean } = {}): Promise<void> {
  const temporary = `${archive}.${process.pid}.${Date.now()}.part`;
  const stages: (Readable | Transform)[] = [Readable.from(tarStream(archive, entries))];
  if (options.gzip) stages.push(createGzip());
  try {
    await pipeline([...stages, createWriteStream(temporary)]);
    await rename(temporary, archive);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
