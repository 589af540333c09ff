// The server stores' set-based write-backs (row-updates.ts): many rows, each with values of its own, in a few
// statements per engine. Beyond the conformance suite: batches larger than one statement takes, rows of
// different column sets in one call, every column kind with values that are hard to carry (NUL, quotes,
// backslashes, U+FFFF, astral characters, long text, nulls between strings), and the lock guard over a
// batch: one lost row refuses the whole write and names its holder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { WorkSpec } from '../../src/spec/index.js';
import { StoreLockLostError } from '../../src/store/errors.js';
import { openServerStore } from '../../src/store/server/open-server-store.js';
import type { Store } from '../../src/store/store.js';
import { columnsOf, storableSpec } from '../support/store/conformance.js';
import { createTestDatabase, describeOnServerEngines, loadDbServers, serverSettings } from '../support/store/db-servers.js';

const T0 = new Date('2030-01-01T00:00:00.000Z');
const at = (seconds: number): Date => new Date(T0.getTime() + seconds * 1000);
const hardTexts = ['', 'plain', "it's", 'a "quoted" \\ back\\slash', 'nul\u0000inside', '\uFFFF\uFFFF0', 'astral 🚀 𝔘', 'x'.repeat(200), 'tab\tnew\nline'];

/** A value of a column kind that differs per row and carries the hard texts. */
function valueOf(kind: string, i: number): unknown {
  if (kind === 'integer') return i % 13 === 0 ? null : i * 7 - 3_000;
  if (kind === 'text') return hardTexts[i % hardTexts.length];
  if (kind === 'timestamp') return at(i);
  return { i, text: hardTexts[(i * 3) % hardTexts.length] };
}

function workers(n: number): WorkSpec[] {
  return Array.from({ length: n }, () => new WorkSpec({ computingSite: 'Q1', status: 'submitted', modificationTime: T0 } as never));
}

const env = loadDbServers();
describeOnServerEngines(env, 'set-based write-backs on PostgreSQL and MariaDB', (engine) => `set-based write-backs on ${engine}`, (env, engine) => {
  const withStore = (title: string, body: (store: Store) => Promise<void>) =>
    test(title, { timeout: 180_000 }, async () => {
      const store = await openServerStore(serverSettings(env, engine, await createTestDatabase(env, engine)));
      try {
        await body(store);
      } finally {
        await store.close();
      }
    });

  withStore('a write-back of 2,500 claimed workers in three column sets, each set beyond one statement, gives each row its own values and releases every lock', async (store) => {
    await store.insertWorkers(workers(2_500));
    const claimed = await store.claimWorkers({ purpose: 'monitor', owner: 'M', lockIntervalSec: 600, limit: 10_000, now: at(60) });
    assert.equal(claimed.length, 2_500);
    const columns = new WorkSpec().layout.fields.filter((def) => def.isColumn && !['workerID', 'lockedBy', 'modificationTime'].includes(def.name));
    claimed.forEach((w, i) => {
      if (i % 3 === 0) {
        // Every column: more parameters per row than a PostgreSQL statement takes for 834 rows.
        for (const def of columns) w.setField(def.name, valueOf(def.kind, i));
      } else if (i % 3 === 1) {
        // Long text: more bytes than a MariaDB statement takes for 833 rows.
        w.batchID = hardTexts[i % hardTexts.length]!;
        w.workAttributes = { i, text: `${hardTexts[(i * 5) % hardTexts.length]}${'é'.repeat(3_000)}` };
      } else {
        w.nativeExitCode = i % 7 === 0 ? null : i * 1_000_003;
        w.endTime = at(i);
      }
    });
    const expected = claimed.map((w) => {
      const copy = w.clone();
      copy.lockedBy = null;
      return columnsOf(copy);
    });
    await store.updateWorkers(claimed, { lock: { purpose: 'monitor', owner: 'M' }, releaseLock: true, now: at(61) });
    const back = await store.getWorkers(claimed.map((w) => w.workerID as number));
    assert.equal(back.length, 2_500);
    back.forEach((w, i) => assert.deepEqual(columnsOf(w), expected[i], `worker ${w.workerID}`));
  });

  withStore('every column of a batch of workers is written as given, whatever the values of the other rows', async (store) => {
    await fc.assert(
      fc.asyncProperty(fc.array(storableSpec(() => new WorkSpec(), ['workerID']), { minLength: 1, maxLength: 6 }), async (specs) => {
        const stored = workers(specs.length);
        await store.insertWorkers(stored);
        const expected = specs.map((spec, i) => {
          for (const def of spec.layout.fields) {
            if (def.isColumn && def.name !== 'workerID') stored[i]!.setField(def.name, spec.getField(def.name));
          }
          return columnsOf(stored[i]!);
        });
        await store.updateWorkers(stored);
        const back = await store.getWorkers(stored.map((w) => w.workerID as number));
        assert.deepEqual(back.map(columnsOf), expected);
      }),
      { numRuns: 40 },
    );
  });

  withStore('a write-back of 3,000 workers of which one lost its lock is refused with StoreLockLostError naming that one and its holder, and writes none', async (store) => {
    await store.insertWorkers(workers(3_000));
    const mine = await store.claimWorkers({ purpose: 'monitor', owner: 'A', lockIntervalSec: 60, limit: 10_000, now: at(60) });
    const [taken] = await store.claimWorkers({ purpose: 'monitor', owner: 'B', lockIntervalSec: 60, limit: 1, now: at(200) });
    assert.ok(taken !== undefined);
    for (const w of mine) w.batchID = 'A was here';
    await assert.rejects(store.updateWorkers(mine, { lock: { purpose: 'monitor', owner: 'A' }, releaseLock: true, now: at(201) }), (error: unknown) => {
      assert.ok(error instanceof StoreLockLostError, String(error));
      assert.deepEqual(error.lost, [{ id: taken.workerID, holder: 'B' }]);
      return true;
    });
    const back = await store.listWorkers({ queueName: 'Q1' });
    assert.equal(back.filter((w) => w.batchID !== null).length, 0, 'nothing written');
    assert.equal(back.filter((w) => w.lockedBy === 'A').length, 2_999, 'the other locks are kept');
  });

  withStore('workers whose only write is the lock time still have their lock checked: lost, they refuse the write and are named', async (store) => {
    await store.insertWorkers(workers(3));
    const mine = await store.claimWorkers({ purpose: 'monitor', owner: 'A', lockIntervalSec: 60, limit: 3, now: at(60) });
    await store.releaseLocks('A');
    await store.claimWorkers({ purpose: 'monitor', owner: 'C', lockIntervalSec: 60, limit: 1, now: at(200) });
    mine[1]!.batchID = 'changed';
    mine[2]!.batchID = 'changed';
    await assert.rejects(store.updateWorkers(mine, { lock: { purpose: 'monitor', owner: 'A' }, now: at(201) }), (error: unknown) => {
      assert.ok(error instanceof StoreLockLostError, String(error));
      assert.deepEqual(
        error.lost.map((l) => l.id),
        mine.map((w) => w.workerID),
      );
      assert.deepEqual(error.lost[0]?.holder, 'C');
      return true;
    });
  });
});
