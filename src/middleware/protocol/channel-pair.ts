// Two connected in-memory Duplex streams, like the two ends of a socket: what one writes the other reads,
// delivered asynchronously and in order; ending or destroying one end closes the other. For unit tests of
// the protocol and of everything built on it (the transport conformance suite runs on it too).
import { Duplex } from 'node:stream';

export interface ChannelPairOptions {
  /**
   * Cut every write into pieces of 1..maxChunkBytes bytes (sizes from `random`, default Math.random),
   * each delivered separately, to exercise frame reassembly.
   */
  readonly maxChunkBytes?: number;
  readonly random?: () => number;
}

class ChannelEnd extends Duplex {
  peer!: ChannelEnd;

  constructor(private readonly options: ChannelPairOptions) {
    super();
  }

  override _read(): void {
    // Data is pushed by the peer as it is written; nothing to pull.
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    for (const piece of this.pieces(chunk)) setImmediate(() => this.deliver(piece));
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    setImmediate(() => this.deliver(null));
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Like a reset socket: the peer sees its connection close, without our local error.
    setImmediate(() => {
      if (!this.peer.destroyed) this.peer.destroy();
    });
    callback(error);
  }

  private deliver(piece: Buffer | null): void {
    if (!this.peer.destroyed) this.peer.push(piece);
  }

  private pieces(chunk: Buffer): Buffer[] {
    const max = this.options.maxChunkBytes;
    if (max === undefined || chunk.length <= 1) return [chunk];
    const random = this.options.random ?? Math.random;
    const pieces: Buffer[] = [];
    for (let offset = 0; offset < chunk.length; ) {
      const size = 1 + Math.floor(random() * max);
      pieces.push(chunk.subarray(offset, offset + size));
      offset += size;
    }
    return pieces;
  }
}

export function createChannelPair(options: ChannelPairOptions = {}): [Duplex, Duplex] {
  const a = new ChannelEnd(options);
  const b = new ChannelEnd(options);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
