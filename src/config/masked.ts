// A queue as people may see it (`harvester queues show`): plain JSON, every secret replaced by "***" and
// where it came from. Option keys named like secrets are masked as well, whatever their source.
import { secretKeyNames } from '../logging/index.js';
import { isPlainObject } from './report.js';
import { describeSecret } from './secret-values.js';
import type { MiddlewareConfig, QueueConfig, Secret } from './types.js';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

function maskedJson(value: unknown): JsonValue {
  if (Array.isArray(value)) return value.map(maskedJson);
  if (isPlainObject(value)) {
    const out: { [key: string]: JsonValue } = {};
    for (const [key, item] of Object.entries(value)) {
      if (item === undefined) continue;
      out[key] = secretKeyNames.includes(key) && item !== null ? '***' : maskedJson(item);
    }
    return out;
  }
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || value === null) return value;
  return String(value);
}

function maskedSecret(secret: Secret | undefined): JsonValue | undefined {
  return secret === undefined ? undefined : describeSecret(secret);
}

function maskedMiddleware(m: MiddlewareConfig): JsonValue {
  const { sshPassword, passPhrase, jumpSshPassword, jumpPassPhrase, extra, ...plain } = m;
  const out = maskedJson({ ...plain, extra }) as { [key: string]: JsonValue };
  const secrets = { sshPassword, passPhrase, jumpSshPassword, jumpPassPhrase };
  for (const [name, secret] of Object.entries(secrets)) {
    const shown = maskedSecret(secret);
    if (shown !== undefined) out[name] = shown;
  }
  return out;
}

export function maskedQueueConfig(queue: QueueConfig): { [key: string]: JsonValue } {
  const { middlewares, extra, ...rest } = queue;
  const out = maskedJson(rest) as { [key: string]: JsonValue };
  out.middlewares = Object.fromEntries(Object.entries(middlewares).map(([key, m]) => [key, maskedMiddleware(m)]));
  out.extra = maskedJson(extra);
  return out;
}
