// What one plugin call carries over the wire, in both directions. Validated with zod at the bot's edge;
// the herder trusts replies only after the same check. Data only: specs travel as the spec codec's JSON.
import { z } from 'zod';
import { pluginKinds, type PluginKind } from '../../plugins/contracts.js';
import type { PluginSection, QueueConfig } from '../../config/index.js';
import type { JsonValue } from '../../spec/index.js';

// The payload came out of JSON.parse, so every value in it is JSON already: the schemas check the envelope
// (which keys, which types at the top) and leave the values alone. Walking a 1000-worker argument again with
// a recursive schema cost more than the call itself (measured by the middleware benchmark).
const jsonValue = z.custom<JsonValue>(() => true);

export const wireSectionSchema = z.object({
  name: z.string().min(1),
  module: z.string().min(1),
  bareFunctions: z.array(z.string()),
  options: z.record(z.string(), jsonValue),
});

export const callPayloadSchema = z.object({
  queueName: z.string().min(1),
  kind: z.enum(pluginKinds),
  /**
   * The section (wireSectionSchema) as JSON text. Sent as text so the bot can use it as the key of its plugin
   * cache as it is: parsed and checked only when the bot meets it for the first time, not on every call.
   */
  section: z.string().min(2),
  /** The queue's configuration without its middleware elements (no route, no secrets), as JSON text (like section). */
  queue: z.string().min(2),
  method: z.string().min(1),
  args: z.array(jsonValue),
});
export type CallPayload = z.infer<typeof callPayloadSchema>;

/** What every call of one remote plugin sends alike: computed once per plugin on the herder. */
export type PluginTarget = Pick<CallPayload, 'queueName' | 'kind' | 'section' | 'queue'>;

export function pluginTarget(queue: QueueConfig, kind: PluginKind, section: PluginSection): PluginTarget {
  return { queueName: queue.queueName, kind, section: JSON.stringify(wireSection(section)), queue: JSON.stringify(wireQueue(queue)) };
}

/** A call that only proves the bot answers (tunnel-test's no-op step); it builds no plugin. */
export const pingPayloadSchema = z.object({ ping: z.literal(true) });
export interface PongPayload {
  readonly pong: true;
  readonly pid: number;
  readonly uptimeSeconds: number;
}

/** Where the bot's time on one call went, in ms (sent with every reply, for the herder's timing of the call). */
export const botTimesSchema = z.object({
  /** Arguments from the wire's JSON into specs and values. */
  decodeMs: z.number().nonnegative(),
  /** The plugin method itself. */
  pluginMs: z.number().nonnegative(),
  /** The result and the changed fields into the wire's JSON. */
  encodeMs: z.number().nonnegative(),
});
export type BotTimes = z.infer<typeof botTimesSchema>;

export const replyPayloadSchema = z.object({
  value: jsonValue,
  /** Absent from bots of earlier builds. */
  botTimes: botTimesSchema.optional(),
  /**
   * Per spec found in the arguments (spec codec's collectSpecs order): its changed fields, or null. Each entry
   * is checked where it is applied (Spec.applyChanges): a per-entry schema here cost ~1 ms per 1000 workers.
   */
  mutations: z.array(jsonValue),
});
export type ReplyPayload = z.infer<typeof replyPayloadSchema>;

/**
 * One remote plugin call, timed on both sides (ms): what an operator needs to tell a slow plugin from a slow
 * link (logged at debug, and given to BotClient timing listeners such as the benchmark).
 */
export interface RemoteCallTiming {
  readonly queue: string;
  /** kind.method */
  readonly method: string;
  /** Specs among the arguments. */
  readonly specs: number;
  /** Finding and encoding the arguments on the herder. */
  readonly herderEncodeMs: number;
  /** From handing the call to the tunnel pool to its checked reply (includes the bot's times). */
  readonly roundTripMs: number;
  /** Applying the changed fields and decoding the result on the herder. */
  readonly herderApplyMs: number;
  /** The bot's own account; undefined from a bot of an earlier build, or when the reply came from its journal. */
  readonly bot: BotTimes | undefined;
}

/** The bot's offer in its welcome: which plugins it can build and which methods each has. */
export const botOfferSchema = z.object({
  plugins: z.array(
    z.object({
      kind: z.enum(pluginKinds),
      className: z.string(),
      modules: z.array(z.string()),
      methods: z.array(z.string()),
    }),
  ),
  pluginDirs: z.array(z.string()),
});
export type BotOffer = z.infer<typeof botOfferSchema>;

function wireSection(section: PluginSection): z.infer<typeof wireSectionSchema> {
  return {
    name: section.name,
    module: section.module,
    bareFunctions: [...section.bareFunctions],
    options: JSON.parse(JSON.stringify(section.options)) as Record<string, JsonValue>,
  };
}

/** The queue as the remote plugin sees it: everything but the middleware elements (routes and secrets stay home). */
function wireQueue(queue: QueueConfig): Record<string, JsonValue> {
  const { middlewares: _routes, ...rest } = queue;
  return JSON.parse(JSON.stringify(rest)) as Record<string, JsonValue>;
}

/** A malformed section or queue text in a call payload. */
export class WirePayloadError extends Error {
  override readonly name = 'WirePayloadError';
}

const wireQueueSchema = z.record(z.string(), jsonValue);

/** The section a call names, from its JSON text; throws WirePayloadError saying what is wrong. */
export function sectionFromWire(text: string): PluginSection {
  const section = parseWireText(text, wireSectionSchema, 'section');
  return deepFreeze({ ...section });
}

/** The queue a call runs for, from its JSON text, frozen (plugins read it, never change it). */
export function queueFromWire(text: string): QueueConfig {
  const queue = parseWireText(text, wireQueueSchema, 'queue');
  return deepFreeze({ ...queue, middlewares: {} }) as unknown as QueueConfig;
}

function parseWireText<T>(text: string, schema: z.ZodType<T>, what: string): T {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new WirePayloadError(`${what}: not JSON (${(error as Error).message})`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new WirePayloadError(`${what}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

export type { PluginKind };
