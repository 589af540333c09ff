// `harvester bot start|stop|status` as an operator runs them on a login node: the real CLI in child processes,
// a temporary home and pid file, the daemon on this host's loopback. No SSH needed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BOT_DAEMON_ENV, BOT_NODE_OPTIONS } from '../../../src/cli/commands/bot.js';
import { isProcessAlive } from '../../../src/middleware/bot/pid-file.js';
import { ClientSession, encodeFrame, FrameDecoder, parseMessage, PROTOCOL_VERSION, type Message } from '../../../src/middleware/protocol/index.js';
import type { PongPayload } from '../../../src/middleware/rpc/call-payload.js';
import { programVersion } from '../../../src/version.js';
import { runCli, type CliResult } from '../support.js';




/** Daemons started by this file, stopped at the end whatever happened to the tests. */
const started = new Set<number>();
const homes: string[] = [];

after(async () => {
  for (const pid of started) {
    if (isProcessAlive(pid)) process.kill(pid, 'SIGTERM');
    await waitUntil(() => !isProcessAlive(pid), 15_000, `bot pid ${pid} to exit`);
  }
  for (const home of homes) rmSync(home, { recursive: true, force: true });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

class BotHome {
  readonly home = mkdtempSync(join(tmpdir(), 'hv-cli-bot-'));
  readonly pidFile = join(this.home, 'bot.pid');
  readonly socketPath = join(this.home, 'bot.sock');
  readonly logFile = join(this.home, 'logs', 'bot.log');

  constructor() {
    homes.push(this.home);
  }

  run(...args: string[]): Promise<CliResult> {
    const [group, command, ...rest] = args;
    return runCli(['--home', this.home, group!, command!, '--pid', this.pidFile, ...rest]);
  }

  /** `bot start --port 0`, asserting it succeeded; the daemon's pid and port from its output. */
  async start(...extra: string[]): Promise<{ pid: number; port: number; result: CliResult }> {
    const result = await this.run('bot', 'start', '--port', '0', ...extra);
    assert.equal(result.status, 0, `bot start failed: ${result.stderr}`);
    const match = /^bot started \(pid (\d+), 127\.0\.0\.1:(\d+), socket (.+?), pid file (.+?), logs (.+)\)$/m.exec(result.stdout);
    assert.ok(match, `unexpected output of bot start: ${result.stdout}`);
    const pid = Number(match[1]);
    started.add(pid);
    assert.equal(match[3], this.socketPath);
    assert.equal(match[4], this.pidFile);
    assert.equal(match[5], this.logFile);
    return { pid, port: Number(match[2]), result };
  }

  logRecords(): Record<string, unknown>[] {
    return readFileSync(this.logFile, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  pidInFile(): string {
    return readFileSync(this.pidFile, 'utf8').trim();
  }
}

/** Fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, session, ... */
function procStat(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).trim().split(' ');
}

/** Local addresses (hex, as /proc/net/tcp* write them) of the sockets of `pid`'s namespace listening on `port`. */
function listeningAddresses(pid: number, port: number): string[] {
  const addresses: string[] = [];
  for (const table of ['tcp', 'tcp6']) {
    const lines = readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1);
    for (const line of lines) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (local === undefined || state !== '0A') continue;
      const [address, hexPort] = local.split(':');
      if (parseInt(hexPort ?? '', 16) === port) addresses.push(address!);
    }
  }
  return addresses;
}

/** Connects, resolving to the error code on failure ('connected' on success, closing the socket). */
function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

/** Everything the server sends on a raw connection: first within `quietMs` of connecting, then after `send`. */
function rawExchange(port: number, quietMs: number, send: Buffer): Promise<{ beforeSend: Buffer; afterSend: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let beforeSend: Buffer | undefined;
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('error', reject);
    socket.once('connect', () => {
      setTimeout(() => {
        beforeSend = Buffer.concat(chunks.splice(0));
        socket.write(send);
        // The server answers and closes; if it kept the socket open the test would time out, not pass.
      }, quietMs);
    });
    socket.once('close', () => resolve({ beforeSend: beforeSend ?? Buffer.alloc(0), afterSend: Buffer.concat(chunks) }));
  });
}

describe('harvester bot start: the daemon', () => {
  const bot = new BotHome();
  let pid: number;
  let port: number;
  let startOutput: CliResult;

  before(async () => {
    ({ pid, port, result: startOutput } = await bot.start());
  });

  test('returns once the bot listens, leaving a daemon in its own session whose pid is in the pid file', () => {
    assert.equal(startOutput.stderr, '');
    assert.ok(port > 0, '--port 0 reports the port the kernel picked');
    assert.equal(bot.pidInFile(), String(pid));
    assert.ok(isProcessAlive(pid), 'the daemon outlives the command that started it');
    const [, , , session] = procStat(pid);
    assert.equal(Number(session), pid, 'the daemon leads its own session (detached from the terminal)');
  });

  test('listens on 127.0.0.1 only', async () => {
    assert.deepEqual(listeningAddresses(pid, port), ['0100007F'], 'one listening socket, bound to 127.0.0.1');
    assert.equal(await tryConnect('127.0.0.1', port), 'connected');
    // Another loopback address and every non-loopback address of this host must not reach it.
    const others = ['127.0.0.2'];
    for (const list of Object.values(networkInterfaces())) {
      for (const info of list ?? []) if (!info.internal && info.family === 'IPv4') others.push(info.address);
    }
    for (const address of others) assert.equal(await tryConnect(address, port), 'ECONNREFUSED', `connecting through ${address}`);
  });

  test('sends nothing before the client hello, then protocol frames only, never log text', async () => {
    // A herder of another protocol version: the bot answers with its hello and a refusal, then closes.
    const hello = { t: 'hello', protocol: PROTOCOL_VERSION + 100, program: { name: 'harvester-ts', version: '99.0.0' }, nonce: 'ab'.repeat(16) };
    const { beforeSend, afterSend } = await rawExchange(port, 500, encodeFrame(JSON.stringify(hello)));
    assert.equal(beforeSend.length, 0, 'no banner, no log line: the bot waits for the hello');
    const decoder = new FrameDecoder();
    const messages: Message[] = decoder.push(afterSend).map((body) => parseMessage(body));
    assert.equal(decoder.pendingBytes, 0, `every byte received is part of a frame: ${JSON.stringify(afterSend.toString('utf8'))}`);
    assert.deepEqual(
      messages.map((m) => m.t),
      ['hello', 'denied'],
    );
    const denied = messages[1] as Extract<Message, { t: 'denied' }>;
    assert.equal(denied.code, 'protocol-version');
  });

  test('closes a connection that sends garbage without writing a byte back', async () => {
    const { beforeSend, afterSend } = await rawExchange(port, 100, Buffer.from('GET / HTTP/1.0\r\n\r\n'));
    assert.equal(beforeSend.length + afterSend.length, 0, `received: ${JSON.stringify(Buffer.concat([beforeSend, afterSend]).toString('utf8'))}`);
    assert.ok(isProcessAlive(pid), 'the bot keeps serving others');
  });

  test('completes the handshake and answers a no-op call from the daemon process', async () => {
    const secret = readFileSync(join(bot.home, 'bot.secret'), 'utf8').trim();
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const session = await ClientSession.connect(socket, { secret, programVersion: programVersion() });
    try {
      assert.equal(session.welcome.program.name, 'harvester-ts');
      const reply = await session.call({ ping: true }, { deadlineMs: 5000, method: 'ping' });
      const pong = reply.payload as unknown as PongPayload;
      assert.equal(pong.pong, true);
      assert.equal(pong.pid, pid);
    } finally {
      session.close();
    }
  });

  test('logs JSON lines to <home>/logs/bot.log and nothing to its stdout', () => {
    const records = bot.logRecords();
    const listening = records.find((r) => r.msg === 'bot listening on 127.0.0.1');
    assert.ok(listening, `a "listening" record in ${bot.logFile}`);
    assert.equal(listening.port, port);
    assert.equal(listening.pid, pid);
    assert.equal(listening.pidFile, bot.pidFile);
    assert.equal(statSync(join(bot.home, 'logs', 'bot.stdout')).size, 0);
  });

  test('a second start with the same pid file fails, naming the live pid and the file', async () => {
    const second = await bot.run('bot', 'start', '--port', '0');
    assert.equal(second.status, 1);
    assert.match(second.stderr, new RegExp(`already running with pid ${pid} \\(pid file ${bot.pidFile}\\)`));
    assert.equal(bot.pidInFile(), String(pid), 'the running bot keeps its pid file');
  });

  test('start --if-not-running exits 0 and says a bot is already running', async () => {
    const again = await bot.run('bot', 'start', '--port', '0', '--if-not-running');
    assert.equal(again.status, 0);
    assert.match(again.stdout, new RegExp(`already running \\(pid ${pid}, pid file ${bot.pidFile}\\)`));
    assert.equal(bot.pidInFile(), String(pid));
  });

  test('runs with the memory settings: V8 flags on its command line, glibc mmap threshold in its environment', () => {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    for (const flag of BOT_NODE_OPTIONS) assert.ok(cmdline.includes(flag), `${flag} in ${cmdline.join(' ')}`);
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    for (const [name, value] of Object.entries(BOT_DAEMON_ENV)) assert.ok(environ.includes(`${name}=${value}`), `${name}=${value} in the daemon's environment`);
  });

  test('status exits 0 while the bot runs', async () => {
    const status = await bot.run('bot', 'status');
    assert.equal(status.status, 0);
    assert.match(status.stdout, new RegExp(`bot running \\(pid ${pid}, pid file ${bot.pidFile}\\)`));
  });

  test('stop sends SIGTERM, waits for the exit and leaves no pid file; status then exits 3', async () => {
    const stop = await bot.run('bot', 'stop');
    assert.equal(stop.status, 0, stop.stderr);
    assert.match(stop.stdout, new RegExp(`^bot stopped \\(pid ${pid}\\)$`, 'm'));
    assert.equal(isProcessAlive(pid), false, 'the daemon has exited when stop returns');
    assert.equal(existsSync(bot.pidFile), false);
    assert.equal(await tryConnect('127.0.0.1', port), 'ECONNREFUSED');
    const records = bot.logRecords();
    assert.ok(records.some((r) => r.msg === 'signal received' && r.signal === 'SIGTERM'));
    assert.ok(records.some((r) => r.msg === 'bot stopped' && r.pid === pid));

    const status = await bot.run('bot', 'status');
    assert.equal(status.status, 3);
    assert.match(status.stdout, new RegExp(`bot not running \\(pid file ${bot.pidFile} absent\\)`));
    const stopAgain = await bot.run('bot', 'stop');
    assert.equal(stopAgain.status, 0);
    assert.match(stopAgain.stdout, /no bot running/);
  });
});

describe('harvester bot start: the environment', () => {
  test("an operator's own MALLOC_MMAP_THRESHOLD_ is kept", async () => {
    const bot = new BotHome();
    const result = await runCli(['--home', bot.home, 'bot', 'start', '--pid', bot.pidFile, '--port', '0'], { env: { MALLOC_MMAP_THRESHOLD_: '131072' } });
    assert.equal(result.status, 0, result.stderr);
    const pid = Number(bot.pidInFile());
    started.add(pid);
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    assert.ok(environ.includes('MALLOC_MMAP_THRESHOLD_=131072'), 'the value from the environment of bot start');
    assert.equal((await bot.run('bot', 'stop')).status, 0);
  });
});

describe('harvester bot start: stale pid files', () => {
  test('a pid file naming a process that is gone does not block start, and the log says it was replaced', async () => {
    const bot = new BotHome();
    const dead = spawn(process.execPath, ['-e', '']);
    const deadPid = dead.pid!;
    await new Promise((resolve) => dead.once('exit', resolve));
    await waitUntil(() => !existsSync(`/proc/${deadPid}`), 5000, `pid ${deadPid} to be reaped`);
    writeFileSync(bot.pidFile, `${deadPid}\n`);

    const status = await bot.run('bot', 'status');
    assert.equal(status.status, 3);
    assert.match(status.stdout, new RegExp(`names pid ${deadPid}, which is gone`));

    const { pid } = await bot.start();
    assert.notEqual(pid, deadPid);
    assert.equal(bot.pidInFile(), String(pid));
    const replaced = bot.logRecords().find((r) => r.msg === 'replaced a stale pid file (its process was gone)');
    assert.ok(replaced, 'the log records the replacement');
    assert.equal(replaced.pidFile, bot.pidFile);
    assert.equal((await bot.run('bot', 'stop')).status, 0);
  });

  test('a pid file naming a zombie (exited, not yet reaped by its parent) counts as stale', async (t) => {
    const bot = new BotHome();
    // The shell starts a child that exits at once, then becomes `sleep`, which never reaps it: a zombie.
    const parent = spawn('/bin/sh', ['-c', 'sleep 0 & echo $!; exec sleep 60'], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => {
      parent.kill('SIGKILL');
    });
    const zombiePid = await new Promise<number>((resolve) => parent.stdout.setEncoding('utf8').once('data', (line: string) => resolve(Number(line.trim()))));
    await waitUntil(() => procStat(zombiePid)[0] === 'Z', 5000, `pid ${zombiePid} to become a zombie`);
    writeFileSync(bot.pidFile, `${zombiePid}\n`);

    const status = await bot.run('bot', 'status');
    assert.equal(status.status, 3);
    assert.match(status.stdout, new RegExp(`names pid ${zombiePid}, which is gone`));
    const { pid } = await bot.start();
    assert.equal(bot.pidInFile(), String(pid));
    assert.equal((await bot.run('bot', 'stop')).status, 0);
  });
});

describe('harvester bot start: the bot secret', () => {
  for (const mode of [0o640, 0o604]) {
    test(`refuses to start when the secret file has mode ${mode.toString(8)}, saying how to fix it`, async () => {
      const bot = new BotHome();
      const secretFile = join(bot.home, 'bot.secret');
      const secret = 'ab'.repeat(32);
      writeFileSync(secretFile, `${secret}\n`);
      chmodSync(secretFile, mode);

      const start = await bot.run('bot', 'start', '--port', '0');
      assert.equal(start.status, 1);
      assert.match(start.stderr, /bot failed to start/);
      assert.ok(start.stderr.includes(`bot secret file ${secretFile} is accessible by group or others`), start.stderr);
      assert.ok(start.stderr.includes(`chmod 600 ${secretFile}`), start.stderr);
      assert.equal(start.stderr.includes(secret), false, 'the secret itself is never printed');
      assert.equal(existsSync(bot.pidFile), false, 'a bot that did not start leaves no pid file');
      assert.equal((await bot.run('bot', 'status')).status, 3);
    });
  }
});
