// Framing: a 4-byte big-endian length, then that many bytes of UTF-8 JSON. The decoder never allocates
// the declared size up front: a frame body is assembled only once all of its bytes have arrived, and a
// declared length above the limit fails immediately.
import { FrameTooLargeError, type MiddlewareErrorContext } from '../errors.js';

export const FRAME_HEADER_BYTES = 4;
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** One frame as a single buffer (header + body), so it goes out in a single write. */
export function encodeFrame(json: string, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES, context?: MiddlewareErrorContext): Buffer {
  const bodyBytes = Buffer.byteLength(json, 'utf8');
  if (bodyBytes > maxFrameBytes) throw new FrameTooLargeError(bodyBytes, maxFrameBytes, context);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + bodyBytes);
  frame.writeUInt32BE(bodyBytes, 0);
  frame.write(json, FRAME_HEADER_BYTES, 'utf8');
  return frame;
}

/** One frame from body pieces (already UTF-8 JSON), copied once into a single buffer. */
export function encodeFrameParts(parts: readonly Buffer[], maxFrameBytes = DEFAULT_MAX_FRAME_BYTES, context?: MiddlewareErrorContext): Buffer {
  let bodyBytes = 0;
  for (const part of parts) bodyBytes += part.length;
  if (bodyBytes > maxFrameBytes) throw new FrameTooLargeError(bodyBytes, maxFrameBytes, context);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + bodyBytes);
  frame.writeUInt32BE(bodyBytes, 0);
  let offset = FRAME_HEADER_BYTES;
  for (const part of parts) offset += part.copy(frame, offset);
  return frame;
}

/** Turns a byte stream cut anywhere into frame bodies. */
export class FrameDecoder {
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  /** Body length of the frame being read, or -1 while its header is incomplete. */
  private expected = -1;

  constructor(
    /** Mutable so a session can raise the limit once the peer is authenticated. */
    public maxFrameBytes = DEFAULT_MAX_FRAME_BYTES,
    private readonly context: MiddlewareErrorContext = {},
  ) {}

  /** Bytes received but not yet returned as a frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** Feeds a chunk; returns every frame body it completes (often none, possibly many). */
  push(chunk: Buffer): Buffer[] {
    const bodies: Buffer[] = [];
    if (chunk.length === 0) return bodies;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.expected < 0) {
        if (this.buffered < FRAME_HEADER_BYTES) break;
        const declared = this.take(FRAME_HEADER_BYTES).readUInt32BE(0);
        if (declared > this.maxFrameBytes) throw new FrameTooLargeError(declared, this.maxFrameBytes, this.context);
        this.expected = declared;
      }
      if (this.buffered < this.expected) break;
      bodies.push(this.take(this.expected));
      this.expected = -1;
    }
    return bodies;
  }

  /** Removes n buffered bytes; zero-copy when they sit in one chunk. */
  private take(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0];
    if (n === 0 || first === undefined) return Buffer.alloc(0);
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let offset = 0;
    while (offset < n) {
      const chunk = this.chunks[0]!;
      const count = Math.min(chunk.length, n - offset);
      chunk.copy(out, offset, 0, count);
      offset += count;
      if (count === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(count);
    }
    return out;
  }
}
