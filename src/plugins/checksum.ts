// Adler-32 of a file, in harvester's spelling (core_utils.calc_adler32: 8 lower-case hex digits), streamed
// so large outputs are not read into memory at once.
import { createReadStream } from 'node:fs';

const MOD_ADLER = 65521;
// Largest number of bytes summed before b can overflow 2^53 is huge; 5552 is zlib's bound for 32-bit sums,
// kept so the arithmetic stays in small integers.
const NMAX = 5552;

export function adler32Update(state: { a: number; b: number }, chunk: Uint8Array): void {
  let { a, b } = state;
  for (let offset = 0; offset < chunk.length; offset += NMAX) {
    const end = Math.min(offset + NMAX, chunk.length);
    for (let i = offset; i < end; i++) {
      a += chunk[i]!;
      b += a;
    }
    a %= MOD_ADLER;
    b %= MOD_ADLER;
  }
  state.a = a;
  state.b = b;
}

export function adler32Hex(state: { a: number; b: number }): string {
  return ((state.b * 65536 + state.a) >>> 0).toString(16).padStart(8, '0');
}

export async function adler32OfFile(path: string): Promise<string> {
  const state = { a: 1, b: 0 };
  for await (const chunk of createReadStream(path)) adler32Update(state, chunk as Buffer);
  return adler32Hex(state);
}
