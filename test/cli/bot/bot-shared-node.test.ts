// The bot on a shared login node, through the real CLI: its files in its home (pid file, unix socket), a home
// that does not exist yet, pid files that name someone else's process, and `bot connect`, the relay the
// herder's stdio transport runs in an SSH session (here: spawned locally, speaking the real protocol).
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { after, describe, test } from 'node:test';
import { isProcessAlive } from '../../../src/middleware/bot/pid-file.js';
import { botPidPath, botSocketPath } from '../../../src/middleware/bot/paths.js';
import { ClientSession } from '../../../src/middleware/protocol/index.js';
import type { PongPayload } from '../../../src/middleware/rpc/call-payload.js';
import { programVersion } from '../../../src/version.js';
import { cliMain, runCli } from '../support.js';

const roots: string[] = [];
const bots = new Set<number>();
const others: ChildProcessWithoutNullStreams[] = [];

after(async () => {
  for (const child of others) child.kill('SIGKILL');
  for (const pid of bots) {
    if (isProcessAlive(pid)) process.kill(pid, 'SIGTERM');
    await waitUntil(() => !isProcessAlive(pid), 15_000, `bot pid ${pid} to exit`);
  }
  for (const root of roots) rmSync(root, { recursive: true, force: true });
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

function newRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'hv-bot-shared-'));
  roots.push(root);
  return root;
}

/** A home made the way an operator's is, with its bot secret already there (the herder needs it to connect). */
function homeWithSecret(): { home: string; secret: string } {
  const home = join(newRoot(), 'home');
  mkdirSync(home, { mode: 0o700 });
  const secret = randomBytes(32).toString('hex');
  writeFileSync(join(home, 'bot.secret'), `${secret}\n`, { mode: 0o600 });
  return { home, secret };
}

/** Pids of running `bot start` processes whose command line names `home`. */
function botProcessesOf(home: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const isBot = argv.some((arg, i) => arg === 'bot' && argv[i + 1] === 'start');
    if (isBot && argv.includes(home) && isProcessAlive(Number(entry))) found.push(Number(entry));
  }
  return found;
}

function spawnSleep(): ChildProcessWithoutNullStreams {
  const child = spawn('sleep', ['60']);
  others.push(child);
  return child;
}

describe('harvester bot: its files in its home', () => {
  test('start, status and stop default to <home>/bot.pid and listen on <home>/bot.sock; stop removes both', async () => {
    const home = join(newRoot(), 'home');
    const start = await runCli(['--home', home, 'bot', 'start', '--port', '0']);
    assert.equal(start.status, 0, start.stderr);
    const pid = Number(readFileSync(botPidPath(home), 'utf8').trim());
    bots.add(pid);
    assert.match(start.stdout, new RegExp(`socket ${botSocketPath(home)}, pid file ${botPidPath(home)},`));
    const socket = statSync(botSocketPath(home));
    assert.ok(socket.isSocket());
    assert.equal(socket.mode & 0o777, 0o600);

    const status = await runCli(['--home', home, 'bot', 'status']);
    assert.equal(status.status, 0);
    assert.match(status.stdout, new RegExp(`bot running \\(pid ${pid}, pid file ${botPidPath(home)}\\)`));

    const stop = await runCli(['--home', home, 'bot', 'stop']);
    assert.equal(stop.status, 0, stop.stderr);
    assert.equal(isProcessAlive(pid), false);
    assert.equal(existsSync(botPidPath(home)), false);
    assert.equal(existsSync(botSocketPath(home)), false, 'the socket file is removed on stop');
  });

  test('start on a host where the home does not exist yet creates it (0700, with its parents)', async () => {
    const root = newRoot();
    const home = join(root, 'not', 'yet', 'home');
    // Output files elsewhere: nothing else makes the home before the daemon is spawned in it.
    const start = await runCli(['--home', home, 'bot', 'start', '--port', '0', '--stdout', join(root, 'out'), '--stderr', join(root, 'err')]);
    assert.equal(start.status, 0, start.stderr);
    bots.add(Number(readFileSync(botPidPath(home), 'utf8').trim()));
    assert.equal(statSync(home).mode & 0o777, 0o700);
    assert.equal((await runCli(['--home', home, 'bot', 'stop'])).status, 0);

    const other = join(root, 'second', 'home');
    const again = await runCli(['--home', other, 'bot', 'start', '--port', '0']);
    assert.equal(again.status, 0, again.stderr);
    bots.add(Number(readFileSync(botPidPath(other), 'utf8').trim()));
    assert.equal(statSync(other).mode & 0o777, 0o700, 'the home is 0700 even though the logs directory is made in it');
    assert.equal((await runCli(['--home', other, 'bot', 'stop'])).status, 0);
  });
});

describe('harvester bot: pid files that name another process', () => {
  test('stop refuses to signal a process that is not a bot, naming the pid and why; the process survives', async () => {
    const root = newRoot();
    const sleeper = spawnSleep();
    const pidFile = join(root, 'harvester_rpc.pid');
    writeFileSync(pidFile, `${sleeper.pid}\n`);

    const stop = await runCli(['--home', join(root, 'home'), 'bot', 'stop', '--pid', pidFile]);
    assert.equal(stop.status, 1);
    assert.match(stop.stderr, new RegExp(`refusing to signal pid ${sleeper.pid} named in ${pidFile}: it is not a harvester bot \\(it runs: sleep 60\\)`));
    assert.equal(stop.stderr.trim().split('\n').length, 1, 'one line');
    await sleep(200);
    assert.ok(isProcessAlive(sleeper.pid!), 'the sleep was not signalled');
    assert.equal(sleeper.exitCode, null);

    const status = await runCli(['--home', join(root, 'home'), 'bot', 'status', '--pid', pidFile]);
    assert.equal(status.status, 3);
    assert.match(status.stdout, new RegExp(`names pid ${sleeper.pid}, which is not this user's bot`));
  });

  test('start takes over a pid file whose pid now belongs to another process, and leaves that process alone', async () => {
    const root = newRoot();
    const home = join(root, 'home');
    const sleeper = spawnSleep();
    const pidFile = join(root, 'bot.pid');
    writeFileSync(pidFile, `${sleeper.pid}\n`);
    const start = await runCli(['--home', home, 'bot', 'start', '--port', '0', '--pid', pidFile]);
    assert.equal(start.status, 0, start.stderr);
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    bots.add(pid);
    assert.notEqual(pid, sleeper.pid);
    assert.ok(isProcessAlive(sleeper.pid!));
    assert.equal((await runCli(['--home', home, 'bot', 'stop', '--pid', pidFile])).status, 0);
    assert.ok(isProcessAlive(sleeper.pid!));
  });

  test("stop refuses a pid file that belongs to another user, without sending any signal", { skip: process.getuid?.() !== 0 && 'needs root to give a file away' }, async () => {
    const root = newRoot();
    const sleeper = spawnSleep();
    const pidFile = join(root, 'harvester_rpc.pid');
    writeFileSync(pidFile, `${sleeper.pid}\n`);
    chownSync(pidFile, 65534, 65534);
    const stop = await runCli(['--home', join(root, 'home'), 'bot', 'stop', '--pid', pidFile]);
    assert.equal(stop.status, 1);
    assert.match(stop.stderr, new RegExp(`refusing the pid file ${pidFile}: it belongs to uid 65534, not to this user`));
    assert.ok(isProcessAlive(sleeper.pid!));
  });
});

/** `harvester bot connect` as the herder runs it: its stdin and stdout are the connection. */
function spawnConnect(home: string, ...extra: string[]): { child: ChildProcessWithoutNullStreams; stream: () => Duplex; stderr: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [cliMain, '--home', home, 'bot', 'connect', '--port', '0', ...extra], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  others.push(child);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // Made when a test speaks through it (unused, it would report the child's exit as a premature close).
  return { child, stream: () => Duplex.from({ readable: child.stdout, writable: child.stdin }), stderr: () => stderr, exited };
}

describe('harvester bot connect', () => {
  test('two started at once with no bot running: one bot is started, and both relay the real protocol to it', async () => {
    const { home, secret } = homeWithSecret();
    const first = spawnConnect(home);
    const second = spawnConnect(home);
    const sessions = await Promise.all(
      [first, second].map((relay) =>
        ClientSession.connect(relay.stream(), { secret, programVersion: programVersion(), handshakeTimeoutMs: 60_000 }).catch((error: unknown) => {
          throw new Error(`bot connect failed: ${(error as Error).message}; its stderr: ${relay.stderr()}`);
        }),
      ),
    );
    const pongs = await Promise.all(sessions.map((s) => s.call({ ping: true }, { deadlineMs: 10_000 }).then((r) => r.payload as unknown as PongPayload)));
    for (const pong of pongs) bots.add(pong.pid);
    assert.equal(pongs[0]!.pong, true);
    assert.equal(pongs[0]!.pid, pongs[1]!.pid, 'both relays reach the same bot');
    assert.equal(readFileSync(botPidPath(home), 'utf8').trim(), String(pongs[0]!.pid));
    assert.deepEqual(botProcessesOf(home), [pongs[0]!.pid], 'one bot process for the home');
    assert.equal(existsSync(join(home, 'bot-start.lock')), false, 'the start lock is released');

    // The herder closing its side ends the relay.
    for (const session of sessions) session.close();
    assert.deepEqual(await Promise.all([first.exited, second.exited]), [0, 0]);
    assert.equal(first.stderr() + second.stderr(), '');
    assert.ok(isProcessAlive(pongs[0]!.pid), 'the bot outlives its relays');

    // A later connect finds the running bot and starts none.
    const third = spawnConnect(home);
    const session = await ClientSession.connect(third.stream(), { secret, programVersion: programVersion() });
    const pong = (await session.call({ ping: true }, { deadlineMs: 10_000 })).payload as unknown as PongPayload;
    assert.equal(pong.pid, pongs[0]!.pid);
    session.close();
    assert.equal(await third.exited, 0);
    assert.equal((await runCli(['--home', home, 'bot', 'stop'])).status, 0);
  });

  test('the relay ends when the bot closes the connection', async () => {
    const { home, secret } = homeWithSecret();
    const relay = spawnConnect(home);
    const session = await ClientSession.connect(relay.stream(), { secret, programVersion: programVersion(), handshakeTimeoutMs: 60_000 });
    const pong = (await session.call({ ping: true }, { deadlineMs: 10_000 })).payload as unknown as PongPayload;
    bots.add(pong.pid);
    assert.equal((await runCli(['--home', home, 'bot', 'stop'])).status, 0);
    assert.equal(await relay.exited, 0);
    session.close();
  });

  test('a bot that cannot be started is one line on stderr and exit 1, nothing on stdout', async () => {
    const { home } = homeWithSecret();
    // A file where the socket should be: the bot refuses to start, and says why.
    writeFileSync(botSocketPath(home), 'not a socket');
    const relay = spawnConnect(home);
    let stdout = '';
    relay.child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    assert.equal(await relay.exited, 1);
    assert.equal(stdout, '');
    const lines = relay.stderr().trim().split('\n');
    assert.equal(lines.length, 1, relay.stderr());
    assert.match(lines[0]!, /^harvester: no bot answers on .*bot\.sock and starting one failed: .*exists and is not a socket/);
  });
});
