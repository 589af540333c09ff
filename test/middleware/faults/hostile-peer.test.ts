// Other local users on the login node can reach the bot's loopback port. Whatever they send — garbage, a
// frame header announcing 1 GiB, a call before the handshake, the handshake with a wrong proof of the
// secret — the bot must close that connection without running anything, and keep serving the herder.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PROTOCOL_VERSION } from '../../../src/middleware/protocol/messages.js';
import type { QueueConfig } from '../../../src/config/index.js';
import { remoteBot, type RemoteBot } from '../../support/remote-bot.js';
import { assertNoSecretIn, botLogs, botSecret, Herder, remoteQueue, suiteTestbed, waitForWorkingRoute } from './support.js';

process.umask(0o000);

const { testbed, skip } = suiteTestbed();
const PORT = 18904;

/**
 * Run with node on hpc as an unprivileged local user: connects to the bot's port, misbehaves as `mode`
 * says, and prints what happened as JSON: whether the bot closed the connection, when, and the frames it sent.
 */
const intruder = String.raw`
const net = require('node:net');
const crypto = require('node:crypto');
const [port, mode, protocol] = process.argv.slice(1);
const frame = (obj) => {
  const body = Buffer.from(JSON.stringify(obj));
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length);
  return Buffer.concat([header, body]);
};
const hello = () => frame({ t: 'hello', protocol: Number(protocol), program: { name: 'intruder', version: '0' }, nonce: crypto.randomBytes(32).toString('hex') });
const started = Date.now();
const frames = [];
const errors = [];
let pending = Buffer.alloc(0);
let done = false;
const report = (closed) => {
  if (done) return;
  done = true;
  process.stdout.write(JSON.stringify({ closed, ms: Date.now() - started, frames, errors }));
  process.exit(0);
};
const sock = net.connect({ host: '127.0.0.1', port: Number(port) });
sock.on('error', (e) => errors.push(e.code || e.message));
sock.on('close', () => report(true));
setTimeout(() => report(false), 8000);
sock.on('connect', () => {
  if (mode === 'garbage') {
    const body = crypto.randomBytes(48).fill(0xff, 0, 8);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(body.length);
    sock.write(Buffer.concat([header, body]));
  } else if (mode === 'http') {
    sock.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
  } else if (mode === 'huge') {
    const header = Buffer.alloc(4);
    header.writeUInt32BE(1024 * 1024 * 1024);
    sock.write(header);
    // Then keep sending, as a peer really announcing 1 GiB would; the bot must not wait for (or buffer) it.
    const chunk = Buffer.alloc(64 * 1024, 0x78);
    let sent = 0;
    const pump = () => {
      while (!done && sent < 64 && sock.writable && sock.write(chunk)) sent++;
    };
    sock.on('drain', pump);
    pump();
  } else if (mode === 'call-first') {
    sock.write(frame({ t: 'call', id: 'intruder-1', deadline: 1000, payload: { ping: true } }));
  } else if (mode === 'wrong-proof') {
    sock.write(hello());
  }
});
sock.on('data', (data) => {
  pending = Buffer.concat([pending, data]);
  while (pending.length >= 4 && pending.length >= 4 + pending.readUInt32BE(0)) {
    const length = pending.readUInt32BE(0);
    const message = JSON.parse(pending.subarray(4, 4 + length).toString('utf8'));
    pending = pending.subarray(4 + length);
    frames.push(message);
    if (mode === 'wrong-proof' && message.t === 'hello') sock.write(frame({ t: 'auth', proof: crypto.randomBytes(32).toString('hex') }));
  }
});
`;

interface IntruderReport {
  readonly closed: boolean;
  readonly ms: number;
  readonly frames: { t: string; code?: string; reason?: string }[];
  readonly errors: string[];
}

describe('hostile local connections to the bot port', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'hv-fault-hostile-'));
  let bot: RemoteBot;
  let h: Herder;
  let queue: QueueConfig;

  before(async () => {
    bot = await remoteBot(testbed!, 'fault-hostile', PORT);
    await bot.stop().catch(() => undefined);
    await bot.cleanup();
    await bot.start();
    h = new Herder(dir, 'herder-hostile');
    queue = remoteQueue('fault_hostile', bot.rpc({ numTunnels: 1, callTimeout: 10 }));
    await waitForWorkingRoute(h, queue, 20_000);
  });

  after(async () => {
    await h.close();
    await bot.stop();
    await bot.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  async function intrude(mode: string): Promise<IntruderReport> {
    const result = await testbed!.runInNamespace('hv-hpc', ['runuser', '-u', 'nobody', '--', '/usr/bin/node', '-e', intruder, String(PORT), mode, String(PROTOCOL_VERSION)]);
    assert.equal(result.status, 0, `the intruder ran: ${result.stderr}`);
    return JSON.parse(result.stdout) as IntruderReport;
  }

  function rssKb(pid: number): number {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    assert.ok(match?.[1] !== undefined, 'the bot process has a resident size');
    return Number(match[1]);
  }

  /** The intruder is thrown out before any call runs, and the herder's next call works at once. */
  async function thrownOutWhileHerderIsServed(mode: string, t: { diagnostic(message: string): void }): Promise<IntruderReport> {
    const startsBefore = await bot.journalStarts();
    const report = await intrude(mode);
    t.diagnostic(`${mode}: closed=${report.closed} after ${report.ms} ms, frames ${JSON.stringify(report.frames)}, errors ${report.errors.join(',') || 'none'}`);
    assert.ok(report.closed, `the bot closed the ${mode} connection (${JSON.stringify(report)})`);
    // A handshake timeout would end with a 'timeout' denial: the bot closed it for what it sent.
    assert.ok(!report.frames.some((f) => f.t === 'denied' && f.code === 'timeout'), `closed for what it sent, not at the handshake timeout (${JSON.stringify(report.frames)})`);
    assert.ok(!report.frames.some((f) => f.t === 'welcome' || f.t === 'result'), 'no welcome, no result');
    assert.equal(await bot.journalStarts(), startsBefore, 'no call was run for the intruder');
    const monitor = await h.plugin(queue, 'monitor');
    const outcome = await monitor.checkWorkers(h.ctx(queue), []);
    assert.equal(outcome.kind, 'succeeded', 'a call from the herder right after succeeds');
    return report;
  }

  test('garbage bytes in a frame: the bot closes that connection and keeps serving the herder', async (t) => {
    await thrownOutWhileHerderIsServed('garbage', t);
  });

  test('an HTTP request (its first bytes read as a 1.2 GB frame): closed, the herder is still served', async (t) => {
    await thrownOutWhileHerderIsServed('http', t);
  });

  test('a frame header announcing 1 GiB: closed at the header, nothing buffered, the herder is still served', async (t) => {
    const pid = await bot.pid();
    assert.ok(pid !== undefined);
    const before = rssKb(pid);
    const report = await thrownOutWhileHerderIsServed('huge', t);
    const grownMb = (rssKb(pid) - before) / 1024;
    assert.ok(grownMb < 64, `the bot did not buffer the announced frame (resident size grew ${grownMb.toFixed(1)} MB)`);
    assert.ok(report.errors.every((e) => e === 'EPIPE' || e === 'ECONNRESET'), `only write errors after the close: ${report.errors.join(', ')}`);
  });

  test('a call before the handshake: denied as a protocol violation, nothing runs', async (t) => {
    const report = await thrownOutWhileHerderIsServed('call-first', t);
    const denied = report.frames.find((f) => f.t === 'denied');
    assert.equal(denied?.code, 'protocol', `denied with code protocol: ${JSON.stringify(report.frames)}`);
  });

  test('the hello with a wrong proof of the secret: denied as auth before any call, nothing runs', async (t) => {
    const report = await thrownOutWhileHerderIsServed('wrong-proof', t);
    assert.deepEqual(report.frames.map((f) => f.t), ['hello', 'denied'], 'the bot said hello, then denied');
    assert.equal(report.frames[1]?.code, 'auth');
    assert.doesNotMatch(JSON.stringify(report.frames), new RegExp(botSecret(bot)), 'the denial does not reveal the secret');
  });

  test('the bot accounted for every refused connection at a bounded rate, and no secret appears in its logs or the herder log', async () => {
    // Refusals are logged at most once per interval, the others counted in a summary line written at the end of
    // the interval or when the bot stops: stop it first.
    await bot.stop();
    const logs = await botLogs(bot);
    const botLog = [...logs].find(([file]) => file.endsWith('bot.log'))?.[1] ?? '';
    const lines = botLog.split('\n');
    const refused = lines.filter((l) => l.includes('connection refused during the handshake')).length;
    const counted = lines.filter((l) => l.includes('more connections refused during the handshake')).reduce((sum, l) => sum + Number(/"suppressed":(\d+)/.exec(l)?.[1] ?? 0), 0);
    assert.ok(refused >= 1, 'the first refusal is logged');
    assert.ok(refused + counted >= 5, `every intruder connection is accounted for (${refused} logged, ${counted} counted)`);
    assert.ok(refused < 5, `refusals are not logged one by one (${refused} lines)`);
    const texts = new Map<string, string>(logs);
    texts.set('herder log', readFileSync(join(dir, 'herder-hostile.log'), 'utf8'));
    assertNoSecretIn(texts, { password: testbed!.password(), passphrase: testbed!.passphrase(), 'bot secret': botSecret(bot) });
  });
});
