// The messages of the wire protocol, validated with zod at the edge. The `hello` message keeps this shape
// in every protocol version, so two versions can always tell each other that they differ.
import { z } from 'zod';
import { callEffects } from '../../plugins/call-effect.js';
import { MAX_WIRE_CAUSES, ProtocolError, type MiddlewareErrorContext } from '../errors.js';
import { assertJsonDepth } from './json-depth.js';
import type { JsonValue } from './json.js';

/**
 * Bump on any incompatible change of the messages below or of the call payload they carry (hello excepted: it
 * must never change). 2: a call's section and queue travel as JSON text. 3: the health request (an older bot
 * would close the session on it).
 */
export const PROTOCOL_VERSION = 3;
export const PROGRAM_NAME = 'harvester-ts';

const nonce = z.string().regex(/^[0-9a-f]{32,128}$/, 'a nonce is 32 to 128 lowercase hex digits');
const proof = z.string().regex(/^[0-9a-f]{64}$/, 'a proof is 64 lowercase hex digits');
const callId = z.string().min(1).max(256);
const payload = z.unknown().transform((value) => (value === undefined ? null : value) as JsonValue);

export const helloSchema = z.object({
  t: z.literal('hello'),
  protocol: z.number().int().nonnegative(),
  program: z.object({ name: z.string().max(200), version: z.string().max(200) }),
  nonce,
});

export const deniedCodes = ['auth', 'protocol-version', 'protocol', 'timeout', 'unavailable'] as const;
export type DeniedCode = (typeof deniedCodes)[number];

// name, callEffect and causes are optional (older bots do not send them) and lenient: a value this version
// does not understand is dropped, never a reason to close the connection.
export const wireErrorSchema = z.object({
  type: z.string().min(1).max(200),
  message: z.string(),
  remoteStack: z.string().optional(),
  details: z.unknown().optional(),
  name: z.string().max(200).optional().catch(undefined),
  callEffect: z.enum(callEffects).optional().catch(undefined),
  causes: z
    .array(z.object({ name: z.string().max(200), message: z.string() }))
    .transform((causes) => causes.slice(0, MAX_WIRE_CAUSES))
    .optional()
    .catch(undefined),
});

const count = z.number().int().nonnegative();

/** What the bot says of itself when asked (`harvester status`, the metrics of `harvester run`). */
export const botHealthSchema = z.object({
  /** The bot process's resident memory. */
  rssBytes: count,
  /** Calls running in the bot (every connection). */
  callsInFlight: count,
  /** The call journal's size on disk. */
  journalBytes: count,
  /** Connections open to the bot (authenticated or not). */
  connections: count,
  uptimeSeconds: z.number().nonnegative(),
});
export type BotHealth = z.infer<typeof botHealthSchema>;

export const messageSchema = z.discriminatedUnion('t', [
  helloSchema,
  z.object({ t: z.literal('auth'), proof }),
  z.object({
    t: z.literal('welcome'),
    proof,
    botId: z.string().min(1).max(200),
    startedAt: z.string(),
    offer: payload,
  }),
  z.object({ t: z.literal('denied'), code: z.enum(deniedCodes), reason: z.string() }),
  z.object({ t: z.literal('call'), id: callId, deadline: z.number().nonnegative(), payload }),
  z.object({ t: z.literal('result'), id: callId, replayed: z.boolean(), payload }),
  z.object({ t: z.literal('error'), id: callId, error: wireErrorSchema }),
  // `reason` lets the handler's signal say why it was aborted.
  z.object({ t: z.literal('cancel'), id: callId, reason: z.enum(['deadline', 'cancelled']).optional() }),
  // Answered by the session itself, never journaled and never run by a plugin: cheap enough for every scrape.
  z.object({ t: z.literal('health'), id: callId }),
  z.object({ t: z.literal('health-report'), id: callId, health: botHealthSchema }),
]);

export type Message = z.infer<typeof messageSchema>;
export type MessageOf<T extends Message['t']> = Extract<Message, { t: T }>;

/** Parses one frame body. Invalid JSON, JSON nesting too deep or a message failing the schema is a ProtocolError. */
export function parseMessage(body: Buffer, context: MiddlewareErrorContext = {}): Message {
  assertJsonDepth(body, context);
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new ProtocolError(`frame is not valid JSON: ${(error as Error).message}`, context);
  }
  const parsed = messageSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue === undefined || issue.path.length === 0 ? '' : ` at ${issue.path.join('.')}`;
    const type = typeof raw === 'object' && raw !== null && 't' in raw ? ` (t=${String(JSON.stringify((raw as { t: unknown }).t)).slice(0, 40)})` : '';
    throw new ProtocolError(`invalid message${type}${where}: ${issue?.message ?? 'schema mismatch'}`, context);
  }
  return parsed.data;
}

const resultSuffix = Buffer.from('}');

/**
 * A result message as pieces around the payload bytes encoded once (the journal stores the same bytes),
 * so a large result is never serialized or encoded twice.
 */
export function resultMessageParts(id: string, replayed: boolean, payload: Buffer): Buffer[] {
  return [Buffer.from(`{"t":"result","id":${JSON.stringify(id)},"replayed":${replayed},"payload":`), payload, resultSuffix];
}
