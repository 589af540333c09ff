// The SSH connections under the tunnel pool are killed (SIGKILL of the sshd processes serving them, on the
// jump host or on hpc) while calls are in flight. Each call must either be retried transparently (same id:
// the bot's journal attaches it to the execution already running, so nothing runs twice) or fail with a
// typed error; the pool must reconnect in the background, so the next calls work within a bounded wait.
// Run once per transport: the default (the bot's unix socket by stream-local forwarding, through hpc's sshd)
// and stdio (`harvester bot connect` in exec sessions of hpc's second sshd, which forwards nothing: killing
// its session processes kills the relays too).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MiddlewareError } from '../../../src/middleware/errors.js';
import { submittedLogName } from '../../../src/plugins/builtin/status-file.js';
import type { QueueConfig } from '../../../src/config/index.js';
import type { WorkSpec } from '../../../src/spec/index.js';
import type { TestbedHostName } from '../../support/testbed.js';
import { remoteBot, type RemoteBot } from '../../support/remote-bot.js';
import {
  assertNoSecretIn,
  botLogs,
  botSecret,
  builtinSections,
  Herder,
  killAll,
  mySshdProcesses,
  startBotWithPlugins,
  remoteQueue,
  submitRestExactlyOnce,
  suiteTestbed,
  tearDownBotSuite,
  waitForWorkingRoute,
  waitUntil,
  workers,
} from './support.js';

process.umask(0o000);

const { testbed, skip } = suiteTestbed();
const TUNNELS = 3;
/** How long the pool may take to have every slot up again after its links were killed. */
const HEAL_BOUND_MS = 10_000;
const PLUGIN_DIR = '/tmp/hv-fault-link-plugins';

// A monitor whose call runs until the test opens its gate: a call certainly running in the bot when the links die.
const gatedMonitor = `import { appendFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

export class GatedMonitor {
  constructor(options) {
    this.markerDir = options.markerDir;
  }

  async checkWorkers(ctx, workSpecs) {
    appendFileSync(join(this.markerDir, 'gated-started'), 'checkWorkers\\n');
    while (!existsSync(join(this.markerDir, 'gate'))) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return { kind: 'succeeded', value: workSpecs.map(() => ({ status: 'running', diag: 'gated' })), diag: '' };
  }
}
`;

interface TransportCase {
  readonly title: string;
  readonly botName: string;
  readonly port: number;
  /** The host whose sshd serves the last hop. */
  readonly last: 'hpc' | 'hpcstrict';
  readonly rpc: (tb: NonNullable<typeof testbed>) => Record<string, unknown>;
}

const transports: readonly TransportCase[] = [
  { title: 'the default transport (unix socket)', botName: 'fault-link', port: 18901, last: 'hpc', rpc: () => ({}) },
  {
    title: 'the stdio transport (sshd without forwarding)',
    botName: 'fault-link-stdio',
    port: 18904,
    last: 'hpcstrict',
    rpc: (tb) => ({ transport: 'stdio', remotePort: tb.hosts.hpcstrict.port }),
  },
];

for (const transport of transports) linkLossSuite(transport);

function linkLossSuite(transport: TransportCase): void {
  describe(`SSH connections of the tunnel pool are killed while calls are in flight, over ${transport.title}`, { skip }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'hv-fault-link-'));
    let bot: RemoteBot;
    let h: Herder;
    let queue: QueueConfig;
    let rpc: Record<string, unknown>;
    const errorTexts = new Map<string, string>();

    before(async () => {
      bot = await remoteBot(testbed!, transport.botName, transport.port);
      await startBotWithPlugins(testbed!, bot, PLUGIN_DIR, { 'gated_monitor.mjs': gatedMonitor });
      h = new Herder(dir, 'herder-link');
      rpc = bot.rpc({ numTunnels: TUNNELS, callTimeout: 12, ...transport.rpc(testbed!) });
      queue = remoteQueue('fault_link', rpc);
    });

    after(() => tearDownBotSuite(h, bot, [PLUGIN_DIR, dir]));

    const client = () => h.provider.clientFor(queue.middlewares.rpc!);
    const allUp = () => client().status().every((s) => s.state === 'up');

    /** Every worker's submitted.log holds exactly one line, naming the batchID the caller got back. */
    function assertSubmittedOnceAsReported(batch: readonly WorkSpec[]): void {
      for (const w of batch) {
        const lines = readFileSync(join(w.accessPoint!, submittedLogName), 'utf8').trim().split('\n');
        assert.equal(lines.length, 1, `worker ${String(w.workerID)} was submitted once`);
        assert.equal(lines[0], `${String(w.workerID)} ${String(w.batchID)}`, 'the reply describes the submission that happened');
      }
    }

    /** No worker of a batch was submitted more than once (whether or not its call succeeded). */
    function assertNeverTwice(batch: readonly WorkSpec[]): void {
      for (const w of batch) {
        const file = join(w.accessPoint!, submittedLogName);
        if (!existsSync(file)) continue;
        const lines = readFileSync(file, 'utf8').trim().split('\n');
        assert.equal(lines.length, 1, `worker ${String(w.workerID)} was not submitted twice`);
      }
    }

    /** The call ids the herder retried over a new link, from its log lines. */
    function retriedCallIds(logText: string): Set<string> {
      const ids = new Set<string>();
      for (const line of logText.split('\n')) {
        if (!line.includes('retrying with the same call id')) continue;
        const record = JSON.parse(line) as { callId?: string };
        if (record.callId !== undefined) ids.add(record.callId);
      }
      return ids;
    }

    /** How often the bot's journal recorded each call id as started. */
    async function journalStartsById(): Promise<Map<string, number>> {
      const text = await readFile(join(bot.absoluteHome, 'bot-journal.jsonl'), 'utf8');
      const starts = new Map<string, number>();
      for (const line of text.split('\n')) {
        if (!line.includes('"s":"start"')) continue;
        const { id } = JSON.parse(line) as { id: string };
        starts.set(id, (starts.get(id) ?? 0) + 1);
      }
      return starts;
    }

    async function killConnectionsDuringCalls(host: TestbedHostName, t: { diagnostic(message: string): void }): Promise<void> {
      const phase = performance.now();
      await waitForWorkingRoute(h, queue, 20_000);
      assert.ok(await waitUntil(allUp, HEAL_BOUND_MS), `all ${TUNNELS} tunnels are up before the kill`);
      t.diagnostic(`route up after ${Math.round(performance.now() - phase)} ms`);
      const connectsBefore = client().status().map((s) => s.connects);

      const submitter = await h.plugin(queue, 'submitter');
      const monitor = await h.plugin(queue, 'monitor');
      const root = await bot.makeRoot(`link-${host}`);
      const herderLog = join(dir, 'herder-link.log');
      const logOffset = existsSync(herderLog) ? statSync(herderLog).size : 0;
      const gatedQueue = remoteQueue(`fault_link_gated_${host}`, rpc, {
        submitter: builtinSections.submitter,
        monitor: { name: 'GatedMonitor', module: 'gated_monitor.mjs', markerDir: root },
      });
      const gated = await h.plugin(gatedQueue, 'monitor');
      const batches = [workers(root, 600), workers(root, 600), workers(root, 600)];
      const calls: Promise<unknown>[] = batches.map((b) => submitter.submitWorkers(h.ctx(queue), b));
      // Certainly running in the bot when the links die: the retry must be answered from its journal.
      const gatedCall = gated.checkWorkers(h.ctx(gatedQueue), workers(root, 1));
      assert.ok(await waitUntil(() => existsSync(join(root, 'gated-started')), 20_000, 5), 'the gated call runs in the bot');
      // The calls are on the wire (the bot is writing the first batch) when the connections die.
      const marker = join(batches[0]![20]!.accessPoint!, submittedLogName);
      assert.ok(await waitUntil(() => existsSync(marker), 20_000, 1), 'the bot is running the calls');
      const victims = mySshdProcesses(testbed!, host);
      assert.ok(victims.length >= TUNNELS, `found the ${host} sshd processes of our ${TUNNELS} connections (${victims.length} processes)`);
      const others = new Set(testbed!.sshdPids(host).filter((pid) => !victims.includes(pid)));
      killAll(victims);
      await writeFile(join(root, 'gate'), '');
      // Calls made while the pool has no link wait for one, and are answered once it reconnects.
      calls.push(...Array.from({ length: 4 }, () => monitor.checkWorkers(h.ctx(queue), [])));

      const killedAt = performance.now();
      const settled = await Promise.allSettled(calls);
      const gatedOutcome = await gatedCall;
      assert.equal(gatedOutcome.kind, 'succeeded', 'the call running in the bot when its link died was answered');
      t.diagnostic(`calls settled ${Math.round(performance.now() - killedAt)} ms after the kill`);
      let answered = 0;
      const failedIds = new Set<string>();
      const failedBatches: WorkSpec[][] = [];
      settled.forEach((result, i) => {
        if (result.status === 'fulfilled') {
          answered += 1;
          if (i < batches.length) {
            const outcomes = result.value as { kind: string }[];
            assert.equal(outcomes.length, batches[i]!.length);
            assert.ok(outcomes.every((o) => o.kind === 'succeeded'), 'a call that came back has every worker submitted');
            assertSubmittedOnceAsReported(batches[i]!);
          }
          return;
        }
        const error = result.reason as Error;
        errorTexts.set(`call ${i} (${host})`, `${error.message}\n${error.stack ?? ''}`);
        assert.ok(error instanceof MiddlewareError, `a call that failed failed with a typed error, got ${String(error)}`);
        if (error.context.callId !== undefined) failedIds.add(error.context.callId);
        if (i < batches.length) failedBatches.push(batches[i]!);
        t.diagnostic(`call ${i} failed: ${error.name}: ${error.message.split('\n')[0]}`);
      });
      for (const batch of batches) assertNeverTwice(batch);
      t.diagnostic(`${answered} of ${calls.length} calls answered after the ${host} connections were killed`);

      // The submissions were on the wire when the links died: the herder retried them over new links with
      // their ids, and the bot ran each id once (the journal attached the retry to the running execution).
      const logText = readFileSync(herderLog, 'utf8').slice(logOffset);
      const retriedIds = retriedCallIds(logText);
      assert.ok(retriedIds.size >= 1, 'calls cut off by the kill were retried over new links');
      const answeredAfterRetry = [...retriedIds].filter((id) => !failedIds.has(id));
      assert.ok(answeredAfterRetry.length >= 1, `a retried call was answered (${retriedIds.size} retried, ${failedIds.size} failed)`);
      // At least the first submission was running in the bot when its link died: its retry was answered from
      // the bot's journal (attached to the execution, or from its record), which the herder logs as replayed.
      const replayedLines = logText.split('\n').filter((l) => l.includes('call answered from the bot journal'));
      const replayed = replayedLines.length;
      assert.ok(
        replayedLines.some((l) => l.includes(`"queue":"fault_link_gated_${host}"`)),
        'the call running when its link died was answered from the bot\'s journal (replayed), not run again',
      );
      assert.equal(readFileSync(join(root, 'gated-started'), 'utf8').split('\n').filter((l) => l !== '').length, 1, 'the gated plugin ran once');
      const starts = await journalStartsById();
      for (const id of retriedIds) assert.equal(starts.get(id), 1, `call ${id} started once in the bot, however often it was delivered`);
      t.diagnostic(`${retriedIds.size} calls retried over new links, ${answeredAfterRetry.length} of them answered, ${replayed} from the bot's journal`);

      const started = performance.now();
      assert.ok(await waitUntil(allUp, HEAL_BOUND_MS), `every tunnel is up again within ${HEAL_BOUND_MS} ms: ${JSON.stringify(client().status())}`);
      const connectsAfter = client().status().map((s) => s.connects);
      assert.ok(connectsAfter.every((n, i) => n > connectsBefore[i]!), 'every slot reconnected (none was left dead)');
      t.diagnostic(`pool healed ${Math.round(performance.now() - started)} ms after the calls settled`);
      const next = await Promise.all(Array.from({ length: 6 }, () => monitor.checkWorkers(h.ctx(queue), [])));
      assert.ok(next.every((o) => o.kind === 'succeeded'), 'the next calls succeed');
      // A failed submission may have run in part: its workers are reconciled by what the bot did (as the
      // submitter's outcome-unknown path does), then the rest submitted; in the end each worker once.
      for (const batch of failedBatches) await submitRestExactlyOnce((ws) => submitter.submitWorkers(h.ctx(queue), ws), batch);
      t.diagnostic(`${failedBatches.length} failed submissions reconciled`);
      // Other people's connections to the same sshd were not touched.
      const survivors = testbed!.sshdPids(host);
      for (const pid of others) {
        if (!survivors.includes(pid)) t.diagnostic(`sshd ${pid} of another client ended meanwhile (not killed by this test)`);
      }
    }

    test('killing the jump host sshd processes of every tunnel: calls are retried or fail typed, nothing runs twice, the pool reconnects by itself', async (t) => {
      await killConnectionsDuringCalls('jump', t);
    });

    test(`killing the ${transport.last} sshd processes of every tunnel: calls are retried or fail typed, nothing runs twice, the pool reconnects by itself`, async (t) => {
      await killConnectionsDuringCalls(transport.last, t);
    });

    test('no secret (password, passphrase, bot secret) appears in the herder log, the bot logs or the errors', async () => {
      const texts = new Map<string, string>([...errorTexts, ...(await botLogs(bot))]);
      const herderLog = join(dir, 'herder-link.log');
      texts.set(herderLog, readFileSync(herderLog, 'utf8'));
      assert.match(texts.get(herderLog)!, /ssh tunnel down; reconnecting/, 'the herder logged the lost tunnels');
      assertNoSecretIn(texts, { password: testbed!.password(), passphrase: testbed!.passphrase(), 'bot secret': botSecret(bot) });
    });
  });
}
