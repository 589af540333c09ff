// Secrets the herder handles besides the configured ones: the bot secret it reads over SFTP, and whatever
// registered secret an operator's remoteSetup carries into the launch command it logs.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { MiddlewareConfig } from '../../config/index.js';
import { createLogger, maskSecrets, processSecrets, registerSecret } from '../../logging/index.js';
import type { BotLink } from './bot-link.js';
import { BotLauncher } from './bot-launcher.js';
import { readBotSecret } from './bot-secret.js';

function capture(): { log: ReturnType<typeof createLogger>; text: () => string } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { log: createLogger({ destination, level: 'debug' }), text: () => chunks.join('') };
}

describe('secrets on the herder side', () => {
  test('the bot secret read from the remote host is registered for masking', async () => {
    const botSecret = randomBytes(32).toString('hex');
    const read: string[] = [];
    const link = {
      readFile: (path: string) => {
        read.push(path);
        return Promise.resolve(Buffer.from(`${botSecret}\n`));
      },
    };
    assert.equal(await readBotSecret(link, '.harvester/bot.secret'), botSecret);
    assert.deepEqual(read, ['.harvester/bot.secret']);
    assert.ok(processSecrets.has(botSecret));
    assert.equal(maskSecrets(`proof failed for ${botSecret}`), 'proof failed for ***');
  });

  test('a registered secret in remoteSetup is masked in the launch log line', async () => {
    const token = `setup-token-${randomBytes(6).toString('hex')}`;
    registerSecret(token);
    const mw = { remoteCommand: 'harvester', botHome: '.harvester', remoteBindPort: 18861, remoteHost: 'hpc', sshUserName: 'alice', remoteSetup: `export TOKEN=${token}; module load nodejs` } as MiddlewareConfig;
    const { log, text } = capture();
    const executed: string[] = [];
    const link = {
      exec: (command: string) => {
        executed.push(command);
        return Promise.resolve({ code: 0, stdout: '', stderr: '' });
      },
    } as unknown as BotLink;
    await new BotLauncher(mw, log).launch(link);
    assert.ok(executed[0]?.includes(token), 'the remote host gets the real command');
    assert.match(text(), /launching the bot on demand/);
    assert.match(text(), /export TOKEN=\*\*\*; module load nodejs/);
    assert.ok(!text().includes(token), text());
  });
});
