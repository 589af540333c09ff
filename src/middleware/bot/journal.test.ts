import assert from 'node:assert/strict';
import fs, { appendFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import { ConnectionLostError, OutcomeUnknownError } from '../errors.js';
import type { CallReply } from '../protocol/ledger.js';
import type { JsonValue } from '../protocol/json.js';
import type { CallHandler } from '../protocol/server-session.js';
import { RecordingLogger, connectSessionPair, deferred, tempDirectory } from '../../../test/support/middleware/protocol-fixtures.js';
import { CallJournal, JournalCorruptError, JournalError } from './journal.js';

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

/** Polls `check` until it holds; fails naming `what` after 10 s (a hang guard, not a timing assertion). */
async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`gave up waiting for ${what}`);
    await sleep(2);
  }
}

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
    const started = deferred();
    const release = deferred();
    const handler: CallHandler = async () => {
      executions += 1;
      started.resolve();
      await release.promise;
      return 'done once';
    };
    // Every delivery of an id reaches the journal's claim: the test waits for the retry's, not for a time.
    const deliveries: string[] = [];
    const claim = journal.claim.bind(journal);
    journal.claim = (id, ...rest) => {
      deliveries.push(id);
      return claim(id, ...rest);
    };
    const first = await connectSessionPair({ handler, journal });
    const lost = first.client.call(null, { id: 'call-2', deadlineMs: 5000 });
    await started.promise;
    first.serverEnd.destroy(); // the reply's way back is gone; the handler keeps running
    await assert.rejects(lost, ConnectionLostError);
    const second = await connectSessionPair({ handler, journal });
    const retried = second.client.call(null, { id: 'call-2', deadlineMs: 5000 });
    await until('the retry reached the journal', () => deliveries.length === 2);
    assert.equal(journal.runningCount, 1, 'the retry attached to the running execution');
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
  test('records the start before the handler runs', async () => {
    const { journal } = openJournal();
    let seenOnDisk = '';
    const claim = journal.claim('c', Date.now() + 1000, async () => {
      seenOnDisk = readFileSync(file, 'utf8');
      return result(1);
    });
    assert.equal(claim.kind, 'running');
    if (claim.kind === 'running') await claim.execution.reply;
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

  test('compaction keeps lines longer than its copy buffer next to short ones, all replayable', async () => {
    const { journal } = openJournal({ compactEvery: 1_000_000 });
    const values = ['short-1', 'L'.repeat(100 * 1024), 'short-2', 'M'.repeat(70 * 1024), 'short-3'];
    for (const [i, value] of values.entries()) {
      const claim = journal.claim(`v${i}`, Date.now() + 1000, async () => result(value));
      if (claim.kind === 'running') await claim.execution.reply;
    }
    journal.compact();
    assert.equal(readFileSync(file, 'utf8').trim().split('\n').length, values.length);
    for (const [i, value] of values.entries()) {
      assert.deepEqual(journal.claim(`v${i}`, 0, async () => assert.fail('must not run')), { kind: 'replay', reply: result(value) });
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

type WritevSync = (fd: number, buffers: readonly NodeJS.ArrayBufferView[], position?: number | null) => number;

/**
 * Spies on fs.writevSync as the journal sees it (its named import follows syncBuiltinESMExports), optionally
 * replacing it; `restore` puts the real one back. Only for the unit tests of write batching below.
 */
function spyWritev(replacement?: (real: WritevSync, fd: number, buffers: readonly Buffer[]) => number): { writes: Buffer[][]; restore: () => void } {
  const real = fs.writevSync as WritevSync;
  const writes: Buffer[][] = [];
  const spy = mock.method(fs, 'writevSync', ((fd: number, buffers: readonly Buffer[], position?: number | null) => {
    writes.push([...buffers]);
    return replacement === undefined ? real(fd, buffers, position) : replacement(real, fd, buffers);
  }) as WritevSync);
  syncBuiltinESMExports();
  return {
    writes,
    restore: () => {
      spy.mock.restore();
      syncBuiltinESMExports();
    },
  };
}

const linesOf = (buffers: readonly Buffer[]): Array<{ id: string; s: string }> =>
  Buffer.concat(buffers)
    .toString('utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { id: string; s: string });

const replyOf = async (claim: ReturnType<CallJournal['claim']>): Promise<CallReply> =>
  claim.kind === 'running' ? claim.execution.reply : claim.reply;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('CallJournal write batching', () => {
  test('the start lines of calls claimed in one turn are written with one writev, before any of their handlers runs', async () => {
    const { journal } = openJournal();
    const ids = ['a', 'b', 'c', 'd'];
    const seenByHandler = new Map<string, string>();
    const spy = spyWritev();
    try {
      const claims = ids.map((id) =>
        journal.claim(id, Date.now() + 1000, async () => {
          seenByHandler.set(id, readFileSync(file, 'utf8'));
          return result(id);
        }),
      );
      assert.equal(seenByHandler.size, 0, 'no handler runs before the start lines are written');
      await Promise.all(claims.map(replyOf));
      assert.deepEqual(
        linesOf(spy.writes[0]!).map(({ id, s }) => ({ id, s })),
        ids.map((id) => ({ id, s: 'start' })),
      );
      for (const id of ids) {
        for (const other of ids) assert.match(seenByHandler.get(id)!, new RegExp(`"id":"${other}","s":"start"`), `${id} saw the start of ${other}`);
      }
    } finally {
      spy.restore();
    }
  });

  test('the end lines of calls finishing in one turn are written with one writev, before any of their replies', async () => {
    const { journal } = openJournal();
    const ids = ['x', 'y', 'z'];
    const release = deferred();
    const claims = ids.map((id) =>
      journal.claim(id, Date.now() + 1000, async () => {
        await release.promise;
        return result({ id });
      }),
    );
    await nextTurn(); // the start lines are written, the handlers wait for `release`
    const spy = spyWritev();
    try {
      const seenWithReply = new Map<string, string>();
      const replies = ids.map((id, k) =>
        replyOf(claims[k]!).then((reply) => {
          seenWithReply.set(id, readFileSync(file, 'utf8'));
          return reply;
        }),
      );
      release.resolve();
      assert.deepEqual(await Promise.all(replies), ids.map((id) => result({ id })));
      assert.equal(spy.writes.length, 1);
      assert.deepEqual(
        linesOf(spy.writes[0]!).map(({ id, s }) => ({ id, s })),
        ids.map((id) => ({ id, s: 'end' })),
      );
      for (const id of ids) assert.match(seenWithReply.get(id)!, new RegExp(`"id":"${id}","s":"end"`));
      for (const id of ids) assert.equal(journal.stateOf(id), 'completed');
    } finally {
      spy.restore();
    }
  });

  test('a failed start write refuses every call in it: no handler runs, each reply is the JournalError, a retry runs', async () => {
    const { journal, log } = openJournal();
    const before = journal.claim('earlier', Date.now() + 1000, async () => result('kept'));
    await replyOf(before);
    const sizeBefore = statSync(file).size;
    let runs = 0;
    const handler = async (): Promise<CallReply> => {
      runs += 1;
      return result('ran');
    };
    // The disk fails half-way through the write: part of it lands in the file, then the error.
    const spy = spyWritev((real, fd, buffers) => {
      real(fd, [buffers[0]!.subarray(0, 10)]);
      throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
    });
    let replies: CallReply[];
    try {
      const claims = ['p', 'q', 'r'].map((id) => journal.claim(id, Date.now() + 1000, handler));
      replies = await Promise.all(claims.map(replyOf));
    } finally {
      spy.restore();
    }
    assert.equal(runs, 0);
    for (const reply of replies) {
      assert.equal(reply.kind, 'error');
      assert.equal(reply.kind === 'error' && reply.error.type, JournalError.wireType);
      assert.match(reply.kind === 'error' ? reply.error.message : '', /EIO/);
      assert.equal(reply.kind === 'error' && reply.error.callEffect, 'not-run', 'refused before it ran: a retry may run it');
    }
    assert.equal(journal.runningCount, 0);
    assert.equal(journal.stateOf('p'), undefined);
    assert.deepEqual(log.at('error').map((entry) => (entry.fields as { callIds?: string[] }).callIds), [['p', 'q', 'r']]);
    assert.equal(statSync(file).size, sizeBefore, 'the partial write is cut back');
    assert.deepEqual(await replyOf(journal.claim('p', Date.now() + 1000, handler)), result('ran'));
    assert.equal(runs, 1);
    journal.close();
    const { journal: reopened } = openJournal();
    assert.equal(reopened.stateOf('earlier'), 'completed');
    assert.equal(reopened.stateOf('p'), 'completed');
  });

  test('a failed end write is logged, the replies still go out, and a retry hears OutcomeUnknown', async () => {
    const { journal, log } = openJournal();
    const release = deferred();
    const claims = ['e1', 'e2'].map((id) =>
      journal.claim(id, Date.now() + 1000, async () => {
        await release.promise;
        return result(id);
      }),
    );
    await nextTurn();
    const spy = spyWritev(() => {
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    });
    try {
      release.resolve();
      assert.deepEqual(await Promise.all(claims.map(replyOf)), [result('e1'), result('e2')]);
    } finally {
      spy.restore();
    }
    assert.deepEqual(log.at('error').map((entry) => (entry.fields as { callIds?: string[] }).callIds), [['e1', 'e2']]);
    assert.equal(journal.runningCount, 0);
    const retry = await replyOf(journal.claim('e1', Date.now() + 1000, async () => assert.fail('must not run again')));
    assert.equal(retry.kind === 'error' && retry.error.type, 'OutcomeUnknown');
    assert.equal(retry.kind === 'error' && retry.error.callEffect, 'may-have-run');
  });

  test('a retry arriving while the end line is queued attaches to the execution instead of hearing OutcomeUnknown', async () => {
    const { journal } = openJournal();
    let runs = 0;
    let retry: ReturnType<CallJournal['claim']> | undefined;
    const first = journal.claim('late', Date.now() + 1000, async () => {
      runs += 1;
      // Runs after this handler settles and queues its end line, before the flush that writes it.
      process.nextTick(() => (retry = journal.claim('late', Date.now() + 1000, async () => result('second run'))));
      return result('first run');
    });
    assert.deepEqual(await replyOf(first), result('first run'));
    assert.equal(retry?.kind, 'running');
    assert.equal(retry.kind === 'running' && retry.startedHere, false);
    assert.deepEqual(await replyOf(retry), result('first run'));
    assert.equal(runs, 1);
  });

  test('whenIdle resolves only once the end lines are written', async () => {
    const { journal } = openJournal();
    journal.claim('w', Date.now() + 1000, async () => result('w'));
    await journal.whenIdle();
    assert.equal(journal.stateOf('w'), 'completed');
  });

  test('through a session, a call whose start cannot be written is answered with the JournalError and not run', async () => {
    const { journal } = openJournal();
    let runs = 0;
    const { client } = await connectSessionPair({
      handler: async () => {
        runs += 1;
        return null;
      },
      journal,
    });
    const spy = spyWritev(() => {
      throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
    });
    try {
      await assert.rejects(client.call(null, { id: 'refused', deadlineMs: 1000 }), (error: unknown) => {
        assert.ok(error instanceof Error);
        assert.match(error.message, /cannot append to call journal/);
        assert.equal((error as { callEffect?: unknown }).callEffect, 'not-run');
        return true;
      });
    } finally {
      spy.restore();
    }
    assert.equal(runs, 0);
    assert.deepEqual(await client.call(null, { id: 'refused', deadlineMs: 1000 }), { payload: null, replayed: false });
    assert.equal(runs, 1);
    client.close();
  });
});

describe('CallJournal: size cap and background compaction', () => {
  const run = async (journal: CallJournal, id: string, deadlineAt: number, value: JsonValue): Promise<void> => {
    const claim = journal.claim(id, deadlineAt, async () => result(value));
    if (claim.kind === 'running') await claim.execution.reply;
  };

  test('calls go on while a big journal is compacted, and every record replays after it, also once reopened', async () => {
    const options = { compactEvery: 4000, syncCompactionMaxBytes: 0, compactionSliceBytes: 4096 };
    const { journal } = openJournal(options);
    const padding = 'p'.repeat(1000);
    const release = deferred();
    // Running when the compaction starts, ending while it runs: its end line is among those appended meanwhile.
    const long = journal.claim('long', Date.now() + 60_000, async () => {
      await release.promise;
      return result('slow');
    });
    for (let i = 0; i < 2000; i++) await run(journal, `old-${i}`, Date.now() + 60_000, { i, padding });
    assert.equal(journal.compacting, true, 'the 4000th line started a background compaction');

    let finishedWhileCompacting = 0;
    for (let i = 0; i < 50; i++) {
      await run(journal, `during-${i}`, Date.now() + 60_000, { during: i });
      if (journal.compacting) finishedWhileCompacting += 1;
    }
    release.resolve();
    if (long.kind === 'running') await long.execution.reply;
    assert.ok(finishedWhileCompacting > 0, 'calls were answered while the compaction ran');
    await journal.whenCompacted();
    assert.equal(journal.compacting, false);

    const replays = (j: CallJournal): void => {
      for (const i of [0, 1, 777, 1999]) assert.deepEqual(j.claim(`old-${i}`, 0, async () => assert.fail('must not run')), { kind: 'replay', reply: result({ i, padding }) });
      for (let i = 0; i < 50; i++) assert.deepEqual(j.claim(`during-${i}`, 0, async () => assert.fail('must not run')), { kind: 'replay', reply: result({ during: i }) });
      assert.deepEqual(j.claim('long', 0, async () => assert.fail('must not run')), { kind: 'replay', reply: result('slow') });
    };
    replays(journal);
    assert.equal(journal.recordCount, 2051);
    await run(journal, 'after', Date.now() + 60_000, 'a');
    journal.close();
    const { journal: reopened } = openJournal(options);
    replays(reopened);
    assert.equal(reopened.recordCount, 2052);
  });

  test('beyond the cap, records the herder can no longer ask for are dropped, oldest first; the others stay', async () => {
    let now = 1_000_000;
    const maxBytes = 20_000;
    const { journal } = openJournal({ now: () => now, maxBytes });
    const padding = 'x'.repeat(900);
    for (let i = 0; i < 10; i++) {
      await run(journal, `expired-${i}`, now + 1000, { i, padding });
      now += 10;
    }
    now += 5000; // their callers' deadlines have passed
    for (let i = 0; i < 14; i++) {
      await run(journal, `live-${i}`, now + 60 * 60 * 1000, { i, padding });
      now += 10;
    }
    for (let i = 0; i < 14; i++) assert.deepEqual(journal.claim(`live-${i}`, 0, async () => assert.fail('must not run')), { kind: 'replay', reply: result({ i, padding }) });
    assert.equal(journal.stateOf('expired-0'), undefined, 'the oldest expired record made room');
    assert.ok(statSync(file).size <= maxBytes + 2000, `${statSync(file).size} bytes`);
    assert.equal(journal.isFull, false);
  });

  test('when every record may still be asked for and they exceed the cap, new calls are refused (not run) until they age out', async () => {
    let now = 1_000_000;
    const { journal, log } = openJournal({ now: () => now, maxBytes: 10_000 });
    const padding = 'y'.repeat(900);
    let refused: unknown;
    const completed: string[] = [];
    for (let i = 0; i < 100 && refused === undefined; i++) {
      try {
        await run(journal, `c${i}`, now + 60 * 60 * 1000, { i, padding });
        completed.push(`c${i}`);
      } catch (error) {
        refused = error;
      }
    }
    assert.ok(refused instanceof JournalError, String(refused));
    assert.match(refused.message, /is full: .* new calls are refused until they age out/);
    assert.equal(refused.callEffect, 'not-run');
    assert.ok(log.at('error').some((entry) => /call journal full/.test(entry.message)));
    for (const id of completed) assert.equal(journal.claim(id, 0, async () => assert.fail('must not run')).kind, 'replay');

    // Through a session the herder hears a refusal it may retry: nothing ran.
    const { client } = await connectSessionPair({ handler: async () => assert.fail('must not run'), journal });
    await assert.rejects(client.call(null, { deadlineMs: 1000 }), (error: unknown) => (error as { callEffect?: string }).callEffect === 'not-run');
    client.close();

    now += 2 * 60 * 60 * 1000; // past every caller's deadline
    journal.compact();
    assert.equal(journal.isFull, false);
    await run(journal, 'fresh', now + 1000, 'ok');
    assert.equal(journal.stateOf('fresh'), 'completed');
  });
});
