// Shared by the fault tests: a herder in hv-core (plugin factory + RPC provider, logging to a file), queues
// whose sections go through "rpc", WorkSpecs with access points the bot can write, the pids of the sshd
// processes serving THIS process's connections (so killing them never touches other people's runs), and the
// secret scan over every log the herder and the bot wrote.
import assert from 'node:assert/strict';
import { chmod, chown, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseQueueConfig, type QueueConfig } from '../../../src/config/index.js';
import { createLogger, type Logger } from '../../../src/logging/index.js';
import { PluginFactory } from '../../../src/plugins/index.js';
import type { ContractsByKind, PluginContext, PluginKind } from '../../../src/plugins/contracts.js';
import { RpcMiddlewareProvider } from '../../../src/middleware/herder/rpc-provider.js';
import { MiddlewareError } from '../../../src/middleware/errors.js';
import { WorkSpec } from '../../../src/spec/index.js';
import { submittedLogName } from '../../../src/plugins/builtin/status-file.js';
import { ClientSession } from '../../../src/middleware/protocol/index.js';
import { connectRoute, isPersistentSshError, routeFromMiddleware, silentLog, type SshLink } from '../../../src/middleware/ssh/index.js';
import type { MiddlewareConfig } from '../../../src/config/index.js';
import { programVersion } from '../../../src/version.js';
import type { RemoteBot } from '../../support/remote-bot.js';
import { loadTestbed, socketInodes, testbedProblem, TestbedNotUpError, type Testbed, type TestbedHostName } from '../../support/testbed.js';

/**
 * The testbed for a suite of fault tests, or why the suite skips (as requireTestbed: under CI=true a missing
 * testbed is an error, never a silent skip).
 */
export function suiteTestbed(): { testbed?: Testbed; skip?: string } {
  const problem = testbedProblem();
  if (problem === undefined) return { testbed: loadTestbed()! };
  if (process.env.CI === 'true') throw new TestbedNotUpError(problem);
  return { skip: problem };
}

export const RPC_MODULE = 'pandaharvester.harvestermiddleware.rpc_herder';

export const builtinSections = {
  submitter: { name: 'DummySubmitter', module: 'pandaharvester.harvestersubmitter.dummy_submitter' },
  monitor: { name: 'DummyMonitor', module: 'pandaharvester.harvestermonitor.dummy_monitor' },
} as const;

/** A queue whose sections all go through its "rpc" element. */
export function remoteQueue(name: string, rpc: Record<string, unknown>, sections: Partial<Record<PluginKind, Record<string, unknown>>> = builtinSections): QueueConfig {
  const text = JSON.stringify({
    [name]: {
      queueStatus: 'online',
      mapType: 'OneToOne',
      maxWorkers: 5000,
      nQueueLimitWorker: 5000,
      rpc: { name: 'RpcHerder', module: RPC_MODULE, ...rpc },
      ...Object.fromEntries(Object.entries(sections).map(([kind, section]) => [kind, { ...section, middleware: 'rpc' }])),
    },
  });
  const load = parseQueueConfig(text, `${name}.json`);
  assert.deepEqual(load.problems, [], `queue ${name} loads`);
  const queue = load.queues.get(name);
  assert.ok(queue !== undefined);
  return queue;
}

/** The core side: a plugin factory whose "rpc" sections go through a fresh RPC provider (own tunnel pools). */
export class Herder {
  readonly log: Logger;
  readonly factory: PluginFactory;
  readonly provider: RpcMiddlewareProvider;

  constructor(dir: string, name: string) {
    this.log = createLogger({ level: 'debug', name, file: join(dir, `${name}.log`) });
    this.provider = new RpcMiddlewareProvider({ knownHostsFile: join(dir, 'known_hosts'), log: this.log });
    this.factory = new PluginFactory({ log: this.log });
    this.factory.registerMiddleware(this.provider);
  }

  async plugin<K extends PluginKind>(queue: QueueConfig, kind: K): Promise<ContractsByKind[K]> {
    const plugin = await this.factory.forQueue(queue, kind);
    assert.ok(plugin !== undefined, `queue ${queue.queueName} has a ${kind}`);
    return plugin;
  }

  ctx(queue: QueueConfig, timeoutMs = 120_000): PluginContext {
    return { queue, log: this.log.child({ queue: queue.queueName }), signal: AbortSignal.timeout(timeoutMs) };
  }

  close(): Promise<void> {
    return this.provider.close();
  }
}

let nextWorkerID = 1;

/** `count` ready workers whose access points lie under root (a directory the bot's user owns). */
export function workers(root: string, count: number): WorkSpec[] {
  return Array.from({ length: count }, () => {
    const workerID = nextWorkerID++;
    const w = new WorkSpec({ workerID, queueName: 'faults', status: 'ready', mapType: 'OneToOne', nCore: 1 });
    w.accessPoint = join(root, String(workerID));
    return w;
  });
}

/** How many submitted.log lines each worker has (0 when never submitted). */
export async function submissionCounts(ws: readonly WorkSpec[]): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  await Promise.all(
    ws.map(async (w) => {
      let text = '';
      try {
        text = await readFile(join(w.accessPoint!, submittedLogName), 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
      counts.set(w.workerID as number, text.split('\n').filter((l) => l.trim() !== '').length);
    }),
  );
  return counts;
}

/**
 * Submits the workers of `batch` that no submission reached (judged by the record's lines, not by its
 * existence: a kill between the file's creation and its first write leaves an empty submitted.log), then
 * checks that every worker of the batch was submitted exactly once.
 */
export async function submitRestExactlyOnce(submit: (ws: WorkSpec[]) => Promise<readonly { kind: string }[]>, batch: readonly WorkSpec[]): Promise<WorkSpec[]> {
  const counts = await submissionCounts(batch);
  const rest = batch.filter((w) => counts.get(w.workerID as number) === 0);
  const outcomes = await submit(rest);
  assert.equal(outcomes.length, rest.length);
  assert.ok(outcomes.every((o) => o.kind === 'succeeded'), 'the workers no submission reached are submitted now');
  const final = await submissionCounts(batch);
  assert.ok([...final.values()].every((n) => n === 1), 'in the end every worker was submitted exactly once');
  return rest;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every `everyMs` until it returns true; false when `timeoutMs` passed first. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(everyMs);
  }
}

/** Awaits a promise that must reject; returns the error and how long it took (from `since`). */
export async function rejectionOf(promise: Promise<unknown>, since = performance.now()): Promise<{ error: Error; ms: number }> {
  try {
    const value = await promise;
    assert.fail(`expected a rejection, got a result: ${JSON.stringify(value)?.slice(0, 200)}`);
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error;
    assert.ok(error instanceof Error, `rejected with an Error, not ${String(error)}`);
    return { error, ms: performance.now() - since };
  }
}

/** A typed middleware error whose message names the remote host and the login user. */
export function assertNamesHostAndUser(error: Error, host: string, user: string): void {
  assert.ok(error instanceof MiddlewareError, `a MiddlewareError, got ${error.name}: ${error.message}`);
  assert.match(error.message, new RegExp(`\\b${host}\\b`), `the message names host ${host}: ${error.message}`);
  assert.match(error.message, new RegExp(`\\b${user}\\b`), `the message names user ${user}: ${error.message}`);
}

/** The error, its causes, and the last error of every tunnel slot they carry (NoHealthyTunnelError). */
export function causeChain(error: unknown): Error[] {
  const seen: Error[] = [];
  const visit = (e: unknown): void => {
    if (!(e instanceof Error) || seen.includes(e)) return;
    seen.push(e);
    visit(e.cause);
    const slots = (e as { slots?: readonly { lastError?: Error }[] }).slots;
    for (const slot of slots ?? []) visit(slot.lastError);
  };
  visit(error);
  return seen;
}

/**
 * An RPC session to the bot made by hand, the way the herder makes one (SSH through the jump host, a
 * forward to the bot's port, the secret read over SFTP), for calls the plugin API cannot make (a chosen id).
 * Transient SSH failures are retried for a while: other test runs restart the testbed's sshd now and then.
 */
export async function openBotSession(mw: MiddlewareConfig, knownHostsFile: string, patienceMs = 20_000): Promise<{ session: ClientSession; link: SshLink }> {
  const deadline = Date.now() + patienceMs;
  for (;;) {
    try {
      return await openBotSessionOnce(mw, knownHostsFile);
    } catch (error) {
      if (isPersistentSshError(error) || Date.now() >= deadline) throw error;
      await sleep(500);
    }
  }
}

async function openBotSessionOnce(mw: MiddlewareConfig, knownHostsFile: string): Promise<{ session: ClientSession; link: SshLink }> {
  const link = await connectRoute(routeFromMiddleware(mw, { knownHostsFile }), { log: silentLog });
  try {
    const stream = await link.forward(mw.remoteBindPort);
    const secret = (await link.readFile(`${mw.botHome}/bot.secret`)).toString('utf8').trim();
    const session = await ClientSession.connect(stream, { secret, programVersion: programVersion(), context: { host: mw.remoteHost, user: mw.sshUserName } });
    return { session, link };
  } catch (error) {
    link.close();
    throw error;
  }
}

/**
 * Waits until calls through the queue's route work again (a cheap, side-effect free monitor call), up to
 * `boundMs`; fails the test when they do not. Returns how long it took.
 */
export async function waitForWorkingRoute(h: Herder, queue: QueueConfig, boundMs: number): Promise<number> {
  const monitor = await h.plugin(queue, 'monitor');
  const started = performance.now();
  const failures: string[] = [];
  for (;;) {
    try {
      const outcome = await monitor.checkWorkers(h.ctx(queue), []);
      assert.equal(outcome.kind, 'succeeded');
      return performance.now() - started;
    } catch (error) {
      if (error instanceof assert.AssertionError) throw error;
      assert.ok(error instanceof MiddlewareError, `a typed error while the route heals, got ${String(error)}`);
      failures.push(`${error.name}: ${error.message.split('\n')[0]}`);
    }
    assert.ok(performance.now() - started < boundMs, `the route works again within ${boundMs} ms; failures: ${failures.join(' | ')}`);
    await sleep(200);
  }
}

// ---- the bot's home ------------------------------------------------------------------------------------

/**
 * Creates the bot home as its user would (0700, owned by the user) and writes harvester.json there, before
 * the bot starts: the bot refuses a home someone else owns or can write.
 */
export async function prepareBotHome(testbed: Testbed, bot: RemoteBot, master: Record<string, unknown>): Promise<void> {
  await mkdir(bot.absoluteHome, { recursive: true, mode: 0o700 });
  await chown(bot.absoluteHome, testbed.user.uid, -1);
  const file = join(bot.absoluteHome, 'harvester.json');
  await writeFile(file, JSON.stringify(master), { mode: 0o644 });
  await chown(file, testbed.user.uid, -1);
}

/**
 * A fresh bot on hpc whose home names `pluginDir` (on the shared /tmp, readable by the bot's user) holding
 * these plugin modules (file name -> source): stopped and wiped first, then started.
 */
export async function startBotWithPlugins(testbed: Testbed, bot: RemoteBot, pluginDir: string, modules: Readonly<Record<string, string>>): Promise<void> {
  await bot.stop().catch(() => undefined);
  await bot.cleanup();
  await mkdir(pluginDir, { recursive: true, mode: 0o755 });
  await chmod(pluginDir, 0o755);
  for (const [name, source] of Object.entries(modules)) await writeFile(join(pluginDir, name), source, { mode: 0o644 });
  await prepareBotHome(testbed, bot, { pluginDirs: [pluginDir] });
  await bot.start();
}

/** A suite's teardown: the herder closed, the bot stopped and its home removed, the suite's directories removed. */
export async function tearDownBotSuite(h: Herder | undefined, bot: RemoteBot | undefined, paths: readonly string[]): Promise<void> {
  await h?.close();
  await bot?.stop();
  await bot?.cleanup();
  for (const path of paths) await rm(path, { recursive: true, force: true });
}

/** Every file under the bot's <home>/logs (bot.log, bot.stdout, bot.stderr), with its content. */
export async function botLogs(bot: RemoteBot): Promise<Map<string, string>> {
  const dir = join(bot.absoluteHome, 'logs');
  const logs = new Map<string, string>();
  let names: string[] = [];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  for (const name of names) logs.set(join(dir, name), await readFile(join(dir, name), 'utf8'));
  return logs;
}

/** The bot's secret, read as root from its home (to look for it in logs; never printed). */
export function botSecret(bot: RemoteBot): string {
  return readFileSync(join(bot.absoluteHome, 'bot.secret'), 'utf8').trim();
}

/**
 * Fails when any secret occurs in any text. The assertion message names the text and which KIND of secret,
 * never the secret itself.
 */
export function assertNoSecretIn(texts: ReadonlyMap<string, string>, secrets: Readonly<Record<string, string>>): void {
  for (const [what, value] of Object.entries(secrets)) assert.ok(value.length >= 6, `the ${what} is long enough to search for`);
  for (const [where, text] of texts) {
    for (const [what, value] of Object.entries(secrets)) {
      assert.ok(!text.includes(value), `the ${what} appears in ${where}`);
    }
  }
}

// ---- the sshd processes serving this process's connections ---------------------------------------------

interface TcpEntry {
  readonly localPort: number;
  readonly remoteIp: string;
  readonly remotePort: number;
  readonly inode: string;
}

/** /proc/net/tcp's "0202E70A:0016" -> 10.231.2.2 and 22. */
function parseAddress(text: string): { ip: string; port: number } {
  const [hexIp = '', hexPort = ''] = text.split(':');
  const bytes = hexIp.match(/../g) ?? [];
  return { ip: bytes.reverse().map((b) => parseInt(b, 16)).join('.'), port: parseInt(hexPort, 16) };
}

/** The TCP (IPv4) sockets of the network namespace `pid` lives in. */
function tcpTable(pid: number | 'self'): TcpEntry[] {
  const text = readFileSync(`/proc/${pid}/net/tcp`, 'utf8');
  return text
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length > 9)
    .map((f) => {
      const local = parseAddress(f[1]!);
      const remote = parseAddress(f[2]!);
      return { localPort: local.port, remoteIp: remote.ip, remotePort: remote.port, inode: f[9]! };
    });
}


/** pid and every descendant of it. */
function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const tree: number[] = [];
  const walk = (pid: number): void => {
    tree.push(pid);
    for (const child of children.get(pid) ?? []) walk(child);
  };
  walk(root);
  return tree;
}

/** Local ports of this process's TCP connections to host:port (its SSH connections to the jump host). */
function myConnectionPorts(ip: string, port: number): number[] {
  const mine = socketInodes('self');
  return tcpTable('self')
    .filter((e) => e.remoteIp === ip && e.remotePort === port && mine.has(e.inode))
    .map((e) => e.localPort);
}

/**
 * The per-connection sshd processes (with their children) serving this process's SSH links: on the jump
 * host the ones our TCP connections reach, on hpc the ones those jump sshds forward to.
 */
export function mySshdProcesses(testbed: Testbed, host: TestbedHostName): number[] {
  const jump = testbed.hosts.jump;
  const jumpPids = myConnectionPorts(jump.ip, jump.port)
    .map((port) => testbed.sshdPidForClientPort('jump', port))
    .filter((pid): pid is number => pid !== undefined);
  if (host === 'jump') return jumpPids.flatMap(processTree);
  // hpc's own sshd or its second one (hpcstrict, the stdio transport's): whichever the links reach.
  const hpc = testbed.hosts[host];
  const pids: number[] = [];
  for (const jumpPid of jumpPids) {
    const tree = processTree(jumpPid);
    const sockets = new Set(tree.flatMap((pid) => [...socketInodes(pid)]));
    const ports = tcpTable(jumpPid)
      .filter((e) => e.remoteIp === hpc.ip && e.remotePort === hpc.port && sockets.has(e.inode))
      .map((e) => e.localPort);
    for (const port of ports) {
      const pid = testbed.sshdPidForClientPort(host, port);
      if (pid !== undefined) pids.push(...processTree(pid));
    }
  }
  return pids;
}

/** SIGKILLs processes that may already be gone. */
export function killAll(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }
}
