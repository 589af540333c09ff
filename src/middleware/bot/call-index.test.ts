import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CallIndex, hashCallId, type IndexEntry } from './call-index.js';

/** An index over an imaginary journal whose lines are laid out one after another, 100 bytes each. */
function indexWithLines(lineHolds: (id: string, offset: number) => boolean = () => true): { index: CallIndex; lineOwner: Map<number, string> } {
  const lineOwner = new Map<number, string>();
  const index = new CallIndex((id, offset) => lineHolds(id, offset) && lineOwner.get(offset) === id);
  return { index, lineOwner };
}

function record(index: CallIndex, lineOwner: Map<number, string>, id: string, entry: Omit<IndexEntry, 'length'>): void {
  lineOwner.set(entry.offset, id);
  index.set(id, { ...entry, length: 100 });
}

/** Runs a whole compaction whose new file holds the kept lines back to back, as the journal does. */
function compact(index: CallIndex, lineOwner: Map<number, string>, cutoff: number, running: ReadonlySet<string> = new Set()): void {
  const isRunning = (id: string): boolean => running.has(id);
  const plan = index.planCompaction(cutoff, isRunning);
  const owners = new Map<number, string>();
  for (let k = 0; k < plan.kept; k++) {
    const newOffset = plan.size;
    owners.set(newOffset, lineOwner.get(plan.offset(k))!);
    plan.written(k, plan.length(k));
  }
  index.commit(plan, isRunning);
  lineOwner.clear();
  for (const [offset, id] of owners) lineOwner.set(offset, id);
}

describe('CallIndex', () => {
  test('a call settled by compaction is still found, at its place in the new file', () => {
    const { index, lineOwner } = indexWithLines();
    record(index, lineOwner, 'a', { state: 'started', at: 10, offset: 0 });
    record(index, lineOwner, 'b', { state: 'completed', at: 11, offset: 100 });
    record(index, lineOwner, 'a', { state: 'completed', at: 12, offset: 200 });
    compact(index, lineOwner, 0);
    assert.equal(index.recentCount, 0, 'nothing is running: every id leaves the Map');
    assert.equal(index.size, 2);
    assert.deepEqual(index.get('b'), { state: 'completed', at: 11, offset: 0, length: 100 });
    assert.deepEqual(index.get('a'), { state: 'completed', at: 12, offset: 100, length: 100 });
    assert.equal(index.get('c'), undefined);
  });

  test('a hash match that the journal line does not confirm is a miss, not another call', () => {
    let confirm = true;
    const { index, lineOwner } = indexWithLines(() => confirm);
    record(index, lineOwner, 'x', { state: 'completed', at: 1, offset: 0 });
    compact(index, lineOwner, 0);
    assert.equal(index.get('x')?.state, 'completed');
    confirm = false; // as if 'x' were another id with the same hash
    assert.equal(index.get('x'), undefined);
  });

  test('a call running across a compaction stays in the Map and is counted once', () => {
    const { index, lineOwner } = indexWithLines();
    record(index, lineOwner, 'done', { state: 'completed', at: 5, offset: 0 });
    record(index, lineOwner, 'busy', { state: 'started', at: 6, offset: 100 });
    compact(index, lineOwner, 0, new Set(['busy']));
    assert.equal(index.recentCount, 1);
    // Its end line lands after the compaction; the Map entry is replaced, not duplicated.
    record(index, lineOwner, 'busy', { state: 'completed', at: 7, offset: 200 });
    assert.equal(index.size, 2);
    assert.deepEqual(index.get('busy'), { state: 'completed', at: 7, offset: 200, length: 100 });
    compact(index, lineOwner, 0);
    assert.equal(index.size, 2);
    assert.equal(index.get('busy')?.state, 'completed');
    assert.equal(index.get('done')?.state, 'completed');
  });

  test('compaction drops calls older than the cutoff, unless they are running', () => {
    const { index, lineOwner } = indexWithLines();
    record(index, lineOwner, 'old', { state: 'completed', at: 1, offset: 0 });
    record(index, lineOwner, 'old-running', { state: 'started', at: 2, offset: 100 });
    record(index, lineOwner, 'new', { state: 'completed', at: 50, offset: 200 });
    assert.ok(index.hasOlderThan(10));
    compact(index, lineOwner, 10, new Set(['old-running']));
    assert.equal(index.get('old'), undefined);
    assert.equal(index.get('old-running')?.state, 'started');
    assert.equal(index.get('new')?.offset, 100);
    assert.equal(index.bytes(), 200);
  });

  test('many settled ids are each found, and unknown ones are not', () => {
    const { index, lineOwner } = indexWithLines();
    const ids = Array.from({ length: 5000 }, (_, i) => `call-${i}-${(i * 7919) % 104729}`);
    ids.forEach((id, i) => record(index, lineOwner, id, { state: i % 3 === 0 ? 'started' : 'completed', at: i, offset: i * 100 }));
    compact(index, lineOwner, 0);
    assert.equal(index.recentCount, 0);
    ids.forEach((id, i) => assert.deepEqual(index.get(id), { state: i % 3 === 0 ? 'started' : 'completed', at: i, offset: i * 100, length: 100 }));
    for (let i = 0; i < 1000; i++) assert.equal(index.get(`unknown-${i}`), undefined);
  });

  test('the id hash is a deterministic non-negative integer below 2^53', () => {
    for (const id of ['', 'a', '0f8fad5b-d9cb-469f-a165-70867728950e', 'é—中文🙂']) {
      const hash = hashCallId(id);
      assert.ok(Number.isSafeInteger(hash) && hash >= 0, `${id}: ${hash}`);
      assert.equal(hashCallId(id), hash);
    }
    assert.notEqual(hashCallId('call-1'), hashCallId('call-2'));
  });
});
