// A message-level view of a byte stream: frames in, validated messages out; one write per message out.
// The first protocol violation (garbage, oversized frame, schema failure) closes the stream and is
// reported once through onClose, as is the stream ending or failing.
import type { Duplex } from 'node:stream';
import { ConnectionLostError, type MiddlewareErrorContext } from '../errors.js';
import { DEFAULT_MAX_FRAME_BYTES, FrameDecoder, encodeFrame, encodeFrameParts } from './frames.js';
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

export class MessageConnection {
  readonly maxFrameBytes: number;
  private readonly decoder: FrameDecoder;
  private readonly context: MiddlewareErrorContext;
  private closed = false;

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

  /** Sends a message given as JSON text. Throws FrameTooLargeError (connection left open) when too big. */
  sendJson(json: string): void {
    if (this.closed) return;
    this.stream.write(encodeFrame(json, this.maxFrameBytes, this.context));
  }

  /** Sends a message given as pieces of UTF-8 JSON (see resultMessageParts). */
  sendParts(parts: readonly Buffer[]): void {
    if (this.closed) return;
    this.stream.write(encodeFrameParts(parts, this.maxFrameBytes, this.context));
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
    // end() flushes before closing; destroy() would drop the farewell message.
    this.stream.end(frame, () => this.stream.destroy());
  }

  /** Closes now. With an error, it is what onClose reports. */
  close(error?: Error): void {
    if (this.closed) return;
    this.markClosed(error);
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
    this.stream.destroy();
  }

  private markClosed(error: Error | undefined): void {
    this.closed = true;
    this.handlers.onClose(error);
  }
}
