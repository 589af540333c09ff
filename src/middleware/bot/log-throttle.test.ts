import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RecordingLogger } from '../../../test/support/middleware/protocol-fixtures.js';
import { LogThrottle } from './log-throttle.js';

/** A clock and a timer the test moves by hand. */
function manualTime(): { now: () => number; advance: (ms: number) => void; schedule: (callback: () => void, delayMs: number) => { cancel(): void } } {
  let now = 0;
  let timer: { at: number; callback: () => void } | undefined;
  return {
    now: () => now,
    advance: (ms) => {
      now += ms;
      if (timer !== undefined && timer.at <= now) {
        const { callback } = timer;
        timer = undefined;
        callback();
      }
    },
    schedule: (callback, delayMs) => {
      const mine = { at: now + delayMs, callback };
      timer = mine;
      return { cancel: () => void (timer === mine && (timer = undefined)) };
    },
  };
}

describe('LogThrottle', () => {
  test('a flood costs at most one line per interval, and the lines held back are counted', () => {
    const log = new RecordingLogger();
    const time = manualTime();
    const throttle = new LogThrottle(log, 'connections refused during the handshake', { intervalMs: 10_000, now: time.now, schedule: time.schedule });
    for (let second = 0; second < 30; second++) {
      for (let i = 0; i < 100; i++) throttle.warn({ peer: `p${i}` }, 'connection refused during the handshake');
      time.advance(1000);
    }
    throttle.flush();
    const lines = log.at('warn');
    // Over 30 s: a line, then a summary per interval; never two within one interval.
    assert.ok(lines.length <= 4, `${lines.length} lines`);
    const summaries = lines.filter((line) => 'suppressed' in line.fields);
    const counted = summaries.reduce((sum, line) => sum + (line.fields as { suppressed: number }).suppressed, 0);
    assert.equal(counted + (lines.length - summaries.length), 3000, 'every refusal is either logged or counted');
    assert.match(summaries[0]!.message, /^\d+ more connections refused during the handshake/);
  });

  test('after a quiet interval the next warning is logged at once, with its own fields', () => {
    const log = new RecordingLogger();
    const time = manualTime();
    const throttle = new LogThrottle(log, 'x', { intervalMs: 10_000, now: time.now, schedule: time.schedule });
    throttle.warn({ n: 1 }, 'first');
    time.advance(20_000);
    throttle.warn({ n: 2 }, 'second');
    assert.deepEqual(
      log.at('warn').map((line) => [line.message, line.fields]),
      [
        ['first', { n: 1 }],
        ['second', { n: 2 }],
      ],
    );
  });
});
