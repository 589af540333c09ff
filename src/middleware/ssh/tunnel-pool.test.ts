// The pool's state machine, driven by a fake connector: no SSH here, only the slot logic (round robin,
// waiting, healing, backoff, stopping). The real thing runs in test/middleware/ssh/tunnel-pool.test.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { AuthFailedError, ForwardError } from './errors.js';
import { silentLog } from './log.js';
import { RedactedSecret, defaultSshTimings, type SshRoute } from './route.js';
import {
  NoHealthyTunnelError,
  TunnelAttemptTimeoutError,
  TunnelLostError,
  TunnelPool,
  TunnelPoolStoppedError,
  type LinkConnector,
  type SlotStatus,
  type TunnelPoolOptions,
} from './tunnel-pool.js';

const auth = { useAgent: false, password: new RedactedSecret('not-used') };
const route: SshRoute = {
  remote: { host: 'hpc', port: 22, user: 'alice', auth, pinnedHostKeys: [] },
  jump: { host: 'jump', port: 22, user: 'alice', auth, pinnedHostKeys: [] },
  remoteBindPort: 18861,
  knownHostsFile: '/nonexistent/known_hosts',
  unknownHostKeys: 'refuse',
  strictHostKeyChecking: false,
  timings: defaultSshTimings,
};

class FakeLink extends EventEmitter<{ close: [reason: { message: string; error?: Error }] }> {
  isOpen = true;
  constructor(readonly id: number) {
    super();
  }
  close(message = 'closed'): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    this.emit('close', { message });
  }
  /** The network dropped it. */
  die(message: string): void {
    this.close(message);
  }
}

/** What the fake connector does for its n-th call (0-based). */
type Script = (call: number, signal: AbortSignal) => Promise<FakeLink>;

class FakeConnector {
  readonly links: FakeLink[] = [];
  readonly signals: AbortSignal[] = [];
  calls = 0;
  constructor(private readonly script: Script = () => Promise.resolve(new FakeLink(0))) {}
  readonly connect: LinkConnector<FakeLink> = async (_route, { signal }) => {
    const call = this.calls++;
    this.signals.push(signal);
    const link = await this.script(call, signal);
    this.links.push(link);
    return link;
  };
}

const fastBackoff = { initialMs: 10, maxMs: 80 };

function makePool(connector: FakeConnector, overrides: Partial<TunnelPoolOptions<string, FakeLink>> = {}) {
  let attached = 0;
  const detached: string[] = [];
  const pool = new TunnelPool<string, FakeLink>({
    route,
    size: 3,
    attach: (link, slot) => Promise.resolve(`slot${slot}-link${link.id}-n${attached++}`),
    detach: (value) => detached.push(value),
    log: silentLog,
    backoff: fastBackoff,
    random: () => 1,
    connect: connector.connect,
    ...overrides,
  });
  return { pool, detached };
}

function linkFactory(): Script {
  let id = 0;
  return () => Promise.resolve(new FakeLink(id++));
}

/** Resolves once the pool's status satisfies `predicate` (checked now and on every state change). */
function waitForStatus(pool: TunnelPool<string, FakeLink>, predicate: (slots: SlotStatus[]) => boolean, timeoutMs = 2_000): Promise<SlotStatus[]> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const slots = pool.status();
      if (!predicate(slots)) return;
      clearTimeout(timer);
      pool.off('state', check);
      resolve(slots);
    };
    const timer = setTimeout(() => {
      pool.off('state', check);
      reject(new Error(`pool never reached the expected state: ${JSON.stringify(pool.status())}`));
    }, timeoutMs);
    pool.on('state', check);
    check();
  });
}

const allUp = (slots: SlotStatus[]) => slots.every((s) => s.state === 'up');

function deferred<V>() {
  let resolve!: (value: V) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<V>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('TunnelPool', () => {
  test('opens size links on start and hands out slots round robin', async () => {
    const connector = new FakeConnector(linkFactory());
    const { pool } = makePool(connector);
    pool.start();
    await waitForStatus(pool, allUp);
    const got = [await pool.acquire(), await pool.acquire(), await pool.acquire(), await pool.acquire()];
    assert.deepEqual(
      got.map((v) => v.split('-')[0]),
      ['slot0', 'slot1', 'slot2', 'slot0'],
    );
    assert.equal(connector.calls, 3);
    await pool.stop();
  });

  test('start is idempotent', async () => {
    const connector = new FakeConnector(linkFactory());
    const { pool } = makePool(connector);
    pool.start();
    pool.start();
    await waitForStatus(pool, allUp);
    assert.equal(connector.calls, 3);
    await pool.stop();
  });

  test('acquire waits for a slot that is still connecting', async () => {
    const gate = deferred<FakeLink>();
    const connector = new FakeConnector(() => gate.promise);
    const { pool } = makePool(connector, { size: 1 });
    pool.start();
    const acquired = pool.acquire({ timeoutMs: 2_000 });
    await waitForStatus(pool, (s) => s[0]?.state === 'connecting');
    gate.resolve(new FakeLink(7));
    assert.match(await acquired, /^slot0-link7/);
    await pool.stop();
  });

  test('acquire times out with the last error of every slot, keeping causes apart', async () => {
    const hop = { host: 'hpc', port: 22, user: 'alice' };
    const connector = new FakeConnector((call) =>
      Promise.reject(call % 2 === 0 ? new ForwardError(hop, '127.0.0.1', 18861, 'Connection refused') : new Error('network flaky')),
    );
    const { pool } = makePool(connector, { size: 2 });
    pool.start();
    await waitForStatus(pool, (s) => s.every((slot) => slot.lastError !== undefined));
    const error = await pool.acquire({ timeoutMs: 50 }).then(
      () => assert.fail('acquire should have failed'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof NoHealthyTunnelError);
    assert.equal(error.slots.length, 2);
    assert.equal(error.persistent, false);
    const messages = error.slots.map((s) => s.lastError?.message ?? '');
    assert.ok(messages.some((m) => m.includes('127.0.0.1:18861')), messages.join(' | '));
    assert.ok(messages.some((m) => m.includes('network flaky')), messages.join(' | '));
    assert.match(error.message, /slot 0/);
    await pool.stop();
  });

  // Hang guard: acquire's own timeout is far longer than the test's, so an answer at all means "at once".
  test('acquire fails at once, marked persistent, when every slot failed authentication', { timeout: 20_000 }, async () => {
    const hop = { host: 'hpc', port: 22, user: 'alice' };
    const connector = new FakeConnector(() => Promise.reject(new AuthFailedError('remote-auth', hop, ['password'], ['publickey', 'password'])));
    const { pool } = makePool(connector, { size: 2 });
    pool.start();
    await waitForStatus(pool, (s) => s.every((slot) => slot.state === 'backoff' && slot.lastError !== undefined));
    const error = await pool.acquire({ timeoutMs: 600_000 }).then(
      () => assert.fail('acquire should have failed'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof NoHealthyTunnelError);
    assert.equal(error.persistent, true);
    assert.ok(error.slots.every((s) => s.persistent && s.lastError instanceof AuthFailedError));
    await pool.stop();
  });

  test('an authentication failure backs off to the maximum at once', async () => {
    const hop = { host: 'hpc', port: 22, user: 'alice' };
    const connector = new FakeConnector(() => Promise.reject(new AuthFailedError('jump-auth', hop, ['password'], ['password'])));
    const { pool } = makePool(connector, { size: 1, backoff: { initialMs: 10, maxMs: 5_000 } });
    pool.start();
    const [slot] = await waitForStatus(pool, (s) => s[0]?.state === 'backoff');
    assert.ok(slot?.retryAt !== undefined);
    const delay = slot.retryAt.getTime() - slot.since.getTime();
    assert.ok(delay >= 4_990 && delay <= 5_000, `delay ${delay}`);
    assert.equal(connector.calls, 1);
    await pool.stop();
  });

  test('transient failures back off exponentially, and the slot heals when connects work again', async () => {
    let failUntil = 3;
    const connector = new FakeConnector((call) => (call < failUntil ? Promise.reject(new Error(`refused #${call}`)) : Promise.resolve(new FakeLink(call))));
    const delays: number[] = [];
    const { pool } = makePool(connector, { size: 1 });
    pool.on('state', (s) => {
      if (s.state === 'backoff' && s.retryAt !== undefined) delays.push(s.retryAt.getTime() - s.since.getTime());
    });
    pool.start();
    await waitForStatus(pool, allUp);
    failUntil = 0;
    assert.equal(connector.calls, 4);
    // random() = 1 gives the full delay: 10, 20, 40 ms.
    assert.equal(delays.length, 3);
    delays.forEach((d, i) => assert.ok(Math.abs(d - [10, 20, 40][i]!) <= 2, `delays ${delays.join(',')}`));
    const [slot] = pool.status();
    assert.equal(slot?.connects, 1);
    assert.equal(slot?.lastError, undefined);
    await pool.stop();
  });

  test('a link that closes under an up slot is detached and reconnected', async () => {
    const connector = new FakeConnector(linkFactory());
    const { pool, detached } = makePool(connector, { size: 1 });
    pool.start();
    await waitForStatus(pool, allUp);
    const first = await pool.acquire();
    connector.links[0]?.die('connection reset by peer');
    await waitForStatus(pool, (s) => s[0]?.state === 'up' && s[0].connects === 2);
    const second = await pool.acquire();
    assert.notEqual(second, first);
    assert.deepEqual(detached, [first]);
    await pool.stop();
  });

  test('markBroken closes the link and reconnects that slot only', async () => {
    const connector = new FakeConnector(linkFactory());
    const { pool, detached } = makePool(connector, { size: 2 });
    pool.start();
    await waitForStatus(pool, allUp);
    const victim = await pool.acquire();
    pool.markBroken(victim, new Error('rpc session closed'));
    const during = pool.status();
    assert.equal(during[0]?.state, 'backoff');
    assert.ok(during[0]?.lastError instanceof TunnelLostError);
    assert.match(during[0]?.lastError?.message ?? '', /rpc session closed/);
    assert.equal(during[1]?.state, 'up');
    assert.equal(connector.links[0]?.isOpen, false);
    assert.deepEqual(detached, [victim]);
    await waitForStatus(pool, allUp);
    assert.equal(connector.calls, 3);
    // Marking the old value again is harmless: it is no longer in the pool.
    pool.markBroken(victim, new Error('again'));
    assert.ok(allUp(pool.status()));
    await pool.stop();
  });

  test('acquire skips a slot reported unhealthy and reconnects it', async () => {
    const connector = new FakeConnector(linkFactory());
    const unhealthy = new Set<string>();
    const { pool } = makePool(connector, { size: 2, isHealthy: (value) => !unhealthy.has(value) });
    pool.start();
    await waitForStatus(pool, allUp);
    const [a] = [await pool.acquire()];
    unhealthy.add(a);
    const b = await pool.acquire();
    const c = await pool.acquire();
    assert.notEqual(b, a);
    assert.notEqual(c, a);
    await waitForStatus(pool, (s) => s[0]?.connects === 2 && allUp(s));
    await pool.stop();
  });

  test('an attach failure closes the fresh link and counts as a failed attempt', async () => {
    const connector = new FakeConnector(linkFactory());
    let attempts = 0;
    const { pool } = makePool(connector, {
      size: 1,
      attach: (link) => (attempts++ === 0 ? Promise.reject(new Error('bot not running')) : Promise.resolve(`ok-${link.id}`)),
    });
    pool.start();
    const [slot] = await waitForStatus(pool, (s) => s[0]?.state === 'backoff');
    assert.match(slot?.lastError?.message ?? '', /bot not running/);
    assert.equal(connector.links[0]?.isOpen, false);
    assert.equal(await pool.acquire({ timeoutMs: 2_000 }), 'ok-1');
    await pool.stop();
  });

  test('an attempt that hangs is abandoned after attemptTimeoutMs', async () => {
    const connector = new FakeConnector((call, signal) =>
      call === 0 ? new Promise<FakeLink>((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason))) : Promise.resolve(new FakeLink(call)),
    );
    const { pool } = makePool(connector, { size: 1, attemptTimeoutMs: 30 });
    const errors: Error[] = [];
    pool.on('state', (s) => {
      if (s.state === 'backoff' && s.lastError) errors.push(s.lastError);
    });
    pool.start();
    await waitForStatus(pool, allUp);
    assert.ok(errors[0] instanceof TunnelAttemptTimeoutError);
    assert.equal(connector.signals[0]?.aborted, true);
    await pool.stop();
  });

  test('a slot that keeps dying right after coming up keeps backing off longer', async () => {
    const connector = new FakeConnector(linkFactory());
    const { pool } = makePool(connector, { size: 1, stableAfterMs: 60_000 });
    const delays: number[] = [];
    pool.on('state', (s) => {
      if (s.state === 'backoff' && s.retryAt !== undefined) delays.push(s.retryAt.getTime() - s.since.getTime());
      // Kill each link as soon as it is up.
      if (s.state === 'up' && s.connects <= 3) setImmediate(() => connector.links.at(-1)?.die('flap'));
    });
    pool.start();
    await waitForStatus(pool, (s) => s[0]?.state === 'up' && s[0].connects === 4);
    assert.equal(delays.length, 3);
    assert.ok(delays[2]! > delays[0]!, `delays ${delays.join(',')}`);
    await pool.stop();
  });

  test('stop closes links, detaches values, cancels reconnects and is idempotent', async () => {
    const connector = new FakeConnector(linkFactory());
    const { pool, detached } = makePool(connector, { size: 2, backoff: { initialMs: 20, maxMs: 20 } });
    pool.start();
    await waitForStatus(pool, allUp);
    connector.links[0]?.die('lost');
    assert.equal(pool.status()[0]?.state, 'backoff');
    await pool.stop();
    await pool.stop();
    const callsAtStop = connector.calls;
    assert.ok(pool.status().every((s) => s.state === 'stopped'));
    assert.ok(connector.links.every((l) => !l.isOpen));
    assert.equal(detached.length, 2);
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(connector.calls, callsAtStop, 'no reconnect after stop');
    await assert.rejects(pool.acquire(), TunnelPoolStoppedError);
  });

  test('stop rejects waiting acquires and closes a link that arrives late', async () => {
    const gate = deferred<FakeLink>();
    const connector = new FakeConnector(() => gate.promise);
    const { pool } = makePool(connector, { size: 1 });
    pool.start();
    const waiting = pool.acquire({ timeoutMs: 5_000 });
    await waitForStatus(pool, (s) => s[0]?.state === 'connecting');
    const stopped = pool.stop();
    await assert.rejects(waiting, TunnelPoolStoppedError);
    await stopped;
    const late = new FakeLink(99);
    gate.resolve(late);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(late.isOpen, false);
  });

  test('acquire honours its abort signal', async () => {
    const connector = new FakeConnector(() => new Promise<FakeLink>(() => undefined));
    const { pool } = makePool(connector, { size: 1, attemptTimeoutMs: 10_000 });
    pool.start();
    const controller = new AbortController();
    const waiting = pool.acquire({ signal: controller.signal, timeoutMs: 5_000 });
    controller.abort(new Error('caller gave up'));
    await assert.rejects(waiting, /caller gave up/);
    await pool.stop();
  });

  test('rejects a size that is not a positive integer', () => {
    const connector = new FakeConnector();
    assert.throws(() => makePool(connector, { size: 0 }), RangeError);
  });
});
