// The "pandacon" section of the master configuration: how to reach the PanDA server, with harvester's option
// names (panda_harvester.cfg [pandacon]). Defaults live in the schema below and nowhere else. Without a
// pandacon section there is no PanDA client: the embedded job queue is the job source.
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigInvalidError, harvesterIDFrom } from '../config/index.js';
import { isPlainObject, ProblemCollector, type QueueReporter } from '../config/report.js';
import { parseReported } from '../config/schema-issues.js';
import { MIN_MASKED_SECRET_LENGTH, processSecrets, type SecretRegistry } from '../logging/index.js';

/** The key of the section in harvester.json. */
export const PANDACON_SECTION = 'pandacon';

const httpUrl = z.string().refine((value) => {
  try {
    const protocol = new URL(value).protocol;
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}, 'must be an http:// or https:// URL');
const path = z.string().min(1);

/** harvester's [pandacon] options, plus retry and test-only TLS settings of our own. */
export const pandaconSchema = z.looseObject({
  /**
   * The server's legacy entry point (https://host:25443/server/panda). API v1 calls go to scheme://host/api/v1
   * derived from it unless server_api_url_ssl says otherwise (an http:// URL is allowed, for tests).
   */
  pandaURLSSL: httpUrl,
  /** Which API the server speaks: "v1" (/api/v1, the only one from server 1.0 on) or "legacy" (older servers without API v1). */
  api: z.enum(['v1', 'legacy']).default('v1'),
  /** The base URL of API v1, as harvester's option; defaults to scheme://host/api/v1 of pandaURLSSL. */
  server_api_url_ssl: httpUrl.optional(),
  /** The base URL of the cache's API v1; defaults to scheme://host/api/v1 of pandaCacheURL_W. */
  cache_api_url_ssl: httpUrl.optional(),
  /** Accepted for compatibility; defaults to pandaURLSSL. */
  pandaURL: httpUrl.optional(),
  pandaCacheURL_W: httpUrl.optional(),
  pandaCacheURL_R: httpUrl.optional(),
  /** Deadline of one HTTP request, in seconds. */
  timeout: z.number().positive().default(180),
  /** x509: client certificate (cert_file/key_file); oidc: "Authorization: Bearer" from auth_token. */
  auth_type: z.enum(['x509', 'oidc']).default('x509'),
  /** The token: "file:/path" (re-read when the file changes), "env:VARIABLE", {"file"}/{"env"}, or the token itself. */
  auth_token: z.union([z.string().min(1), z.object({ file: path }).strict(), z.object({ env: path }).strict()]).optional(),
  /** Sent as the Origin header with a token (PanDA maps it to the token's audience/VO). */
  auth_origin: z.string().min(1).optional(),
  cert_file: path.optional(),
  /** Defaults to cert_file (a proxy file holds both). */
  key_file: path.optional(),
  /** CA file or directory (e.g. /etc/grid-security/certificates); false turns verification off like insecure. */
  ca_cert: z.union([path, z.boolean()]).optional(),
  /** Skip verification of the server's certificate. For tests only: logged as a warning at every start. */
  insecure: z.boolean().default(false),
  /** Log every request (method, URL, status, duration; never bodies or headers). */
  verbose: z.boolean().default(false),
  getEventsChunkSize: z.number().int().positive().default(5120),
  /** Retries of idempotent calls after a network failure, a timeout or HTTP 429/5xx. */
  maxRetries: z.number().int().min(0).default(3),
  /** First retry delay in seconds, doubled at each retry (with jitter), at most 60 s. */
  retryBackoff: z.number().min(0).default(1),
  /** Accepted here for files written for earlier versions; the master configuration decides (its harvesterID). */
  harvester_id: z.string().min(1).optional(),
});

const TOKEN_PATH = [PANDACON_SECTION, 'auth_token'];
const knownKeys: ReadonlySet<string> = new Set(Object.keys(pandaconSchema.shape));

export type TokenSource =
  | { readonly source: 'inline'; readonly value: string }
  | { readonly source: 'env'; readonly variable: string; readonly value: string }
  | { readonly source: 'file'; readonly path: string };

/** The resolved section. Field names are camelCase versions of harvester's. */
export interface PandaConfig {
  readonly pandaURLSSL: string;
  readonly api: 'v1' | 'legacy';
  /** Where API v1 functions live: server_api_url_ssl, else scheme://host/api/v1 of pandaURLSSL (as harvester). */
  readonly serverApiUrl: string;
  /** The cache's API v1 base: cache_api_url_ssl, else derived from pandaCacheURL_W; unset without either. */
  readonly cacheApiUrl?: string;
  readonly pandaURL: string;
  readonly pandaCacheURLW?: string;
  readonly pandaCacheURLR?: string;
  readonly timeoutSeconds: number;
  readonly authType: 'x509' | 'oidc';
  readonly authToken?: TokenSource;
  readonly authOrigin?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  /** A CA file or directory; undefined for the system's CAs. */
  readonly caCert?: string;
  /** Server certificate not verified (insecure: true, or ca_cert: false). */
  readonly insecure: boolean;
  readonly verbose: boolean;
  readonly getEventsChunkSize: number;
  readonly maxRetries: number;
  readonly retryBackoffSeconds: number;
  readonly harvesterId: string;
  /** Keys this version does not use (harvester's useInspect...), kept. */
  readonly extra: Readonly<Record<string, unknown>>;
}

export interface PandaConfigOptions {
  /** Named in problem messages; "harvester.json" by default. */
  readonly file?: string;
  /** Relative cert, key, CA and token file paths are resolved against this directory (the harvester home). */
  readonly baseDir?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Where resolved tokens are registered for masking; the process-wide registry by default. */
  readonly secrets?: SecretRegistry;
  /** The master configuration's harvesterID; read from masterExtra's spellings when not given. */
  readonly harvesterID?: string;
}

function resolveToken(raw: z.output<typeof pandaconSchema>['auth_token'], report: QueueReporter, opts: PandaConfigOptions, under: (p: string) => string): TokenSource | undefined {
  if (raw === undefined) return undefined;
  let file: string | undefined;
  let variable: string | undefined;
  if (typeof raw === 'string') {
    if (raw.startsWith('file:')) file = raw.slice('file:'.length);
    else if (raw.startsWith('env:')) variable = raw.slice('env:'.length);
    else {
      register(raw, report, opts);
      return { source: 'inline', value: raw };
    }
  } else if ('file' in raw) file = raw.file;
  else variable = raw.env;
  if (file !== undefined) {
    if (file === '') report.problem(TOKEN_PATH, 'names no file after "file:"');
    return file === '' ? undefined : { source: 'file', path: under(file) };
  }
  const name = variable ?? '';
  const value = (opts.env ?? process.env)[name];
  if (name === '' || value === undefined || value.trim() === '') {
    report.problem(TOKEN_PATH, name === '' ? 'names no variable after "env:"' : `environment variable ${name} is not set or empty`);
    return undefined;
  }
  register(value.trim(), report, opts);
  return { source: 'env', variable: name, value: value.trim() };
}

function register(value: string, report: QueueReporter, opts: PandaConfigOptions): void {
  if (!(opts.secrets ?? processSecrets).register(value)) {
    report.warning(TOKEN_PATH, `shorter than ${MIN_MASKED_SECRET_LENGTH} characters, so it cannot be masked in free text`);
  }
}

/** harvester's derivation of the API v1 base from a legacy URL: scheme://host[:port]/api/v1. */
export function apiV1Of(legacyUrl: string): string {
  const url = new URL(legacyUrl);
  return `${url.protocol}//${url.host}/api/v1`;
}

/**
 * The PanDA client's configuration from the master configuration's extra keys (MasterConfig.extra), or
 * undefined when there is no pandacon section. Throws ConfigInvalidError listing every problem.
 */
export function pandaConfigFrom(masterExtra: Readonly<Record<string, unknown>>, opts: PandaConfigOptions = {}): PandaConfig | undefined {
  const section = masterExtra[PANDACON_SECTION];
  if (section === undefined) return undefined;
  const file = opts.file ?? 'harvester.json';
  const collector = new ProblemCollector(file);
  const report = collector.forQueue(undefined);
  if (!isPlainObject(section)) {
    report.problem(PANDACON_SECTION, 'must be an object');
    throw new ConfigInvalidError(file, collector.problems);
  }
  const values = parseReported(pandaconSchema, section, [PANDACON_SECTION], report);
  if (values === undefined) throw new ConfigInvalidError(file, collector.problems);

  const under = (p: string): string => (isAbsolute(p) || opts.baseDir === undefined ? p : resolve(opts.baseDir, p));
  const authToken = resolveToken(values.auth_token, report, opts, under);
  if (values.auth_type === 'oidc' && values.auth_token === undefined) {
    report.problem([PANDACON_SECTION, 'auth_token'], 'is required with auth_type "oidc"');
  }
  if (values.auth_type === 'oidc' && values.auth_origin === undefined) {
    // PanDA reads the VO from the Origin header; without it every token is refused ("Unknown vo : None").
    report.problem([PANDACON_SECTION, 'auth_origin'], 'is required with auth_type "oidc": PanDA takes the VO from it (e.g. "atlas" or "atlas.production")');
  }
  if (values.key_file !== undefined && values.cert_file === undefined) {
    report.problem([PANDACON_SECTION, 'key_file'], 'is set but cert_file is not');
  }
  if (collector.problems.length > 0) throw new ConfigInvalidError(file, collector.problems);

  const certFile = values.cert_file === undefined ? undefined : under(values.cert_file);
  const keyFile = values.key_file === undefined ? certFile : under(values.key_file);
  const cacheApiUrl = values.cache_api_url_ssl ?? (values.pandaCacheURL_W === undefined ? undefined : apiV1Of(values.pandaCacheURL_W));
  return Object.freeze({
    pandaURLSSL: values.pandaURLSSL,
    api: values.api,
    serverApiUrl: values.server_api_url_ssl ?? apiV1Of(values.pandaURLSSL),
    ...(cacheApiUrl === undefined ? {} : { cacheApiUrl }),
    pandaURL: values.pandaURL ?? values.pandaURLSSL,
    ...(values.pandaCacheURL_W === undefined ? {} : { pandaCacheURLW: values.pandaCacheURL_W }),
    ...(values.pandaCacheURL_R === undefined ? {} : { pandaCacheURLR: values.pandaCacheURL_R }),
    timeoutSeconds: values.timeout,
    authType: values.auth_type,
    ...(authToken === undefined ? {} : { authToken: Object.freeze(authToken) }),
    ...(values.auth_origin === undefined ? {} : { authOrigin: values.auth_origin }),
    ...(certFile === undefined ? {} : { certFile }),
    ...(keyFile === undefined ? {} : { keyFile }),
    ...(typeof values.ca_cert === 'string' ? { caCert: under(values.ca_cert) } : {}),
    insecure: values.insecure || values.ca_cert === false,
    verbose: values.verbose,
    getEventsChunkSize: values.getEventsChunkSize,
    maxRetries: values.maxRetries,
    retryBackoffSeconds: values.retryBackoff,
    harvesterId: opts.harvesterID ?? harvesterIDFrom(masterExtra),
    extra: Object.freeze(Object.fromEntries(Object.entries(section).filter(([key]) => !knownKeys.has(key)))),
  });
}
