// Turns one queue's raw JSON (template already applied) into the frozen, fully defaulted QueueConfig,
// reporting every problem it finds on the way. A queue with any problem is not built.
import { secretKeyNames, type SecretRegistry } from '../logging/index.js';
import { deepFreeze } from './deep-freeze.js';
import { methodNameToCamelCase } from './method-names.js';
import {
  harvesterMandatorySections,
  middlewareFixedKeys,
  middlewareJumpOnlyKeys,
  middlewareSchema,
  otherHarvesterSections,
  pluginSectionFixedKeys,
  pluginSectionKeys,
  pluginSectionSchema,
  queueScalarKeys,
  queueScalarsSchema,
  RPC_HERDER_NAME,
  templateControlKeys,
  type PluginSectionKey,
} from './queue-schema.js';
import { isPlainObject, type QueueReporter } from './report.js';
import { parseReported } from './schema-issues.js';
import { resolveSecret, type SecretContext } from './secret-values.js';
import type { MiddlewareConfig, PluginSection, QueueConfig } from './types.js';

export interface QueueBuildOptions {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Directory of the queue configuration file: relative secret files are resolved against it. */
  readonly baseDir: string;
  readonly secrets: SecretRegistry;
  /** Set on the queue as harvesterID. */
  readonly harvesterID: string;
}

const sectionKeySet: ReadonlySet<string> = new Set(pluginSectionKeys);
const reservedKeys: ReadonlySet<string> = new Set([...queueScalarKeys, ...pluginSectionKeys, ...templateControlKeys]);

function pick(source: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const key of keys) if (source[key] !== undefined) picked[key] = source[key];
  return picked;
}

function omit(source: Record<string, unknown>, keys: ReadonlySet<string>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(source).filter(([key]) => !keys.has(key)));
}

/** harvester's "common" section: its keys fill every plugin section that does not set them itself. */
function applyCommon(raw: Record<string, unknown>, report: QueueReporter): void {
  const common = raw.common;
  if (common === undefined) return;
  if (!isPlainObject(common)) {
    report.problem('common', 'must be an object of keys shared by every plugin section');
    return;
  }
  for (const kind of pluginSectionKeys) {
    const section = raw[kind];
    if (!isPlainObject(section)) continue;
    for (const [key, value] of Object.entries(common)) {
      if (key !== 'name' && key !== 'module' && !(key in section)) section[key] = structuredClone(value);
    }
  }
}

function looksLikeHerder(value: unknown): boolean {
  if (!isPlainObject(value)) return false;
  return value.name === RPC_HERDER_NAME || (typeof value.module === 'string' && value.module.endsWith('rpc_herder'));
}

/** Middleware element keys: named by a section's "middleware", or shaped like harvester's RpcHerder. */
function middlewareKeysOf(raw: Record<string, unknown>): Set<string> {
  const keys = new Set<string>();
  for (const kind of pluginSectionKeys) {
    const section = raw[kind];
    if (isPlainObject(section) && typeof section.middleware === 'string' && !reservedKeys.has(section.middleware) && section.middleware in raw) {
      keys.add(section.middleware);
    }
  }
  for (const [key, value] of Object.entries(raw)) if (!reservedKeys.has(key) && looksLikeHerder(value)) keys.add(key);
  return keys;
}

function buildSection(
  kind: PluginSectionKey,
  value: unknown,
  raw: Record<string, unknown>,
  queueName: string,
  report: QueueReporter,
): PluginSection | undefined {
  if (!isPlainObject(value)) {
    report.problem(kind, `must be an object {"name": "<class>", "module": "<module>", ...}`);
    return undefined;
  }
  // null means "not set" (harvester reads a null middleware as none).
  const fixed = parseReported(pluginSectionSchema, pick(value, pluginSectionFixedKeys.filter((k) => value[k] !== null)), [kind], report);
  const middleware = value.middleware;
  if (typeof middleware === 'string' && middleware !== '') {
    if (!(middleware in raw)) {
      report.problem(
        `${kind}.middleware`,
        `no middleware element '${middleware}' in queue ${queueName}; define it as ` +
          `"${middleware}": {"name": "RpcHerder", "module": "pandaharvester.harvestermiddleware.rpc_herder", "remoteHost": ..., "sshUserName": ...}`,
      );
    } else if (reservedKeys.has(middleware)) {
      report.problem(`${kind}.middleware`, `'${middleware}' is a queue setting, not a middleware element`);
    }
  }
  if (fixed === undefined) return undefined;
  const bareFunctions = [...new Set(fixed.bareFunctions.map(methodNameToCamelCase))];
  return {
    name: fixed.name,
    module: fixed.module,
    ...(fixed.middleware === undefined ? {} : { middleware: fixed.middleware }),
    bareFunctions,
    options: omit(value, new Set(pluginSectionFixedKeys)),
  };
}

function buildMiddleware(key: string, value: unknown, report: QueueReporter, secretCtx: SecretContext): MiddlewareConfig | undefined {
  if (!isPlainObject(value)) {
    report.problem(key, `a middleware element must be an object {"name": "RpcHerder", "remoteHost": ..., "sshUserName": ...}`);
    return undefined;
  }
  // Secrets stay out of the schema (and its error messages); they are resolved below.
  const schemaKeys = Object.keys(middlewareSchema.shape).filter((k) => value[k] !== null);
  const fixed = parseReported(middlewareSchema, pick(value, schemaKeys), [key], report);
  const sshPassword = resolveSecret(value.sshPassword, `${key}.sshPassword`, secretCtx);
  const passPhrase = resolveSecret(value.passPhrase, `${key}.passPhrase`, secretCtx);
  const jumpSshPassword = resolveSecret(value.jumpSshPassword, `${key}.jumpSshPassword`, secretCtx);
  const jumpPassPhrase = resolveSecret(value.jumpPassPhrase, `${key}.jumpPassPhrase`, secretCtx);
  if (fixed === undefined) return undefined;
  checkJumpKeys(key, value, fixed.jumpHost, report);
  for (const name of ['otpCommand', 'jumpOtpCommand'] as const) {
    const command = fixed[name];
    // The command's words end up in the argv of the programs it runs, which `ps` shows to every user.
    if (command !== undefined && secretCtx.secrets.mask(command) !== command) {
      report.problem(
        `${key}.${name}`,
        'contains the value of a configured secret, which would show in the process list (ps) of this host; ' +
          'use "$HARVESTER_SSH_PASSWORD" (the hop\'s password, passed in the environment) or read the secret from a file',
      );
    }
  }
  return {
    key,
    ...fixed,
    ...(sshPassword === undefined ? {} : { sshPassword }),
    ...(passPhrase === undefined ? {} : { passPhrase }),
    ...(jumpSshPassword === undefined ? {} : { jumpSshPassword }),
    ...(jumpPassPhrase === undefined ? {} : { jumpPassPhrase }),
    extra: omit(value, new Set(middlewareFixedKeys)),
  };
}

/** Jump host settings that cannot take effect are worth a warning: the operator meant something by them. */
function checkJumpKeys(key: string, value: Record<string, unknown>, jumpHost: string | undefined, report: QueueReporter): void {
  const given = (name: string): boolean => value[name] !== undefined && value[name] !== null;
  if (jumpHost === undefined || jumpHost === '') {
    for (const name of middlewareJumpOnlyKeys) {
      if (given(name)) report.warning(`${key}.${name}`, 'has no effect without a jumpHost');
    }
    if (value.hostKeys !== undefined && isPlainObject(value.hostKeys) && value.hostKeys.jump !== undefined) {
      report.warning(`${key}.hostKeys.jump`, 'has no effect without a jumpHost');
    }
    return;
  }
  if (given('jumpPassPhrase') && !given('jumpPrivateKey')) {
    report.warning(`${key}.jumpPassPhrase`, 'has no effect without jumpPrivateKey: the jump host uses privateKey, decrypted with passPhrase');
  }
  // A harvester configuration with one password for both hops: ours gives the jump host nothing to log in with.
  const jumpHasCredentials = ['jumpSshPassword', 'jumpPrivateKey', 'privateKey', 'jumpOtpCommand', 'shareCredentialsWithJump'].some(given) || value.useAgent === true;
  if (given('sshPassword') && !jumpHasCredentials) {
    report.warning(
      `${key}.sshPassword`,
      'is offered to the remote host only, and the jump host has no credentials of its own: ' +
        'set jumpSshPassword, or "shareCredentialsWithJump": true if the jump host takes the same password (harvester\'s behaviour)',
    );
  }
}

/** Strings under secret-named keys anywhere in plugin options or extra keys are masked too. */
function registerNestedSecrets(value: unknown, secrets: SecretRegistry): void {
  if (Array.isArray(value)) {
    for (const item of value) registerNestedSecrets(item, secrets);
  } else if (isPlainObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      if (secretKeyNames.includes(key) && typeof item === 'string') secrets.register(item);
      else registerNestedSecrets(item, secrets);
    }
  }
}

export function buildQueue(
  queueName: string,
  raw: Record<string, unknown>,
  report: QueueReporter,
  opts: QueueBuildOptions,
): QueueConfig | undefined {
  applyCommon(raw, report);
  const scalarsRaw = pick(raw, queueScalarKeys.filter((k) => raw[k] !== null));
  const scalars = parseReported(queueScalarsSchema, scalarsRaw, [], report);

  const sections: Partial<Record<PluginSectionKey, PluginSection>> = {};
  for (const kind of pluginSectionKeys) {
    if (raw[kind] === undefined) continue;
    const section = buildSection(kind, raw[kind], raw, queueName, report);
    if (section !== undefined) sections[kind] = section;
  }

  const secretCtx: SecretContext = { env: opts.env, baseDir: opts.baseDir, secrets: opts.secrets, report };
  const middlewareKeys = middlewareKeysOf(raw);
  const middlewares: Record<string, MiddlewareConfig> = {};
  for (const key of middlewareKeys) {
    const middleware = buildMiddleware(key, raw[key], report, secretCtx);
    if (middleware !== undefined) middlewares[key] = middleware;
  }

  const extra = omit(raw, new Set([...reservedKeys, ...middlewareKeys]));
  for (const [key, value] of Object.entries(extra)) {
    if (!otherHarvesterSections.has(key) && isPlainObject(value) && typeof value.name === 'string' && typeof value.module === 'string') {
      report.warning(key, `looks like a plugin section but '${key}' is not a section harvester uses (${pluginSectionKeys.join(', ')}); kept as an extra key`);
    }
  }
  const missing = harvesterMandatorySections.filter((kind) => !sectionKeySet.has(kind) || raw[kind] === undefined);
  if (missing.length > 0) {
    report.warning('', `no ${missing.join(', ')} section: harvester requires every queue to have them; agents that need one skip this queue`);
  }
  for (const section of Object.values(sections)) registerNestedSecrets(section.options, opts.secrets);
  for (const middleware of Object.values(middlewares)) registerNestedSecrets(middleware.extra, opts.secrets);
  registerNestedSecrets(extra, opts.secrets);

  if (report.count > 0 || scalars === undefined) return undefined;
  if (scalars.queueStatus === 'online' && scalars.maxWorkers === 0) {
    report.warning('maxWorkers', 'is 0 (the default when unset): no worker will be submitted for this online queue');
  }
  const { siteName, ...rest } = scalars;
  return deepFreeze({
    queueName,
    harvesterID: opts.harvesterID,
    // harvester: a queue named "SITE/resourceType" belongs to site SITE.
    siteName: siteName ?? queueName.split('/')[0] ?? queueName,
    ...rest,
    ...sections,
    middlewares,
    extra,
  });
}
