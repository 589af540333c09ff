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
  section: wireSectionSchema,
  /** The queue's configuration without its middleware elements (no route, no secrets), for the plugin's context. */
  queue: z.record(z.string(), jsonValue),
  method: z.string().min(1),
  args: z.array(jsonValue),
});
export type CallPayload = z.infer<typeof callPayloadSchema>;

/** A call that only proves the bot answers (tunnel-test's no-op step); it builds no plugin. */
export const pingPayloadSchema = z.object({ ping: z.literal(true) });
export interface PongPayload {
  readonly pong: true;
  readonly pid: number;
  readonly uptimeSeconds: number;
}

export const replyPayloadSchema = z.object({
  value: jsonValue,
  /** Per spec found in the arguments (spec codec's collectSpecs order): its changed fields, or null. */
  mutations: z.array(z.union([z.null(), z.record(z.string(), jsonValue)])),
});
export type ReplyPayload = z.infer<typeof replyPayloadSchema>;

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

export function wireSection(section: PluginSection): CallPayload['section'] {
  return {
    name: section.name,
    module: section.module,
    bareFunctions: [...section.bareFunctions],
    options: JSON.parse(JSON.stringify(section.options)) as Record<string, JsonValue>,
  };
}

/** The queue as the remote plugin sees it: everything but the middleware elements (routes and secrets stay home). */
export function wireQueue(queue: QueueConfig): Record<string, JsonValue> {
  const { middlewares: _routes, ...rest } = queue;
  return JSON.parse(JSON.stringify(rest)) as Record<string, JsonValue>;
}

export function queueFromWire(queue: Record<string, JsonValue>): QueueConfig {
  return deepFreeze({ ...queue, middlewares: {} }) as unknown as QueueConfig;
}

export function sectionFromWire(section: CallPayload['section']): PluginSection {
  return deepFreeze({ ...section });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

export type { PluginKind };
