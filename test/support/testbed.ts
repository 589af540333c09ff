// Access to the multi-host testbed that scripts/testbed builds (namespaces hv-core, hv-jump, hv-hpc with real
// sshd in jump and hpc). Tests read its description from $TESTBED_DIR/env.json, never from hard-coded values,
// and get the secrets from the files it names, only when they need them.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/** hpcstrict: hpc's second sshd (port 2222) with every forwarding off, for the stdio transport. */
export type TestbedHostName = 'jump' | 'hpc' | 'hpcstrict';
export type TestbedNamespace = 'hv-core' | 'hv-jump' | 'hv-hpc';

/** A problem with the testbed itself (bad env.json, a testbed command that failed). */
export class TestbedError extends Error {
  constructor(
    message: string,
    readonly step: string,
    readonly host?: TestbedHostName,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TestbedError';
  }
}

/** Thrown by requireTestbed under CI=true, where a test must not skip silently. */
export class TestbedNotUpError extends Error {
  constructor(readonly missing: string) {
    super(missing);
    this.name = 'TestbedNotUpError';
  }
}

const hostSchema = z.object({
  name: z.enum(['jump', 'hpc', 'hpcstrict']),
  namespace: z.enum(['hv-jump', 'hv-hpc']),
  ip: z.string().min(1),
  port: z.number().int().positive(),
  listenAddresses: z.array(z.string().min(1)),
  sshdConfigFile: z.string().min(1),
  sshdPidFile: z.string().min(1),
  sshdLogFile: z.string().min(1),
  hostPublicKey: z.string().regex(/^ssh-\S+ \S+/),
});

/** The single-node SLURM on hpc. confFile and noAccountingConfFile are paths as seen inside hv-hpc. */
const slurmSchema = z.object({
  host: z.literal('hpc'),
  namespace: z.literal('hv-hpc'),
  clusterName: z.string().min(1),
  nodeName: z.string().min(1),
  partition: z.string().min(1),
  cpus: z.number().int().positive(),
  realMemoryMb: z.number().int().positive(),
  confFile: z.string().startsWith('/'),
  noAccountingConfFile: z.string().startsWith('/'),
  hostConfDir: z.string().startsWith('/'),
  stateDir: z.string().min(1),
  logDir: z.string().min(1),
  logFiles: z.object({ slurmctld: z.string().min(1), slurmd: z.string().min(1), slurmdbd: z.string().min(1), mariadb: z.string().min(1) }),
  slurmctldPidFile: z.string().min(1),
});

const envSchema = z.object({
  version: z.literal(1),
  stateDir: z.string().min(1),
  repoDir: z.string().min(1),
  script: z.string().min(1),
  namespaces: z.object({ core: z.literal('hv-core'), jump: z.literal('hv-jump'), hpc: z.literal('hv-hpc') }),
  core: z.object({ name: z.literal('core'), namespace: z.literal('hv-core'), ip: z.string().min(1) }),
  hosts: z.object({ jump: hostSchema, hpc: hostSchema, hpcstrict: hostSchema }),
  user: z.object({
    name: z.string().min(1),
    uid: z.number().int().positive(),
    home: z.string().min(1),
    passwordFile: z.string().min(1),
    passphraseFile: z.string().min(1),
    privateKeyFile: z.string().min(1),
    publicKeyFile: z.string().min(1),
  }),
  slurm: slurmSchema,
  commands: z.object({ onHost: z.object({ jump: z.array(z.string().min(1)).min(1), hpc: z.array(z.string().min(1)).min(1), hpcstrict: z.array(z.string().min(1)).min(1) }) }),
});

export type TestbedHost = z.infer<typeof hostSchema>;
export type TestbedSlurm = z.infer<typeof slurmSchema>;
export type TestbedUser = Pick<z.infer<typeof envSchema>['user'], 'name' | 'uid' | 'home'>;

export interface CommandResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The repository root: the nearest ancestor of this module that holds scripts/testbed (works from dist/ too). */
function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'scripts', 'testbed'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new TestbedError(`no scripts/testbed above ${fileURLToPath(import.meta.url)}`, 'locate repository');
    dir = parent;
  }
}

export function testbedDir(): string {
  return resolve(process.env.TESTBED_DIR ?? join(repositoryRoot(), '.testbed'));
}

function runCommand(argv: readonly string[], options: SpawnOptions & { input?: string } = {}): Promise<CommandResult> {
  const [command, ...args] = argv;
  if (command === undefined) return Promise.reject(new TestbedError('empty command line', 'run command'));
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (error) => reject(new TestbedError(`cannot run ${command}: ${error.message}`, 'run command', undefined, { cause: error })));
    child.on('close', (status, signal) => resolvePromise({ status, signal, stdout, stderr }));
    // A command that exits without reading its stdin (kill, ip, ...) closes the pipe before our write lands
    // when the machine is loaded: EPIPE then says nothing about the command, whose status 'close' reports.
    child.stdin?.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') reject(new TestbedError(`cannot write to the stdin of ${command}: ${error.message}`, 'run command', undefined, { cause: error }));
    });
    child.stdin?.end(options.input ?? '');
  });
}

/**
 * Command name, state and parent pid of a live process, from /proc/<pid>/stat; undefined once it has exited.
 * Zombies count as exited: the container's init may take seconds to reap a daemonised sshd.
 */
function procStat(pid: number): { comm: string; state: string; ppid: number } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ESRCH') return undefined;
    throw error;
  }
  // "pid (comm) state ppid ...": comm may itself contain spaces and parentheses.
  const open = stat.indexOf('(');
  const close = stat.lastIndexOf(')');
  const [state = '', ppid] = stat.slice(close + 2).split(' ');
  if (state === 'Z') return undefined;
  return { comm: stat.slice(open + 1, close), state, ppid: Number(ppid) };
}

/** The pid in a daemon's pid file when that process is alive and runs `comm`; undefined when it is not running. */
function livePidFromFile(pidFile: string, comm: string, host: TestbedHostName): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new TestbedError(`pid file ${pidFile} holds no pid`, `read ${comm} pid`, host);
  return procStat(pid)?.comm === comm ? pid : undefined;
}

/** Inodes of the sockets a process holds open (empty once it has exited). */
export function socketInodes(pid: number | 'self'): Set<string> {
  const inodes = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return inodes;
    throw error;
  }
  for (const fd of fds) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch (error) {
      // The descriptor was closed between readdir and readlink.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match?.[1] !== undefined) inodes.add(match[1]);
  }
  return inodes;
}

/** Remote port and socket inode of every TCP socket in the network namespace of a process. */
function tcpConnections(pid: number): { remotePort: number; inode: string }[] {
  const connections: { remotePort: number; inode: string }[] = [];
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
      const fields = line.trim().split(/\s+/);
      const remote = fields[2];
      const inode = fields[9];
      if (remote === undefined || inode === undefined) continue;
      connections.push({ remotePort: parseInt(remote.split(':')[1] ?? '', 16), inode });
    }
  }
  return connections;
}

export class Testbed {
  readonly stateDir: string;
  readonly repoDir: string;
  readonly script: string;
  readonly namespaces: { core: 'hv-core'; jump: 'hv-jump'; hpc: 'hv-hpc' };
  readonly core: { name: 'core'; namespace: 'hv-core'; ip: string };
  readonly hosts: { jump: TestbedHost; hpc: TestbedHost; hpcstrict: TestbedHost };
  readonly user: TestbedUser;
  readonly slurm: TestbedSlurm;
  readonly passwordPath: string;
  readonly passphrasePath: string;
  readonly privateKeyPath: string;
  readonly publicKeyPath: string;
  readonly onHostPrefix: Readonly<Record<TestbedHostName, readonly string[]>>;

  constructor(readonly envFile: string, env: z.infer<typeof envSchema>) {
    const base = dirname(envFile);
    const path = (p: string) => resolve(base, p);
    this.stateDir = path(env.stateDir);
    this.repoDir = path(env.repoDir);
    this.script = path(env.script);
    this.namespaces = env.namespaces;
    this.core = env.core;
    this.onHostPrefix = env.commands.onHost;
    const host = (h: TestbedHost): TestbedHost => ({
      ...h,
      sshdConfigFile: path(h.sshdConfigFile),
      sshdPidFile: path(h.sshdPidFile),
      sshdLogFile: path(h.sshdLogFile),
    });
    this.hosts = { jump: host(env.hosts.jump), hpc: host(env.hosts.hpc), hpcstrict: host(env.hosts.hpcstrict) };
    this.user = { name: env.user.name, uid: env.user.uid, home: env.user.home };
    const logFiles = env.slurm.logFiles;
    this.slurm = {
      ...env.slurm,
      stateDir: path(env.slurm.stateDir),
      logDir: path(env.slurm.logDir),
      logFiles: { slurmctld: path(logFiles.slurmctld), slurmd: path(logFiles.slurmd), slurmdbd: path(logFiles.slurmdbd), mariadb: path(logFiles.mariadb) },
      slurmctldPidFile: path(env.slurm.slurmctldPidFile),
    };
    this.passwordPath = path(env.user.passwordFile);
    this.passphrasePath = path(env.user.passphraseFile);
    this.privateKeyPath = path(env.user.privateKeyFile);
    this.publicKeyPath = path(env.user.publicKeyFile);
  }

  password(): string {
    return this.readSecret(this.passwordPath, 'password');
  }

  passphrase(): string {
    return this.readSecret(this.passphrasePath, 'passphrase');
  }

  /** The passphrase-protected ed25519 private key of the test user (OpenSSH format). */
  privateKey(): Buffer {
    return readFileSync(this.privateKeyPath);
  }

  /** The raw public key blob of a host's sshd, as ssh2's hostVerifier receives it. */
  hostKeyBlob(host: TestbedHostName): Buffer {
    const encoded = this.hosts[host].hostPublicKey.split(' ')[1];
    if (encoded === undefined) throw new TestbedError(`malformed host key for ${host} in ${this.envFile}`, 'read host key', host);
    return Buffer.from(encoded, 'base64');
  }

  /** A host's key fingerprint as `ssh-keygen -l` prints it ("SHA256:..."), for the rpc element's hostKeys. */
  hostKeyFingerprint(host: TestbedHostName): string {
    return `SHA256:${createHash('sha256').update(this.hostKeyBlob(host)).digest('base64').replace(/=+$/, '')}`;
  }

  /** Which testbed host an rpc element's host name or address means, if any. */
  hostNamed(name: unknown): TestbedHostName | undefined {
    if (name === 'hpc' || name === this.hosts.hpc.ip) return 'hpc';
    if (name === 'jump' || name === this.hosts.jump.ip) return 'jump';
    return undefined;
  }

  /**
   * The "hostKeys" of an rpc element reaching testbed hosts: the host keys the testbed recorded, pinned, since
   * harvester refuses unknown host keys (each test starts with an empty known_hosts).
   */
  pinnedHostKeys(rpc: Record<string, unknown>): { remote?: string[]; jump?: string[] } {
    const named = this.hostNamed(rpc.remoteHost);
    // hpc's second sshd (hpcstrict) has a key of its own.
    const remote = named === 'hpc' && rpc.remotePort === this.hosts.hpcstrict.port ? 'hpcstrict' : named;
    const jump = rpc.jumpHost === undefined ? undefined : this.hostNamed(rpc.jumpHost);
    return {
      ...(remote !== undefined ? { remote: [this.hostKeyFingerprint(remote)] } : {}),
      ...(jump !== undefined ? { jump: [this.hostKeyFingerprint(jump)] } : {}),
    };
  }

  /** Starts argv inside a namespace (`ip netns exec`), where /etc/hosts names core, jump and hpc. */
  inNamespace(namespace: TestbedNamespace, argv: readonly string[], options: SpawnOptions = {}): ChildProcess {
    return spawn('ip', ['netns', 'exec', namespace, ...argv], options);
  }

  /** Runs argv inside a namespace to completion and collects its output. */
  runInNamespace(namespace: TestbedNamespace, argv: readonly string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CommandResult> {
    return runCommand(['ip', 'netns', 'exec', namespace, ...argv], options);
  }

  /**
   * Runs argv to completion as root with a host's view: its network namespace and, for hpc, its mount namespace,
   * where /usr/bin/node is hidden (what the test user's sessions there see).
   */
  runOnHost(host: TestbedHostName, argv: readonly string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CommandResult> {
    return runCommand([...this.onHostPrefix[host], ...argv], options);
  }

  /** Runs argv as the test user on a host (see runOnHost), with `env` added to its environment, from its home. */
  runAsUserOnHost(host: TestbedHostName, argv: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<CommandResult> {
    const assignments = Object.entries(env).map(([name, value]) => `${name}=${value}`);
    return this.runOnHost(host, ['runuser', '-u', this.user.name, '--', 'env', `--chdir=${this.user.home}`, ...assignments, ...argv]);
  }

  /**
   * Runs argv as the test user inside a namespace (`runuser`), with `env` added to its environment; in hv-hpc
   * the user sees the testbed's SLURM configuration as /etc/slurm.
   */
  runAsUser(namespace: TestbedNamespace, argv: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<CommandResult> {
    const assignments = Object.entries(env).map(([name, value]) => `${name}=${value}`);
    return this.runInNamespace(namespace, ['runuser', '-u', this.user.name, '--', 'env', ...assignments, ...argv]);
  }

  /** Pid of a host's listening sshd, or undefined when it is not running (stopped by a test, or down). */
  sshdListenerPid(host: TestbedHostName): number | undefined {
    return livePidFromFile(this.hosts[host].sshdPidFile, 'sshd', host);
  }

  /**
   * The per-connection sshd processes of a host: the children of its listener, one per TCP connection
   * (including connections still authenticating). Killing one drops that connection; [] when sshd is stopped.
   */
  sshdPids(host: TestbedHostName): number[] {
    const listener = this.sshdListenerPid(host);
    if (listener === undefined) return [];
    const pids: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = procStat(Number(entry));
      if (stat?.ppid === listener && stat.comm === 'sshd') pids.push(Number(entry));
    }
    return pids.sort((a, b) => a - b);
  }

  /**
   * The per-connection sshd serving the TCP connection that the client opened from `clientPort` (its local
   * port), or undefined when no such connection exists. Lets a fault test drop exactly its own connection
   * while other test files use the same sshd.
   */
  sshdPidForClientPort(host: TestbedHostName, clientPort: number): number | undefined {
    for (const pid of this.sshdPids(host)) {
      const sockets = socketInodes(pid);
      // /proc/<pid>/net/tcp is the table of the process's own namespace (the host's), not ours.
      const connected = tcpConnections(pid).some((c) => c.remotePort === clientPort && sockets.has(c.inode));
      if (connected) return pid;
    }
    return undefined;
  }

  /** Stops a host's sshd and drops its connections ("host down"); `scripts/testbed sshd-stop`. */
  stopSshd(host: TestbedHostName): Promise<void> {
    return this.runScript(['sshd-stop', host], 'stop sshd', host);
  }

  /** Starts a host's sshd again and waits until it accepts connections; `scripts/testbed sshd-start`. */
  startSshd(host: TestbedHostName): Promise<void> {
    return this.runScript(['sshd-start', host], 'start sshd', host);
  }

  /** Pid of hpc's slurmctld, or undefined when it is not running. */
  slurmctldPid(): number | undefined {
    return livePidFromFile(this.slurm.slurmctldPidFile, 'slurmctld', 'hpc');
  }

  /** Stops hpc's slurmctld (it saves its state; slurmd and running jobs go on); `scripts/testbed slurmctld-stop`. */
  stopSlurmctld(): Promise<void> {
    return this.runScript(['slurmctld-stop'], 'stop slurmctld', 'hpc');
  }

  /** Starts slurmctld again (it recovers its jobs) and waits until the node answers; `scripts/testbed slurmctld-start`. */
  startSlurmctld(): Promise<void> {
    return this.runScript(['slurmctld-start'], 'start slurmctld', 'hpc');
  }

  /** Stops hpc's slurmdbd: sacct fails, jobs still run; `scripts/testbed slurmdbd-stop`. */
  stopSlurmdbd(): Promise<void> {
    return this.runScript(['slurmdbd-stop'], 'stop slurmdbd', 'hpc');
  }

  /** Starts slurmdbd again; `scripts/testbed slurmdbd-start`. */
  startSlurmdbd(): Promise<void> {
    return this.runScript(['slurmdbd-start'], 'start slurmdbd', 'hpc');
  }

  private async runScript(args: string[], step: string, host: TestbedHostName): Promise<void> {
    const result = await runCommand(['bash', this.script, ...args], { env: { ...process.env, TESTBED_DIR: this.stateDir } });
    if (result.status !== 0) {
      throw new TestbedError(`scripts/testbed ${args.join(' ')} failed (exit ${result.status ?? result.signal}): ${result.stderr.trim()}`, step, host);
    }
  }

  private readSecret(path: string, what: string): string {
    try {
      return readFileSync(path, 'utf8').trim();
    } catch (error) {
      // The path is not secret; the content never appears in a message.
      throw new TestbedError(`cannot read the testbed ${what} file ${path}`, `read ${what}`, undefined, { cause: error });
    }
  }
}

/** The testbed described by $TESTBED_DIR/env.json, or undefined when there is none (testbed down). */
export function loadTestbed(): Testbed | undefined {
  const envFile = join(testbedDir(), 'env.json');
  if (!existsSync(envFile)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(envFile, 'utf8'));
  } catch (error) {
    throw new TestbedError(`cannot read ${envFile}: ${(error as Error).message}`, 'load env.json', undefined, { cause: error });
  }
  const parsed = envSchema.safeParse(raw);
  if (!parsed.success) throw new TestbedError(`${envFile} does not describe a testbed: ${parsed.error.message}`, 'load env.json');
  return new Testbed(envFile, parsed.data);
}

/** True when this process runs inside the hv-core network namespace (where tests reach jump and hpc). */
export function inCoreNamespace(): boolean {
  const core = '/run/netns/hv-core';
  if (!existsSync(core)) return false;
  const mine = statSync('/proc/self/ns/net');
  const theirs = statSync(core);
  return mine.ino === theirs.ino && mine.dev === theirs.dev;
}

/** What keeps the testbed tests from running, or undefined when they can run (from hv-core if asked). */
export function testbedProblem(options: { inCore?: boolean } = {}): string | undefined {
  if (process.getuid?.() !== 0) return 'not root: the testbed tests need root (network namespaces, sshd); run them as root';
  const testbed = loadTestbed();
  if (testbed === undefined) return `testbed not up: run scripts/testbed up as root (no ${join(testbedDir(), 'env.json')})`;
  for (const host of ['jump', 'hpc'] as const) {
    if (testbed.sshdListenerPid(host) === undefined) {
      return `testbed not up: the sshd of ${host} is not running (${testbed.hosts[host].sshdPidFile}); run scripts/testbed up as root`;
    }
  }
  if ((options.inCore ?? true) && !inCoreNamespace()) {
    return 'not inside the hv-core namespace: run the test with `ip netns exec hv-core node --test ...` (node scripts/run-tests.mjs does)';
  }
  return undefined;
}

/**
 * The testbed for a test that needs it. When it cannot be used, under CI=true this throws (a CI run must not
 * pass by skipping); elsewhere it skips the test with the reason and returns undefined.
 * By default the test must run inside hv-core; pass { inCore: false } for tests that enter namespaces themselves.
 */
export function requireTestbed(t: TestContext, options: { inCore?: boolean } = {}): Testbed | undefined {
  const problem = testbedProblem(options);
  if (problem === undefined) return loadTestbed();
  if (process.env.CI === 'true') throw new TestbedNotUpError(problem);
  t.skip(problem);
  return undefined;
}
