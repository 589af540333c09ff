// The herder's BotClient over an in-process bot (in-memory links, a real journal): once a call may have
// reached the bot, no later failure of the same call says it did not run.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { MiddlewareConfig } from '../../config/index.js';
import { createLogger } from '../../logging/index.js';
import { ensureBotSecret } from '../bot/secret.js';
import { BotUnavailableError, MiddlewareError, OutcomeUnknownError } from '../errors.js';
import type { CallHandler, ServerSessionOptions } from '../protocol/index.js';
import { deferred, rejectionOf, tempJournal } from '../../../test/support/middleware/protocol-fixtures.js';
import type { CallPayload } from '../rpc/call-payload.js';
import { InMemoryLink, type BotLink } from './bot-link.js';
import { BotClient } from './bot-client.js';

const rejection = (promise: Promise<unknown>): Promise<MiddlewareError> => rejectionOf(promise, MiddlewareError);

const mw: MiddlewareConfig = {
  key: 'rpc',
  name: 'rpc',
  module: 'pandaharvester.harvestermiddleware.rpc_herder',
  remoteHost: 'in-memory',
  remotePort: 22,
  remoteBindPort: 18861,
  numTunnels: 1,
  sshUserName: 'tester',
  jumpPort: 22,
  launchBot: false,
  useAgent: false,
  strictHostKeyChecking: false,
  botHome: '.harvester',
  remoteCommand: 'harvester',
  transport: 'tcp',
  callTimeout: 30,
  // A call waits this long (0.3 s) for a tunnel before it fails: the tests where no tunnel can come up.
  connectTimeout: 0.3,
  extra: {},
};

const payload = { queueName: 'Q', kind: 'submitter', method: 'submitWorkers', args: [] } as unknown as CallPayload;

let home: string;
let journal: ReturnType<typeof tempJournal>;
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'hv-botclient-'));
  journal = tempJournal();
});
afterEach(() => {
  journal.dispose();
  rmSync(home, { recursive: true, force: true });
});

/**
 * A client whose links reach an in-process bot running `handler`, as long as `reachable()` says so. A tunnel
 * that can come up gets 5 s (a hang guard: on a loaded machine the first in-memory link took ~0.6 s).
 */
function clientFor(handler: CallHandler, reachable: () => boolean, connectTimeout = 5): { client: BotClient; links: InMemoryLink[] } {
  const secret = ensureBotSecret(join(home, '.harvester', 'bot.secret'));
  const serverOptions = (): ServerSessionOptions => ({
    secret,
    offer: { plugins: [], pluginDirs: [] },
    handler,
    journal: journal.journal,
    botId: 'bot-under-test',
    startedAt: new Date().toISOString(),
    programVersion: '0.0.0-test',
  });
  const links: InMemoryLink[] = [];
  const connect = async (): Promise<BotLink> => {
    if (!reachable()) throw new Error('ssh: connect to host in-memory port 22: Connection refused');
    const link = new InMemoryLink(home, serverOptions);
    links.push(link);
    return link;
  };
  const client = new BotClient({ ...mw, connectTimeout }, { knownHostsFile: join(home, 'known_hosts'), log: createLogger({ level: 'silent' }), connect });
  return { client, links };
}


describe('BotClient: the call effect across reconnects', () => {
  test('no tunnel ever: BotUnavailable, not-run', { timeout: 20_000 }, async () => {
    const { client } = clientFor(async () => null, () => false, mw.connectTimeout);
    try {
      const error = await rejection(client.call(payload, { deadlineMs: 10_000, method: 'submitter.submitWorkers', queue: 'Q' }));
      assert.ok(error instanceof BotUnavailableError);
      assert.equal(error.callEffect, 'not-run');
    } finally {
      await client.stop();
    }
  });

  test('the link drops mid-call and no tunnel comes back: OutcomeUnknown, may-have-run, the tunnel failure as its cause', { timeout: 20_000 }, async () => {
    const started = deferred();
    const finish = deferred<null>();
    let up = true;
    const { client, links } = clientFor(async () => {
      started.resolve();
      return finish.promise;
    }, () => up);
    try {
      const call = client.call(payload, { deadlineMs: 10_000, method: 'submitter.submitWorkers', queue: 'Q' });
      await started.promise;
      up = false;
      for (const link of links) link.close('the SSH connection dropped');
      const error = await rejection(call);
      assert.ok(error instanceof OutcomeUnknownError, `${error.name}: ${error.message}`);
      assert.equal(error.callEffect, 'may-have-run');
      assert.match(error.message, /was sent to the bot on a link that dropped/);
      assert.ok(error.cause instanceof BotUnavailableError);
      assert.equal(error.context.queue, 'Q');
    } finally {
      finish.resolve(null);
      await client.stop();
    }
  });

  test('the link drops mid-call and comes back: the retry is answered from the bot (same execution or its record), and the method ran once', { timeout: 20_000 }, async () => {
    const started = deferred();
    const finish = deferred<null>();
    let runs = 0;
    const { client, links } = clientFor(async () => {
      runs++;
      started.resolve();
      await finish.promise;
      return { value: 'done', mutations: [], botTimes: { decodeMs: 0, pluginMs: 0, encodeMs: 0 } };
    }, () => true, 15);
    try {
      const call = client.call(payload, { deadlineMs: 10_000, method: 'submitter.submitWorkers', queue: 'Q' });
      await started.promise;
      links[0]!.close('the SSH connection dropped');
      setImmediate(() => finish.resolve(null));
      const reply = await call;
      assert.equal(reply.value, 'done');
      assert.equal(runs, 1);
    } finally {
      await client.stop();
    }
  });
});

describe('BotClient: what it tells metrics and harvester status', () => {
  test('health answers with the bot version, its memory and its calls running, on a link that is up, without running a plugin', { timeout: 20_000 }, async () => {
    let handled = 0;
    const { client } = clientFor(async () => {
      handled++;
      return { value: null, mutations: [], botTimes: { decodeMs: 0, pluginMs: 0, encodeMs: 0 } };
    }, () => true);
    try {
      await client.call(payload, { deadlineMs: 10_000, method: 'submitter.submitWorkers', queue: 'Q' });
      const health = await client.health(5000);
      assert.equal(health.botVersion, '0.0.0-test');
      assert.ok(health.rssBytes > 0);
      assert.equal(health.callsInFlight, 0);
      assert.ok(health.roundTripMs >= 0);
      assert.equal(handled, 1, 'the health request is not a call');
      const snap = client.snapshot();
      assert.equal(snap.route, 'tester@in-memory');
      assert.deepEqual({ started: snap.started, links: snap.links, linksUp: snap.linksUp, calls: snap.calls, callsInFlight: snap.callsInFlight }, { started: true, links: 1, linksUp: 1, calls: 1, callsInFlight: 0 });
      assert.equal(snap.botVersion, '0.0.0-test');
      assert.equal(snap.failuresByType.size, 0);
    } finally {
      await client.stop();
    }
  });

  test('a route without a link up: health fails at once (it never dials), and failed calls are counted by error type with the last error', { timeout: 20_000 }, async () => {
    const { client } = clientFor(async () => null, () => false, mw.connectTimeout);
    try {
      await assert.rejects(client.health(5000));
      assert.equal(client.snapshot().started, false, 'asking for health did not open the pool');
      await rejection(client.call(payload, { deadlineMs: 10_000, method: 'submitter.submitWorkers', queue: 'Q' }));
      await rejection(client.call(payload, { deadlineMs: 10_000, method: 'submitter.submitWorkers', queue: 'Q' }));
      const snap = client.snapshot();
      assert.equal(snap.linksUp, 0);
      assert.deepEqual([...snap.failuresByType], [['BotUnavailableError', 2]]);
      assert.equal(snap.lastError?.type, 'BotUnavailableError');
      assert.match(snap.linkError ?? '', /Connection refused/);
    } finally {
      await client.stop();
    }
  });
});
