// Secrets in the queue configuration (sshPassword, passPhrase) may be written inline, as harvester does, or
// kept out of the file: {"file": "/path"} (read at load time, trailing newline dropped) or {"env": "VAR"}.
// Every resolved value is registered for masking; messages name the file or variable, never the value.
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { MIN_MASKED_SECRET_LENGTH, type SecretRegistry } from '../logging/index.js';
import { isPlainObject, type QueueReporter } from './report.js';
import type { Secret } from './types.js';

export interface SecretContext {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Relative secret files are resolved against this directory (the queue configuration's). */
  readonly baseDir: string;
  readonly secrets: SecretRegistry;
  readonly report: QueueReporter;
}

const SHAPES = 'a string, {"file": "/path/to/file"} or {"env": "VARIABLE"}';

function register(secret: Secret, path: string, ctx: SecretContext): Secret {
  if (!ctx.secrets.register(secret.value)) {
    ctx.report.warning(
      path,
      `shorter than ${MIN_MASKED_SECRET_LENGTH} characters, so it cannot be masked in free text (log fields named like secrets are still redacted)`,
    );
  }
  return secret;
}

function readSecretFile(file: string, path: string, ctx: SecretContext): Secret | undefined {
  const full = isAbsolute(file) ? file : resolve(ctx.baseDir, file);
  let text: string;
  try {
    text = readFileSync(full, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : code;
    ctx.report.problem(`${path}.file`, `cannot read secret file ${full}: ${reason}`);
    return undefined;
  }
  // Editors and `echo` add one newline; anything else in the file is part of the secret.
  const value = text.replace(/\r?\n$/, '');
  if (value === '') {
    ctx.report.problem(`${path}.file`, `secret file ${full} is empty`);
    return undefined;
  }
  return register({ source: 'file', ref: full, value }, path, ctx);
}

function readSecretEnv(variable: string, path: string, ctx: SecretContext): Secret | undefined {
  const value = ctx.env[variable];
  if (value === undefined) {
    ctx.report.problem(`${path}.env`, `environment variable ${variable} is not set`);
    return undefined;
  }
  if (value === '') {
    ctx.report.problem(`${path}.env`, `environment variable ${variable} is empty`);
    return undefined;
  }
  return register({ source: 'env', ref: variable, value }, path, ctx);
}

/**
 * Resolves the secret written at `path` ("rpc.sshPassword"); undefined when absent (or null) or when it
 * cannot be resolved (then a problem is reported).
 */
export function resolveSecret(raw: unknown, path: string, ctx: SecretContext): Secret | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw === 'string') {
    if (raw === '') {
      ctx.report.problem(path, 'is empty: remove the key, or give the secret');
      return undefined;
    }
    return register({ source: 'inline', value: raw }, path, ctx);
  }
  if (isPlainObject(raw)) {
    const keys = Object.keys(raw);
    if (keys.length === 1 && keys[0] === 'file') {
      if (typeof raw.file === 'string' && raw.file !== '') return readSecretFile(raw.file, path, ctx);
      ctx.report.problem(`${path}.file`, 'must be a file path');
      return undefined;
    }
    if (keys.length === 1 && keys[0] === 'env') {
      if (typeof raw.env === 'string' && raw.env !== '') return readSecretEnv(raw.env, path, ctx);
      ctx.report.problem(`${path}.env`, 'must be an environment variable name');
      return undefined;
    }
    ctx.report.problem(path, `must be ${SHAPES}; got an object with keys ${keys.join(', ') || '(none)'}`);
    return undefined;
  }
  // Not echoing the value: a mistyped secret is still a secret.
  ctx.report.problem(path, `must be ${SHAPES}; got ${Array.isArray(raw) ? 'an array' : typeof raw}`);
  return undefined;
}

/** How a secret is shown to people: "***", with where it came from. */
export function describeSecret(secret: Secret): string {
  if (secret.source === 'file') return `*** (from file ${secret.ref ?? '?'})`;
  if (secret.source === 'env') return `*** (from env ${secret.ref ?? '?'})`;
  return '*** (inline)';
}
