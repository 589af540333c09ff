// The dialog recorder over a real SqliteStore and a real logger: which lines become dialog messages, what
// they hold, the cap, and a store that cannot take them.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, SecretRegistry, type Logger } from '../logging/index.js';
import { SqliteStore, type DialogMessage } from '../store/index.js';
import { DialogRecorder, dialogOfLine } from './dialog-recorder.js';

const SECRET = 'dialog-secret-token-value';

interface Setup {
  readonly store: SqliteStore;
  readonly log: Logger;
  readonly lines: string[];
  stored(): Promise<DialogMessage[]>;
}

async function withRecorder(keep: number | undefined, body: (s: Setup, recorder: DialogRecorder) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'dialog-recorder-'));
  const store = await SqliteStore.open(join(dir, 'harvester.db'));
  const secrets = new SecretRegistry();
  secrets.register(SECRET);
  const lines: string[] = [];
  const log = createLogger({ destination: { write: (line: string) => lines.push(line) } as unknown as NodeJS.WritableStream, secrets });
  const recorder = new DialogRecorder({ store, log, ...(keep === undefined ? {} : { keep }) });
  const stored = () => store.claimDialogMessages({ owner: 'test', lockIntervalSec: 0, limit: 10_000 });
  try {
    await body({ store, log, lines, stored }, recorder);
  } finally {
    await recorder.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

describe('DialogRecorder', () => {
  test('an agent\'s warn and error lines become dialog messages with module, identifier, level and masked text; info lines do not', async () => {
    await withRecorder(undefined, async ({ log, stored }, recorder) => {
      const monitor = log.child({ agent: 'monitor' }).child({ queue: 'Q1' });
      monitor.info({ workerID: 7 }, 'worker is running');
      monitor.warn({ workerID: 7 }, `worker lost, token ${SECRET}`);
      log.child({ agent: 'propagator' }).error({ err: new Error('PanDA unreachable') }, 'reporting to the source failed');
      await recorder.close();
      const messages = (await stored()).map(({ diagID: _id, creationTime, ...rest }) => ({ ...rest, dated: creationTime.getTime() > 0 }));
      assert.deepEqual(messages, [
        { moduleName: 'monitor', identifier: 'queue=Q1 workerID=7', messageLevel: 'WARNING', diagMessage: 'worker lost, token ***', dated: true },
        { moduleName: 'propagator', identifier: null, messageLevel: 'ERROR', diagMessage: 'reporting to the source failed: PanDA unreachable', dated: true },
      ]);
    });
  });

  test('a flood of warnings leaves only the newest `keep` messages in the store', async () => {
    await withRecorder(3, async ({ log, stored }, recorder) => {
      for (let i = 1; i <= 10; i++) log.warn({ agent: 'sweeper' }, `warning ${i}`);
      await new Promise<void>((resolve) => setImmediate(resolve));
      for (let i = 11; i <= 20; i++) log.warn({ agent: 'sweeper' }, `warning ${i}`);
      await recorder.close();
      assert.deepEqual((await stored()).map((m) => m.diagMessage), ['warning 18', 'warning 19', 'warning 20']);
    });
  });

  test('a store that cannot take them: the loss is logged once, and that line is not itself recorded', async () => {
    await withRecorder(undefined, async ({ store, log, lines }, recorder) => {
      await store.close();
      log.warn({ agent: 'monitor' }, 'first');
      await new Promise<void>((resolve) => setImmediate(resolve));
      log.warn({ agent: 'monitor' }, 'second');
      await recorder.close();
      const losses = lines.filter((l) => l.includes('dialog messages could not be stored'));
      assert.equal(losses.length, 1, lines.join(''));
      assert.match(losses[0]!, /"noDialog":true/);
    });
  });
});

describe('dialogOfLine', () => {
  const line = (fields: Record<string, unknown>): string => `${JSON.stringify({ level: 40, time: 0, msg: 'm', ...fields })}\n`;

  test('fatal is an ERROR; the component or name stands for a line without agent; the identifier names queue, site, job and worker', () => {
    assert.deepEqual(dialogOfLine(line({ level: 60, component: 'panda-communicator', siteName: 'S', PandaID: 5 })), {
      moduleName: 'panda-communicator',
      identifier: 'siteName=S PandaID=5',
      messageLevel: 'ERROR',
      diagMessage: 'm',
      creationTime: new Date(0),
    });
    assert.equal(dialogOfLine(line({ name: 'harvester-ts' }))?.moduleName, 'harvester-ts');
    assert.equal(dialogOfLine(line({}))?.moduleName, 'harvester');
  });

  test('lines below warn, the recorder\'s own and unparsable ones are not dialogs', () => {
    assert.equal(dialogOfLine(line({ level: 30 })), null);
    assert.equal(dialogOfLine(line({ noDialog: true })), null);
    assert.equal(dialogOfLine('{"level":50,"msg":'), null);
  });
});
