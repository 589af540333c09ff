// How deep a frame's JSON may nest, checked on its bytes before JSON.parse: the parser itself copes with deep
// nesting, but everything that walks the value afterwards (the spec codec, JSON.stringify of a record) recurses
// and would blow the stack on a frame of 100000 nested arrays. The scan keeps a counter, never a stack.
import { ProtocolError, type MiddlewareErrorContext } from '../errors.js';

/** Far deeper than any message, spec or plugin result needs; far shallower than what would hurt. */
export const MAX_JSON_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/**
 * The deepest nesting of arrays and objects in `body` (UTF-8 JSON), or maxDepth + 1 as soon as it goes past
 * maxDepth. Not a validator: malformed JSON is left for JSON.parse to refuse.
 */
export function jsonDepth(body: Uint8Array, maxDepth = MAX_JSON_DEPTH): number {
  let depth = 0;
  let deepest = 0;
  const end = body.length;
  for (let i = 0; i < end; i++) {
    const byte = body[i];
    if (byte === QUOTE) {
      // Skip the string, escapes included. Bytes of multi-byte UTF-8 characters are all >= 0x80, so never
      // taken for these. (A plain loop: measured faster than indexOf on the short strings of real frames.)
      for (i++; i < end; i++) {
        const inString = body[i];
        if (inString === QUOTE) break;
        if (inString === BACKSLASH) i++;
      }
    } else if (byte === OPEN_BRACKET || byte === OPEN_BRACE) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > maxDepth) return deepest;
      }
    } else if (byte === CLOSE_BRACKET || byte === CLOSE_BRACE) {
      depth--;
    }
  }
  return deepest;
}

/** jsonDepth of JSON given as text (e.g. a section sent as a JSON string inside a frame). */
export function jsonTextDepth(text: string, maxDepth = MAX_JSON_DEPTH): number {
  return jsonDepth(Buffer.from(text, 'utf8'), maxDepth);
}

/** Throws a ProtocolError when `body` nests deeper than maxDepth. */
export function assertJsonDepth(body: Uint8Array, context: MiddlewareErrorContext = {}, maxDepth = MAX_JSON_DEPTH): void {
  if (jsonDepth(body, maxDepth) > maxDepth) {
    throw new ProtocolError(`frame nests arrays or objects deeper than ${maxDepth} levels; refused before parsing`, context);
  }
}
