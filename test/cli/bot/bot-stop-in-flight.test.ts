// `harvester bot stop` while a plugin call runs: the daemon (started with the real CLI, a user plugin from the
// plugin directory of its harvester.json) must finish the call and send its reply before it exits. The herder
// is the production one, reaching the daemon over this host's loopback instead of SSH.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseQueueConfig } from '../../../src/config/index.js';
import { createLogger } from '../../../src/logging/index.js';
import { isProcessAlive } from '../../../src/middleware/bot/pid-file.js';
import { LoopbackLink } from '../../../src/middleware/herder/bot-link.js';
import { RpcMiddlewareProvider } from '../../../src/middleware/herder/rpc-provider.js';
import type { PluginContext } from '../../../src/plugins/contracts.js';
import { PluginFactory } from '../../../src/plugins/index.js';
import { runCli } from '../support.js';

const SLEEP_MS = 1000;



async function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// The login user's home as the herder sees it (LoopbackLink reads the secret relative to it); the bot's own
// home is <userHome>/.harvester, as on a real login node.
const userHome = mkdtempSync(join(tmpdir(), 'hv-cli-bot-stop-'));
const botHome = join(userHome, '.harvester');
const pluginDir = join(userHome, 'plugins');
const pidFile = join(botHome, 'bot.pid');
let botPid: number | undefined;

after(async () => {
  if (botPid !== undefined && isProcessAlive(botPid)) {
    process.kill(botPid, 'SIGTERM');
    await waitUntil(() => !isProcessAlive(botPid!), 40_000, `bot pid ${botPid} to exit`);
  }
  rmSync(userHome, { recursive: true, force: true });
});

test('bot stop lets a plugin call in flight finish and reply before the daemon exits', async (t) => {
  mkdirSync(botHome, { recursive: true, mode: 0o700 });
  mkdirSync(pluginDir, { recursive: true });
  writeFileSync(
    join(pluginDir, 'slow-throttler.mjs'),
    // Runs until the bot is told to stop, then ~1 s more: surely in flight when SIGTERM arrives, however slow
    // `bot stop` is to start, and still running well after it.
    `export class SlowThrottler {
  async toBeThrottled() {
    const signalled = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), 30000);
      process.once('SIGTERM', () => { clearTimeout(timer); resolve(true); });
    });
    if (!signalled) return { kind: 'failed', diag: 'no SIGTERM within 30 s' };
    await new Promise((resolve) => setTimeout(resolve, ${SLEEP_MS}));
    return { kind: 'succeeded', value: false, diag: 'slept ${SLEEP_MS} ms after SIGTERM in pid ' + process.pid };
  }
}
`,
  );
  writeFileSync(join(botHome, 'harvester.json'), JSON.stringify({ pluginDirs: [pluginDir] }));

  const start = await runCli(['--home', botHome, 'bot', 'start', '--port', '0', '--pid', pidFile]);
  assert.equal(start.status, 0, start.stderr);
  const match = /bot started \(pid (\d+), 127\.0\.0\.1:(\d+),/.exec(start.stdout);
  assert.ok(match, start.stdout);
  botPid = Number(match[1]);
  const port = Number(match[2]);

  const log = createLogger({ level: 'error', name: 'bot-stop-in-flight' });
  const provider = new RpcMiddlewareProvider({ knownHostsFile: join(userHome, 'known_hosts'), log, connect: async () => new LoopbackLink(userHome) });
  t.after(() => provider.close());
  const factory = new PluginFactory({ log });
  factory.registerMiddleware(provider);
  const load = parseQueueConfig(
    JSON.stringify({
      SLOW: {
        queueStatus: 'online',
        mapType: 'NoJob',
        rpc: {
          name: 'RpcHerder',
          module: 'pandaharvester.harvestermiddleware.rpc_herder',
          remoteHost: 'loopback',
          sshUserName: 'tester',
          numTunnels: 1,
          remoteBindPort: port,
          botHome: '.harvester',
          callTimeout: 30,
        },
        throttler: { name: 'SlowThrottler', module: 'slow-throttler.mjs', middleware: 'rpc' },
      },
    }),
    'bot-stop-in-flight.json',
  );
  assert.deepEqual(load.problems, []);
  const queue = load.queues.get('SLOW')!;
  const throttler = (await factory.forQueue(queue, 'throttler'))!;
  const ctx: PluginContext = { queue, log, signal: new AbortController().signal };

  const call = throttler.toBeThrottled(ctx);
  // SIGTERM only once the bot has recorded the call as started.
  const journal = join(botHome, 'bot-journal.jsonl');
  await waitUntil(() => existsSync(journal) && readFileSync(journal, 'utf8').includes('"s":"start"'), 10_000, 'the bot to start the call');
  const stop = await runCli(['--home', botHome, 'bot', 'stop', '--pid', pidFile]);
  const outcome = await call;

  assert.deepEqual(outcome, { kind: 'succeeded', value: false, diag: `slept ${SLEEP_MS} ms after SIGTERM in pid ${botPid}` });
  assert.equal(stop.status, 0, stop.stderr);
  assert.match(stop.stdout, new RegExp(`^bot stopped \\(pid ${botPid}\\)$`, 'm'));
  assert.equal(isProcessAlive(botPid), false);
  assert.equal(existsSync(pidFile), false);
  const records = readFileSync(join(botHome, 'logs', 'bot.log'), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  const waited = records.find((r) => r.msg === 'bot stopping: waiting for calls in flight');
  assert.ok(waited, 'the bot waited for the call');
  assert.equal(waited.running, 1);
  assert.equal(
    records.some((r) => typeof r.msg === 'string' && r.msg.includes('aborting calls')),
    false,
    'no call was cut off',
  );
});
