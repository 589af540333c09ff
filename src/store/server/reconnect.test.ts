// What withReconnect tells the agents' log: each wait for an unreachable server and the recovery after it;
// a transaction rolled back to break a deadlock is retried at once and is no outage to report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StoreConnectionError, StoreQueryError } from '../errors.js';
import { withReconnect, type Failure, type ReconnectEvent } from './reconnect.js';

const lost = new Error('connection lost');
const deadlock = new Error('deadlock');
const classify = (error: unknown): Failure =>
  error === lost ? { retry: true, reason: 'connection lost' } : error === deadlock ? { retry: true, conflict: true, reason: 'deadlock' } : { retry: false, error };
const giveUp = (reason: string): StoreConnectionError => new StoreConnectionError('db', 'op', 'connect', reason);
const giveUpConflict = (reason: string): StoreQueryError => new StoreQueryError('db', 'op', reason);

/** An attempt that throws the given errors in turn, then answers 'done'. */
function failing(...errors: Error[]): () => Promise<string> {
  return async () => {
    const next = errors.shift();
    if (next !== undefined) throw next;
    return 'done';
  };
}

test('each wait for an unreachable server is told, numbered, and the recovery after it', async () => {
  const events: ReconnectEvent[] = [];
  const result = await withReconnect('claimWorkers', { reconnectTimeoutSec: 60, onEvent: (e) => events.push(e) }, failing(lost, lost), classify, giveUp, giveUpConflict);
  assert.equal(result, 'done');
  assert.deepEqual(
    events.map((e) => (e.kind === 'retrying' ? `retrying ${e.operation} #${e.attempt}` : `recovered ${e.operation} after ${e.attempts}`)),
    ['retrying claimWorkers #1', 'retrying claimWorkers #2', 'recovered claimWorkers after 3'],
  );
});

test('deadlocks retried at once are not reported as an outage', async () => {
  const events: ReconnectEvent[] = [];
  const result = await withReconnect('updateWorkers', { reconnectTimeoutSec: 60, onEvent: (e) => events.push(e) }, failing(deadlock, deadlock), classify, giveUp, giveUpConflict);
  assert.equal(result, 'done');
  assert.deepEqual(events, []);
});

test('a wait after a deadlock is numbered as the first wait', async () => {
  const events: ReconnectEvent[] = [];
  await withReconnect('updateWorkers', { reconnectTimeoutSec: 60, onEvent: (e) => events.push(e) }, failing(deadlock, lost), classify, giveUp, giveUpConflict);
  assert.deepEqual(
    events.map((e) => e.kind),
    ['retrying', 'recovered'],
  );
  assert.equal(events[0]?.kind === 'retrying' ? events[0].attempt : undefined, 1);
});
