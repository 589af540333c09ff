// The resolved, fully defaulted, frozen shapes that the rest of the program trusts. Produced only by the
// queue-config loader (schema-validated at the edge); nothing else constructs them from raw JSON.

/** A plugin section as harvester writes it: {"name", "module", ...options}. */
export interface PluginSection {
  /** Class name, e.g. "DummySubmitter". */
  readonly name: string;
  /** harvester's module path ("pandaharvester.harvestersubmitter.dummy_submitter"), our short name, or a file path. */
  readonly module: string;
  /** Name of the queue-level middleware element routing this section ("rpc"), when remote. */
  readonly middleware?: string;
  /** Methods (camelCase, converted from harvester's snake_case) that run locally on the bare plugin. */
  readonly bareFunctions: readonly string[];
  /** Every other key of the section, passed to the plugin's constructor unchanged. */
  readonly options: Readonly<Record<string, unknown>>;
}

/** Where a secret came from; the value itself is resolved at load time and never printed. */
export type SecretSource = 'inline' | 'file' | 'env';

export interface Secret {
  readonly source: SecretSource;
  /** File path or variable name for file/env secrets; undefined for inline ones. */
  readonly ref?: string;
  /** The resolved value. Never log it; `maskSecrets` / the logger's redaction exist for this. */
  readonly value: string;
}

/** The queue's "rpc" element (harvester's RpcHerder settings), fully defaulted. */
export interface MiddlewareConfig {
  /** The key it was defined under in the queue ("rpc"). */
  readonly key: string;
  readonly name: string;
  readonly module: string;
  readonly remoteHost: string;
  readonly remotePort: number;
  readonly remoteBindPort: number;
  readonly numTunnels: number;
  readonly sshUserName: string;
  readonly sshPassword?: Secret;
  /** Path to a private key file (harvester's privateKey). */
  readonly privateKey?: string;
  readonly passPhrase?: Secret;
  readonly jumpHost?: string;
  readonly jumpPort: number;
  /** User on the jump host; defaults to sshUserName. */
  readonly jumpUserName?: string;
  /** The jump host's password; sshPassword is never offered to the jump host unless shareCredentialsWithJump. */
  readonly jumpSshPassword?: Secret;
  /** Private key file for the jump host; defaults to privateKey (with passPhrase). */
  readonly jumpPrivateKey?: string;
  /** Passphrase of jumpPrivateKey. */
  readonly jumpPassPhrase?: Secret;
  /** The jump host's keyboard-interactive answers (one-time passwords); otpCommand is the remote host's. */
  readonly jumpOtpCommand?: string;
  /** Offer sshPassword and otpCommand to the jump host too when it has none of its own (harvester's behaviour). Absent = false. */
  readonly shareCredentialsWithJump?: boolean;
  /** Start the bot over SSH when none answers. */
  readonly launchBot: boolean;
  /** Shell command run before launching the bot (e.g. "module load nodejs"). */
  readonly remoteSetup?: string;
  /** Command whose stdout answers keyboard-interactive prompts (one-time passwords). */
  readonly otpCommand?: string;
  /** Use the ssh-agent at $SSH_AUTH_SOCK. */
  readonly useAgent: boolean;
  /**
   * Unknown host keys are refused by every command except `tunnel-test --accept-new-host-key`, which records
   * them; true forbids even that (only known_hosts and hostKeys count). A changed key is always refused.
   */
  readonly strictHostKeyChecking: boolean;
  /** Pinned host key fingerprints ("SHA256:..."), per hop: such a key is accepted without known_hosts. */
  readonly hostKeys?: { readonly remote?: readonly string[]; readonly jump?: readonly string[] };
  /** The bot's harvester home on the remote host (secret, journal, logs); relative = under the remote user's home. */
  readonly botHome: string;
  /** How to run harvester on the remote host, e.g. "harvester" or "node /opt/harvester-ts/dist/src/cli/main.js". */
  readonly remoteCommand: string;
  /** How the herder reaches the bot (see queue-schema.ts). */
  readonly transport: 'auto' | 'unix' | 'tcp' | 'stdio';
  /** Deadline for one remote call, in seconds. */
  readonly callTimeout: number;
  /** How long a call waits for a working tunnel before failing with BotUnavailableError, in seconds. */
  readonly connectTimeout: number;
  /** Every other key, kept and passed on. */
  readonly extra: Readonly<Record<string, unknown>>;
}

export const queueStatuses = ['online', 'offline', 'standby'] as const;
export type QueueStatus = (typeof queueStatuses)[number];

export const mapTypes = ['NoJob', 'OneToOne', 'ManyToOne', 'OneToMany'] as const;
export type MapType = (typeof mapTypes)[number];

export interface QueueConfig {
  readonly queueName: string;
  /**
   * The harvester instance's id (the master configuration's harvester_id), the same on every queue: it
   * travels with each remote call, so plugins in a bot know which instance they work for.
   */
  readonly harvesterID: string;
  /** Defaults to queueName, as in harvester. */
  readonly siteName: string;
  readonly queueStatus: QueueStatus;
  readonly prodSourceLabel: string;
  readonly nQueueLimitWorker: number;
  readonly maxWorkers: number;
  readonly maxNewWorkersPerCycle: number;
  readonly nQueueLimitJob: number;
  readonly mapType: MapType;
  readonly allowJobMixture: boolean;
  readonly truePilot: boolean;
  readonly runMode: string;
  readonly useJobLateBinding: boolean;
  /**
   * A job whose workers failed to submit this many times fails instead of going to a new worker (harvester's
   * per-queue key). Absent: the submitter agent's maxSubmissionAttempts applies.
   */
  readonly maxSubmissionAttempts?: number;
  /** Plugin sections by kind key ("submitter", "monitor", ... as in harvester). */
  readonly submitter?: PluginSection;
  readonly monitor?: PluginSection;
  readonly sweeper?: PluginSection;
  readonly stager?: PluginSection;
  readonly preparator?: PluginSection;
  readonly messenger?: PluginSection;
  readonly workerMaker?: PluginSection;
  readonly throttler?: PluginSection;
  /** Middleware elements by key ("rpc"). */
  readonly middlewares: Readonly<Record<string, MiddlewareConfig>>;
  /** Every other queue-level key, kept and passed on. */
  readonly extra: Readonly<Record<string, unknown>>;
}
