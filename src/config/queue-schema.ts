// The queue-level keys harvester knows, with harvester's defaults (queue_config_mapper.QueueConfig), and the
// RPC middleware element (rpc_herder.RpcHerder's settings plus ours).
import { z } from 'zod';
import { mapTypes, queueStatuses } from './types.js';

const count = z.number().int().min(0);
const port = z.number().int().min(1).max(65535);
const text = z.string().min(1);
/** OpenSSH's SHA256 fingerprint: "SHA256:" and 43 characters of unpadded base64 (ssh-keygen -l). */
const hostKeyFingerprint = z
  .string()
  .regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'must be a SHA256 fingerprint as `ssh-keygen -l -f <key>` prints it: "SHA256:" and 43 characters');

/**
 * Defaults follow harvester: mapType "OneToOne", queueStatus "online" (any case), runMode "self". Harvester
 * has no default for the limits (it fails on a queue without them); ours is 0: no workers, no jobs, and for
 * maxNewWorkersPerCycle "no per-cycle cap", as in harvester's worker adjuster. siteName is filled by the
 * builder (the queue name up to the first "/").
 */
export const queueScalarsSchema = z.object({
  siteName: text.optional(),
  queueStatus: z
    .string()
    .transform((s) => s.toLowerCase())
    .pipe(z.enum(queueStatuses))
    .default('online'),
  prodSourceLabel: text.default('managed'),
  nQueueLimitWorker: count.default(0),
  maxWorkers: count.default(0),
  maxNewWorkersPerCycle: count.default(0),
  nQueueLimitJob: count.default(0),
  mapType: z.enum(mapTypes).default('OneToOne'),
  allowJobMixture: z.boolean().default(false),
  truePilot: z.boolean().default(false),
  runMode: text.default('self'),
  useJobLateBinding: z.boolean().default(false),
  // harvester's per-queue cap on a job's submission attempts (QueueConfig.maxSubmissionAttempts, 3 there);
  // unset here, the submitter agent's maxSubmissionAttempts in harvester.json (also 3) applies.
  // 0 as in harvester: a job fails at its first failed submission.
  maxSubmissionAttempts: z.number().int().min(0).optional(),
});

export const queueScalarKeys: readonly string[] = Object.keys(queueScalarsSchema.shape);

/** Keys that steer loading (templates) and are not part of the resolved queue. */
export const templateControlKeys: readonly string[] = ['templateQueueName', 'isTemplateQueue'];

export const pluginSectionKeys = [
  'submitter',
  'monitor',
  'sweeper',
  'stager',
  'preparator',
  'messenger',
  'workerMaker',
  'throttler',
] as const;
export type PluginSectionKey = (typeof pluginSectionKeys)[number];

/** Sections harvester requires of every queue (mandatory_attrs); the throttler is optional. */
export const harvesterMandatorySections: readonly PluginSectionKey[] = [
  'messenger',
  'monitor',
  'preparator',
  'stager',
  'submitter',
  'sweeper',
  'workerMaker',
];

/** Plugin-like sections harvester knows that we keep, untouched, in `extra`. */
export const otherHarvesterSections: ReadonlySet<string> = new Set(['common', 'zipper', 'aux_preparator', 'extractor']);

export const pluginSectionSchema = z.object({
  name: text,
  module: text,
  middleware: text.optional(),
  bareFunctions: z.array(text).default([]),
});
export const pluginSectionFixedKeys: readonly string[] = Object.keys(pluginSectionSchema.shape);

export const RPC_HERDER_NAME = 'RpcHerder';
export const RPC_HERDER_MODULE = 'pandaharvester.harvestermiddleware.rpc_herder';

/** Everything of a middleware element except the secrets (resolved separately, never echoed). */
export const middlewareSchema = z.object({
  name: text.default(RPC_HERDER_NAME),
  module: text.default(RPC_HERDER_MODULE),
  remoteHost: text,
  remotePort: port.default(22),
  remoteBindPort: port.default(18861),
  numTunnels: z.number().int().min(1).default(1),
  sshUserName: text,
  privateKey: text.optional(),
  jumpHost: text.optional(),
  jumpPort: port.default(22),
  jumpUserName: text.optional(),
  // The jump host's own key file and one-time-password command; without them it uses privateKey (with
  // passPhrase) and no otpCommand. Its password is the secret jumpSshPassword.
  jumpPrivateKey: text.optional(),
  jumpOtpCommand: text.optional(),
  // harvester offers one password to both hops; we offer sshPassword (and otpCommand's answers) only to the
  // remote host unless this says the jump host takes them too.
  shareCredentialsWithJump: z.boolean().optional(),
  launchBot: z.boolean().default(false),
  remoteSetup: text.optional(),
  otpCommand: text.optional(),
  useAgent: z.boolean().default(false),
  // Kept for harvester configs: unknown host keys are never accepted by `harvester run` anyway; true also
  // forbids `tunnel-test --accept-new-host-key` from recording them (see route.ts in middleware/ssh).
  strictHostKeyChecking: z.boolean().default(false),
  // Pinned host key fingerprints per hop, as `ssh-keygen -l` prints them: accepted without known_hosts.
  hostKeys: z
    .object({ remote: z.array(hostKeyFingerprint).optional(), jump: z.array(hostKeyFingerprint).optional() })
    .strict()
    .optional(),
  // Relative to the remote user's home, like the local default ~/.harvester.
  botHome: text.default('.harvester'),
  remoteCommand: text.default('harvester'),
  // How the herder reaches the bot: its unix socket by stream-local forwarding, falling back to the TCP port
  // when the site refuses that (auto); only the TCP port (tcp); only the socket (unix); or through
  // `harvester bot connect` in an SSH session, for sites where every forwarding is off (stdio).
  transport: z.enum(['auto', 'unix', 'tcp', 'stdio']).default('auto'),
  callTimeout: z.number().positive().default(600),
  connectTimeout: z.number().positive().default(30),
});
export const middlewareSecretKeys = ['sshPassword', 'passPhrase', 'jumpSshPassword', 'jumpPassPhrase'] as const;
/** Keys that only mean something with a jumpHost. */
export const middlewareJumpOnlyKeys: readonly string[] = [
  'jumpUserName',
  'jumpPrivateKey',
  'jumpOtpCommand',
  'shareCredentialsWithJump',
  'jumpSshPassword',
  'jumpPassPhrase',
];
export const middlewareFixedKeys: readonly string[] = [...Object.keys(middlewareSchema.shape), ...middlewareSecretKeys];
