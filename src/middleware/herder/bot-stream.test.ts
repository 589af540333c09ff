import assert from 'node:assert/strict';
import { PassThrough, type Duplex } from 'node:stream';
import { describe, test } from 'node:test';
import type { MiddlewareConfig } from '../../config/index.js';
import { createLogger } from '../../logging/index.js';
import { UnixForwardError } from '../ssh/index.js';
import type { BotLink } from './bot-link.js';
import { BotStreamOpener, relayCommand } from './bot-stream.js';

const log = createLogger({ level: 'silent', name: 'bot-stream-test' });
const at = { host: 'hpc', port: 22, user: 'u' };

function mw(over: Partial<MiddlewareConfig> = {}): MiddlewareConfig {
  return { key: 'rpc', name: 'RpcHerder', module: 'm', remoteHost: 'hpc', remotePort: 22, remoteBindPort: 18861, numTunnels: 1, sshUserName: 'u', jumpPort: 22, launchBot: false, useAgent: false, strictHostKeyChecking: false, botHome: '.harvester', remoteCommand: 'harvester', transport: 'auto', callTimeout: 60, connectTimeout: 30, extra: {}, ...over } as MiddlewareConfig;
}

/** A link whose unix and tcp answers are scripted; it records what was asked. */
function scriptedLink(answers: { unix: 'ok' | 'missing' | 'prohibited'; tcp: 'ok' | 'refused'; socketThere?: boolean }): BotLink & { asked: string[] } {
  const asked: string[] = [];
  const stream = (): Duplex => new PassThrough();
  return {
    asked,
    isOpen: true,
    close: () => undefined,
    on: () => undefined,
    once: () => undefined,
    off: () => undefined,
    homeDirectory: async () => '/home/u',
    isSocket: async () => answers.socketThere === true,
    readFile: async () => Buffer.from(''),
    exec: async () => ({ code: 0, stdout: '', stderr: '' }),
    forwardUnix: async (path: string) => {
      asked.push(`unix:${path}`);
      if (answers.unix === 'ok') return stream();
      throw new UnixForwardError(at, path, 'open failed', answers.unix === 'prohibited');
    },
    forward: async (port: number) => {
      asked.push(`tcp:${port}`);
      if (answers.tcp === 'ok') return stream();
      throw new Error('Connection refused');
    },
    openStdio: async (command: string) => {
      asked.push(`stdio:${command}`);
      return stream();
    },
  } as unknown as BotLink & { asked: string[] };
}

describe('how the herder reaches the bot (transport)', () => {
  test('auto uses the socket in the bot home, resolved against the login home', async () => {
    const link = scriptedLink({ unix: 'ok', tcp: 'ok' });
    const opened = await new BotStreamOpener(mw(), log).open(link);
    assert.equal(opened.used.kind, 'unix');
    assert.deepEqual(link.asked, ['unix:/home/u/.harvester/bot.sock']);
  });

  test('auto falls back to the TCP port when sshd prohibits stream-local forwarding, and does not ask again on that route', async () => {
    const opener = new BotStreamOpener(mw(), log);
    const link = scriptedLink({ unix: 'prohibited', tcp: 'ok' });
    const first = await opener.open(link);
    assert.equal(first.used.kind, 'tcp');
    assert.match(first.used.why, /prohibited/);
    const second = await opener.open(link);
    assert.equal(second.used.kind, 'tcp');
    assert.deepEqual(link.asked, ['unix:/home/u/.harvester/bot.sock', 'tcp:18861', 'tcp:18861']);
  });

  test('an "open failed" with the socket there means prohibited (OpenSSH gives both cases the same answer)', async () => {
    const opener = new BotStreamOpener(mw(), log);
    const link = scriptedLink({ unix: 'missing', tcp: 'ok', socketThere: true });
    assert.equal((await opener.open(link)).used.kind, 'tcp');
    await opener.open(link);
    assert.equal(link.asked.filter((a) => a.startsWith('unix:')).length, 1, 'the socket is not tried again');
  });

  test('auto without a socket tries the port (a bot started before it had one), and names both when neither answers', async () => {
    assert.equal((await new BotStreamOpener(mw(), log).open(scriptedLink({ unix: 'missing', tcp: 'ok' }))).used.kind, 'tcp');
    await assert.rejects(new BotStreamOpener(mw(), log).open(scriptedLink({ unix: 'missing', tcp: 'refused' })), /not on its socket .*bot\.sock.*not on 127\.0\.0\.1:18861 .*Connection refused.*start it there/s);
  });

  test('a failure quotes the inner SSH errors by their detail: the line carries one fix, not also theirs', async () => {
    await assert.rejects(new BotStreamOpener(mw(), log).open(scriptedLink({ unix: 'missing', tcp: 'refused' })), (error: unknown) => {
      assert.ok(error instanceof Error);
      assert.match(error.message, /cannot open a channel to the unix socket \/home\/u\/\.harvester\/bot\.sock on that host: open failed/);
      assert.ok(!error.message.includes('likely fix'), error.message);
      return true;
    });
  });

  test('"unix" and "tcp" use only their own way; "stdio" runs the relay after remoteSetup', async () => {
    const unixOnly = scriptedLink({ unix: 'prohibited', tcp: 'ok' });
    await assert.rejects(new BotStreamOpener(mw({ transport: 'unix' }), log).open(unixOnly), UnixForwardError);
    assert.deepEqual(unixOnly.asked, ['unix:/home/u/.harvester/bot.sock']);
    const tcpOnly = scriptedLink({ unix: 'ok', tcp: 'ok' });
    await new BotStreamOpener(mw({ transport: 'tcp' }), log).open(tcpOnly);
    assert.deepEqual(tcpOnly.asked, ['tcp:18861']);
    const config = mw({ transport: 'stdio', remoteSetup: 'module load x', botHome: '/scratch/bot home' });
    const stdio = scriptedLink({ unix: 'ok', tcp: 'ok' });
    await new BotStreamOpener(config, log).open(stdio);
    assert.deepEqual(stdio.asked, [`stdio:${relayCommand(config)}`]);
    assert.equal(relayCommand(config), "module load x && harvester --home '/scratch/bot home' bot connect --port 18861 --pid '/scratch/bot home/bot.pid'");
  });
});
