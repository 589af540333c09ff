import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createLogger, LogLevelError, LogTapError, tapLogLines } from './logger.js';
import { SecretRegistry, registerSecret } from './secrets.js';

/** A destination that keeps every line written to it. */
function collector(): { stream: Writable; lines: () => string[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, lines: () => chunks.join('').split('\n').filter((l) => l.length > 0) };
}

describe('createLogger', () => {
  test('writes one JSON object per line with level, name and message', () => {
    const out = collector();
    const log = createLogger({ name: 'unit', destination: out.stream, secrets: new SecretRegistry() });
    log.info({ queue: 'local' }, 'hello');
    const [line] = out.lines();
    const parsed = JSON.parse(line ?? '') as Record<string, unknown>;
    assert.equal(parsed.msg, 'hello');
    assert.equal(parsed.name, 'unit');
    assert.equal(parsed.queue, 'local');
    assert.equal(parsed.level, 30);
  });

  test('a registered secret never appears: message, object field, nested field, error message and stack', () => {
    const secrets = new SecretRegistry();
    const secret = 'hunter2-very-secret';
    secrets.register(secret);
    const out = collector();
    const log = createLogger({ destination: out.stream, secrets });
    log.info(`connecting with ${secret}`);
    log.info({ note: secret, nested: { deeper: [`x${secret}y`] } }, 'fields');
    const error = new Error(`login refused for password ${secret}`);
    log.error({ err: error }, 'failed');
    log.error(error);
    const text = out.lines().join('\n');
    assert.equal(out.lines().length, 4);
    assert.ok(!text.includes(secret), text);
    assert.ok(!text.includes('hunter2'), text);
    assert.match(text, /connecting with \*\*\*/);
    // The stack was written (and masked), not dropped.
    assert.match(text, /"stack":"Error: login refused for password \*\*\*/);
  });

  test('a secret containing JSON-escaped characters is masked in its escaped form too', () => {
    const secrets = new SecretRegistry();
    const secret = 'pa"ss\\wo\nrd';
    secrets.register(secret);
    const out = collector();
    createLogger({ destination: out.stream, secrets }).info({ note: secret }, `msg ${secret}`);
    const [line] = out.lines();
    const parsed = JSON.parse(line ?? '') as Record<string, unknown>;
    assert.equal(parsed.note, '***');
    assert.equal(parsed.msg, 'msg ***');
  });

  test('fields named like secrets are redacted at any depth even when the value was never registered', () => {
    const out = collector();
    const log = createLogger({ destination: out.stream, secrets: new SecretRegistry() });
    log.info(
      {
        password: 'p1',
        rpc: { sshPassword: 'p2', passPhrase: 'p3', jump: { passphrase: 'p4', privateKeyData: 'KEY' } },
        list: [{ secret: 's1' }],
        botSecret: 'b1',
      },
      'config',
    );
    const parsed = JSON.parse(out.lines()[0] ?? '') as {
      password: string;
      rpc: { sshPassword: string; passPhrase: string; jump: { passphrase: string; privateKeyData: string } };
      list: { secret: string }[];
      botSecret: string;
    };
    assert.equal(parsed.password, '***');
    assert.equal(parsed.rpc.sshPassword, '***');
    assert.equal(parsed.rpc.passPhrase, '***');
    assert.equal(parsed.rpc.jump.passphrase, '***');
    assert.equal(parsed.rpc.jump.privateKeyData, '***');
    assert.equal(parsed.list[0]?.secret, '***');
    assert.equal(parsed.botSecret, '***');
  });

  test('redaction does not modify the logged object', () => {
    const out = collector();
    const config = { sshPassword: 'keep-me' };
    createLogger({ destination: out.stream, secrets: new SecretRegistry() }).info(config, 'x');
    assert.equal(config.sshPassword, 'keep-me');
    assert.equal(out.lines().length, 1, 'the line was written');
    assert.equal((JSON.parse(out.lines()[0]!) as { sshPassword: string }).sshPassword, '***', 'redacted in the line');
  });

  test('by default masks with the process-wide registry', () => {
    const secret = `process-wide-${process.pid}-secret`;
    registerSecret(secret);
    const out = collector();
    createLogger({ destination: out.stream }).warn(`value ${secret}`);
    assert.equal(out.lines().length, 1, 'the line was written');
    assert.ok(!out.lines().join('').includes(secret));
    assert.match(out.lines()[0]!, /"msg":"value \*\*\*"/);
  });

  test('appends masked lines to a file, creating its directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hv-log-'));
    try {
      const file = join(dir, 'logs', 'harvester.log');
      const secrets = new SecretRegistry();
      secrets.register('file-secret-value');
      createLogger({ file, secrets }).info('first file-secret-value');
      createLogger({ file, secrets }).info('second');
      const lines = readFileSync(file, 'utf8').trim().split('\n');
      assert.equal(lines.length, 2);
      assert.equal((JSON.parse(lines[0] ?? '') as { msg: string }).msg, 'first ***');
      assert.equal((JSON.parse(lines[1] ?? '') as { msg: string }).msg, 'second');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('lines below the level are not written', () => {
    const out = collector();
    const log = createLogger({ level: 'warn', destination: out.stream, secrets: new SecretRegistry() });
    log.info('quiet');
    log.warn('loud');
    assert.deepEqual(
      out.lines().map((l) => (JSON.parse(l) as { msg: string }).msg),
      ['loud'],
    );
  });

  test('an unknown level is a LogLevelError naming it', () => {
    assert.throws(() => createLogger({ level: 'verbose' }), (e: unknown) => e instanceof LogLevelError && e.message.includes("'verbose'"));
  });
});

describe('a log destination that cannot be written', () => {
  test('drops lines instead of throwing, says so once on stderr, and the next line written counts what was lost', (t) => {
    let failing = true;
    const written: string[] = [];
    const sink = { write: (chunk: string) => {
      if (failing) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      written.push(chunk);
    } } as unknown as NodeJS.WritableStream;
    const stderr: string[] = [];
    t.mock.method(process.stderr, 'write', (chunk: string) => {
      stderr.push(chunk);
      return true;
    });
    const log = createLogger({ destination: sink, secrets: new SecretRegistry() });
    assert.doesNotThrow(() => {
      log.info('first');
      log.error('second');
    });
    assert.equal(stderr.length, 1, stderr.join(''));
    assert.match(stderr[0]!, /cannot write the log \(ENOSPC: no space left on device, write\); log lines are dropped/);
    failing = false;
    log.info('third');
    assert.equal(written.length, 2);
    assert.match(JSON.parse(written[0]!).msg as string, /^2 log line\(s\) were lost/);
    assert.equal(JSON.parse(written[1]!).msg, 'third');
  });
});

describe('tapLogLines', () => {
  test('a tap gets every line of the logger and its children, masked as in the log, until it is stopped', () => {
    const secrets = new SecretRegistry();
    secrets.register('tap-secret-value');
    const out = collector();
    const log = createLogger({ destination: out.stream, secrets });
    const tapped: string[] = [];
    const stop = tapLogLines(log, (line) => tapped.push(line));
    log.child({ agent: 'monitor' }).warn({ password: 'pw-field' }, 'lost tap-secret-value');
    stop();
    log.warn('after the tap');
    assert.equal(tapped.length, 1);
    assert.equal(tapped[0], `${out.lines()[0]}\n`, 'the tap sees what the log file got');
    assert.ok(!tapped[0]!.includes('tap-secret-value') && !tapped[0]!.includes('pw-field'));
  });

  test('a failing tap costs the log no line; a logger createLogger did not make cannot be tapped', () => {
    const out = collector();
    const log = createLogger({ destination: out.stream, secrets: new SecretRegistry() });
    tapLogLines(log, () => {
      throw new Error('tap broke');
    });
    log.error('still written');
    assert.equal(out.lines().length, 1);
    assert.throws(() => tapLogLines(pino({ level: 'silent' }), () => undefined), LogTapError);
  });
});
