// A message-level view of a byte stream: frames in, validated messages out.
// The first protocol violation (garbage, oversized frame, schema failure) closes the stream and is
// reported once through onClose, as is the stream ending or failing.
//
// Frames sent in the same event-loop turn are coalesced into one stream.write: with many calls in flight,
// a write per frame cost a syscall (and, through SSH, an encrypted packet forwarded by every hop) per
// message. The first queued frame schedules the flush with process.nextTick, which runs once the current
// callback and the promise continuations it started (the ones that send the other calls or replies of
// this turn) have finished. A frame above COALESCE_MAX_BYTES is not worth a copy: it is written as is, at
// once, after the frames queued before it, so the order of frames on the wire is always the order of send.
// Whatever send accepted is handed to the stream before it is ended or destroyed (see close).
import type { Duplex } from 'node:stream';
import { ConnectionLostError, type MiddlewareErrorContext } from '../errors.js';
import { DEFAULT_MAX_FRAME_BYTES, FRAME_HEADER_BYTES, FrameDecoder, encodeFrame, encodeFrameParts } from './frames.js';
import { parseMessage, type Message } from './messages.js';

export interface MessageConnectionHandlers {
  onMessage(message: Message): void;
  /** Called exactly once. `error` is undefined when we closed it ourselves without an error. */
  onClose(error: Error | undefined): void;
}

export interface MessageConnectionOptions {
  /** Limit for frames we send and, once raised by the session, for frames we accept. */
  readonly maxFrameBytes?: number;
  /** Limit for received frames until the session raises it (e.g. a small one before authentication). */
  readonly initialReceiveLimit?: number;
  readonly context?: MiddlewareErrorContext;
}

/** Frames up to this size are copied into the turn's single write; a larger one is written on its own. */
export const COALESCE_MAX_BYTES = 64 * 1024;

export class MessageConnection {
  readonly maxFrameBytes: number;
  private readonly decoder: FrameDecoder;
  private readonly context: MiddlewareErrorContext;
  private closed = false;
  /** Pieces of the frames queued this turn, in order (a frame may be several pieces, see sendParts). */
  private queued: Buffer[] = [];
  private queuedBytes = 0;
  private flushScheduled = false;
  private readonly flushAtTurnEnd = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  constructor(
    private readonly stream: Duplex,
    private readonly handlers: MessageConnectionHandlers,
    options: MessageConnectionOptions = {},
  ) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.context = options.context ?? {};
    this.decoder = new FrameDecoder(options.initialReceiveLimit ?? this.maxFrameBytes, this.context);
    stream.on('data', (chunk: Buffer | string) => this.receive(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
    stream.on('end', () => this.finish(new ConnectionLostError('the peer closed the connection', this.context)));
    stream.on('error', (error: Error) =>
      this.finish(new ConnectionLostError(`connection failed: ${error.message}`, this.context, { cause: error })),
    );
    stream.on('close', () => this.finish(new ConnectionLostError('the connection closed', this.context)));
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Raises (or lowers) the limit for received frames. */
  setReceiveLimit(bytes: number): void {
    this.decoder.maxFrameBytes = bytes;
  }

  /**
   * Sends a message given as JSON text (written at the end of this turn, with the other frames of the turn).
   * Throws FrameTooLargeError (connection left open, nothing queued) when too big.
   */
  sendJson(json: string): void {
    if (this.closed) return;
    const frame = encodeFrame(json, this.maxFrameBytes, this.context);
    if (frame.length > COALESCE_MAX_BYTES) this.writeAlone(frame);
    else this.enqueue(frame, frame.length);
  }

  /**
   * Sends a message given as pieces of UTF-8 JSON (see resultMessageParts). Small pieces are kept, not
   * copied, until the turn's write: they must not change before the turn ends.
   */
  sendParts(parts: readonly Buffer[]): void {
    if (this.closed) return;
    let bodyBytes = 0;
    for (const part of parts) bodyBytes += part.length;
    if (bodyBytes > this.maxFrameBytes || FRAME_HEADER_BYTES + bodyBytes > COALESCE_MAX_BYTES) {
      // Checks the limit (throws), or builds the big frame with the one copy it needs.
      this.writeAlone(encodeFrameParts(parts, this.maxFrameBytes, this.context));
      return;
    }
    // Small: the pieces are copied once, into the turn's write, never into a frame of their own.
    const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
    header.writeUInt32BE(bodyBytes, 0);
    this.enqueue(header, header.length);
    for (const part of parts) this.enqueue(part, part.length);
  }

  send(message: Message): void {
    this.sendJson(JSON.stringify(message));
  }

  /** Sends a last message, then closes once it is flushed; later input is ignored. */
  sendAndClose(message: Message, error: Error | undefined): void {
    if (this.closed) return;
    let frame: Buffer | undefined;
    try {
      frame = encodeFrame(JSON.stringify(message), this.maxFrameBytes, this.context);
    } catch (encodeError) {
      this.close(encodeError as Error);
      return;
    }
    this.markClosed(error);
    this.queued.push(frame);
    this.queuedBytes += frame.length;
    // end() flushes before closing; destroy() would drop the farewell message. The frames queued this turn
    // go first, in the same write.
    this.stream.end(this.takeQueued(), () => this.stream.destroy());
  }

  /**
   * Closes now. With an error, it is what onClose reports. Frames queued this turn are handed to the stream
   * first, as they were when each send wrote at once: a caller told its frame was sent loses it only if
   * the stream itself drops written data on destroy.
   */
  close(error?: Error): void {
    if (this.closed) return;
    this.markClosed(error);
    this.flush();
    this.stream.destroy();
  }

  private receive(chunk: Buffer): void {
    if (this.closed) return;
    try {
      for (const body of this.decoder.push(chunk)) {
        const message = parseMessage(body, this.context);
        this.handlers.onMessage(message);
        if (this.closed) return;
      }
    } catch (error) {
      this.close(error as Error);
    }
  }

  private finish(error: Error): void {
    if (this.closed) return;
    this.markClosed(error);
    // The stream ended or failed: nothing queued can reach the peer any more.
    this.queued = [];
    this.queuedBytes = 0;
    this.stream.destroy();
  }

  private enqueue(piece: Buffer, length: number): void {
    this.queued.push(piece);
    this.queuedBytes += length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flushAtTurnEnd);
    }
  }

  /** Writes a big frame without copying it, after what was queued before it. */
  private writeAlone(frame: Buffer): void {
    this.flush();
    this.stream.write(frame);
  }

  /** Writes everything queued, in one write. */
  private flush(): void {
    if (this.queuedBytes === 0) return;
    const chunk = this.takeQueued();
    if (this.stream.destroyed || this.stream.writableEnded) return;
    this.stream.write(chunk);
  }

  /** The queued pieces as one buffer (the piece itself when there is only one); empties the queue. */
  private takeQueued(): Buffer {
    const pieces = this.queued;
    const chunk = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, this.queuedBytes);
    this.queued = [];
    this.queuedBytes = 0;
    return chunk;
  }

  private markClosed(error: Error | undefined): void {
    this.closed = true;
    this.handlers.onClose(error);
  }
}
