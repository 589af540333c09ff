import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { OutcomeUnknownError } from '../errors.js';
import type { CallReply } from '../protocol/ledger.js';
import type { JsonValue } from '../protocol/json.js';
import type { CallHandler } from '../protocol/server-session.js';
import { RecordingLogger, connectSessionPair, deferred, tempDirectory } from '../protocol/test-fixtures.js';
import { CallJournal, JournalCorruptError } from './journal.js';

let dir: { path: string; cleanup: () => void };
let file: string;
const open: CallJournal[] = [];
function openJournal(options: Partial<Parameters<typeof CallJournal.open>[1]> = {}): { journal: CallJournal; log: RecordingLogger } {
  const log = new RecordingLogger();
  const journal = CallJournal.open(file, { log, ...options });
  open.push(journal);
  return { journal, log };
}
beforeEach(() => {
  dir = tempDirectory('harvester-journal-test-');
  file = join(dir.path, 'sub', 'journal.jsonl');
});
afterEach(() => {
  for (const journal of open.splice(0)) journal.close();
  dir.cleanup();
});

const result = (value: JsonValue): CallReply => ({ kind: 'result', payload: Buffer.from(JSON.stringify(value)) });

describe('CallJournal over sessions', () => {
  test('a completed call asked again, on another connection, is answered from the record without running again', async () => {
    const { journal } = openJournal();
    let executions = 0;
    const handler: CallHandler = async (payload) => {
      executions += 1;
      return { echoed: payload, execution: executions };
    };
    const first = await connectSessionPair({ handler, journal });
    assert.deepEqual(await first.client.call('hello', { id: 'call-1', deadlineMs: 1000 }), {
      payload: { echoed: 'hello', execution: 1 },
      replayed: false,
    });
    first.client.close();
    const second = await connectSessionPair({ handler, journal });
    assert.deepEqual(await second.client.call('hello', { id: 'call-1', deadlineMs: 1000 }), {
      payload: { echoed: 'hello', execution: 1 },
      replayed: true,
    });
    assert.equal(executions, 1);
    second.client.close();
  });

  test('a call retried while it runs attaches to the running execution', async () => {
    const { journal } = openJournal();
    let executions = 0;
    const release = deferred();
    const handler: CallHandler = async () => {
      executions += 1;
      await release.promise;
      return 'done once';
    };
    const first = await connectSessionPair({ handler, journal });
    const lost = first.client.call(null, { id: 'call-2', deadlineMs: 5000 });
    await sleep(10);
    first.serverEnd.destroy(); // the reply's way back is gone; the handler keeps running
    await assert.rejects(lost);
    const second = await connectSessionPair({ handler, journal });
    const retried = second.client.call(null, { id: 'call-2', deadlineMs: 5000 });
    await sleep(10);
    assert.equal(journal.runningCount, 1);
    release.resolve();
    assert.deepEqual(await retried, { payload: 'done once', replayed: true });
    assert.equal(executions, 1);
    assert.equal(journal.stateOf('call-2'), 'completed');
    second.client.close();
  });

  test('a call started by a previous bot process comes back as OutcomeUnknown', async () => {
    const { journal: previous } = openJournal();
    // The previous process recorded the start and died before the end.
    previous.claim('call-3', Date.now() + 60_000, () => new Promise<CallReply>(() => undefined));
    previous.close();
    const { journal } = openJournal();
    let executions = 0;
    const { client } = await connectSessionPair({
      handler: async () => {
        executions += 1;
        return null;
      },
      journal,
    });
    await assert.rejects(client.call(null, { id: 'call-3', deadlineMs: 1000 }), (error: unknown) => {
      assert.ok(error instanceof OutcomeUnknownError);
      assert.match(error.message, /call call-3 was running when the bot stopped; its outcome is unknown/);
      return true;
    });
    assert.equal(executions, 0);
    client.close();
  });
});

describe('CallJournal on disk', () => {
  test('records the start before the handler runs', () => {
    const { journal } = openJournal();
    let seenOnDisk = '';
    journal.claim('c', Date.now() + 1000, async () => {
      seenOnDisk = readFileSync(file, 'utf8');
      return result(1);
    });
    assert.match(seenOnDisk, /"id":"c","s":"start"/);
  });

  test('a reply recorded by a previous process is replayed after reopening', async () => {
    const { journal: previous } = openJournal();
    const claim = previous.claim('c', Date.now() + 1000, async () => result({ batchID: '42' }));
    assert.equal(claim.kind, 'running');
    if (claim.kind === 'running') await claim.execution.reply;
    previous.close();
    const { journal } = openJournal();
    const again = journal.claim('c', Date.now() + 1000, async () => assert.fail('must not run again'));
    assert.deepEqual(again, { kind: 'replay', reply: result({ batchID: '42' }) });
  });

  test('compaction at open drops records older than the retention window', async () => {
    let now = 1_000_000;
    const { journal: old } = openJournal({ now: () => now });
    for (const id of ['old-1', 'old-2']) {
      const claim = old.claim(id, now + 1000, async () => result('x'.repeat(1000)));
      if (claim.kind === 'running') await claim.execution.reply;
    }
    now += 2 * 60 * 60 * 1000;
    const claim = old.claim('recent', now + 1000, async () => result('r'));
    if (claim.kind === 'running') await claim.execution.reply;
    old.close();
    const sizeBefore = statSync(file).size;
    const { journal, log } = openJournal({ now: () => now + 30 * 60 * 1000, retentionMs: 60 * 60 * 1000 });
    assert.equal(journal.stateOf('old-1'), undefined);
    assert.equal(journal.stateOf('old-2'), undefined);
    assert.equal(journal.stateOf('recent'), 'completed');
    assert.ok(statSync(file).size < sizeBefore / 2);
    assert.ok(log.at('info').some((entry) => /compacted/.test(entry.message)));
    assert.deepEqual(journal.claim('recent', 0, async () => assert.fail('must not run')), { kind: 'replay', reply: result('r') });
  });

  test('compaction every N appends keeps one line per call and the replies readable', async () => {
    const { journal } = openJournal({ compactEvery: 10 });
    for (let i = 0; i < 25; i++) {
      const claim = journal.claim(`c${i}`, Date.now() + 1000, async () => result({ i }));
      if (claim.kind === 'running') await claim.execution.reply;
    }
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    // 50 appends (start + end per call), compacted after every 10th: one end line per call remains.
    assert.equal(lines.length, 25);
    assert.ok(lines.every((line) => line.includes('"s":"end"')));
    for (let i = 0; i < 25; i++) {
      assert.deepEqual(journal.claim(`c${i}`, 0, async () => assert.fail('must not run')), { kind: 'replay', reply: result({ i }) });
    }
  });

  test('a call running across a compaction is replayed once it ends, and counted once', async () => {
    const { journal } = openJournal({ compactEvery: 4 });
    const release = deferred();
    const long = journal.claim('long', Date.now() + 10_000, async () => {
      await release.promise;
      return result('slow');
    });
    for (let i = 0; i < 5; i++) {
      const claim = journal.claim(`quick-${i}`, Date.now() + 1000, async () => result(i));
      if (claim.kind === 'running') await claim.execution.reply;
    }
    assert.equal(journal.stateOf('long'), 'started');
    release.resolve();
    if (long.kind === 'running') await long.execution.reply;
    assert.equal(journal.recordCount, 6);
    assert.deepEqual(journal.claim('long', 0, async () => assert.fail('must not run')), { kind: 'replay', reply: result('slow') });
    journal.compact();
    assert.equal(journal.recordCount, 6);
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(journal.claim(`quick-${i}`, 0, async () => assert.fail('must not run')), { kind: 'replay', reply: result(i) });
    }
  });

  test('a record whose fields were reordered by hand is still found after reopening', () => {
    file = join(dir.path, 'journal.jsonl');
    writeFileSync(file, `{"s":"end","at":${Date.now()},"reply":{"kind":"result","payload":{"n":7}},"id":"by-hand"}\n`);
    const { journal } = openJournal();
    assert.equal(journal.stateOf('by-hand'), 'completed');
    assert.deepEqual(journal.claim('by-hand', 0, async () => assert.fail('must not run')), { kind: 'replay', reply: result({ n: 7 }) });
    assert.equal(journal.stateOf('by-han'), undefined);
  });

  test('a torn last line is ignored with a warning and the journal stays appendable', async () => {
    const { journal: previous } = openJournal();
    const claim = previous.claim('kept', Date.now() + 1000, async () => result('k'));
    if (claim.kind === 'running') await claim.execution.reply;
    previous.close();
    appendFileSync(file, '{"id":"torn","s":"sta');
    const { journal, log } = openJournal();
    assert.ok(log.at('warn').some((entry) => /torn last line/.test(entry.message)));
    assert.equal(journal.stateOf('torn'), undefined);
    assert.equal(journal.stateOf('kept'), 'completed');
    const next = journal.claim('after', Date.now() + 1000, async () => result('a'));
    if (next.kind === 'running') await next.execution.reply;
    for (const line of readFileSync(file, 'utf8').trim().split('\n')) JSON.parse(line);
  });

  test('corruption before the last line is an error naming the file and line', () => {
    file = join(dir.path, 'journal.jsonl');
    writeFileSync(
      file,
      '{"id":"a","s":"start","at":1}\nnot json at all\n{"id":"b","s":"start","at":2}\n',
    );
    assert.throws(
      () => CallJournal.open(file, { log: new RecordingLogger() }),
      (error: unknown) => error instanceof JournalCorruptError && error.message.includes(`${file} line 2`),
    );
  });

  test('an execution abandoned at shutdown leaves its record started', async () => {
    const { journal } = openJournal();
    const claim = journal.claim('s', Date.now() + 10_000, (signal) => new Promise((resolve) => signal.addEventListener('abort', () => resolve(result('late')))));
    journal.abandonRunning(new Error('stopping'));
    assert.equal(journal.runningCount, 0);
    if (claim.kind === 'running') await claim.execution.reply;
    assert.equal(journal.stateOf('s'), 'started');
    const retry = journal.claim('s', 0, async () => assert.fail('must not run'));
    assert.equal(retry.kind === 'replay' && retry.reply.kind === 'error' && retry.reply.error.type, 'OutcomeUnknown');
  });
});
