// `harvester tunnel-test` and host keys, the real CLI in a child process against two sshds in this process
// (a jump host forwarding to a remote host, ssh2's Server): an unknown key fails with its fingerprint and the
// way out; --accept-new-host-key shows and records it; afterwards the keys are known without the flag.
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeSshd } from '../../../test/support/fake-sshd.js';
import { runCli } from '../../../test/cli/support.js';

/** A port on 127.0.0.1 where nothing listens (the bot's port: these tests stop before the bot). */
async function idlePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The step lines `ok|FAIL <step> ...` of tunnel-test's output, as [mark, step, line]. */
function steps(stdout: string): [string, string, string][] {
  const found: [string, string, string][] = [];
  for (const line of stdout.split('\n')) {
    const match = /^(ok|FAIL) +(.+?) +\d+(?:\.\d+)? ms /.exec(line);
    if (match) found.push([match[1]!, match[2]!, line]);
  }
  return found;
}

/** A home removed after the test, and the path of the queue configuration the test writes in it. */
function tempHome(t: TestContext, prefix: string): { home: string; queueFile: string } {
  const home = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  return { home, queueFile: join(home, 'queues.json') };
}

describe('harvester tunnel-test and host keys', () => {
  test('an unknown key fails naming its fingerprint; --accept-new-host-key shows and records it; then it is known', async (t) => {
    const jump = await startFakeSshd({ password: 'jump-password-1' });
    t.after(() => jump.close());
    const remote = await startFakeSshd({ password: 'remote-password-2' });
    t.after(() => remote.close());
    const { home, queueFile } = tempHome(t, 'hv-tunnel-hostkey-');
    writeFileSync(
      queueFile,
      JSON.stringify({
        Q: {
          rpc: {
            name: 'RpcHerder',
            module: 'pandaharvester.harvestermiddleware.rpc_herder',
            remoteHost: '127.0.0.1',
            remotePort: remote.port,
            jumpHost: '127.0.0.1',
            jumpPort: jump.port,
            sshUserName: 'alice',
            sshPassword: 'remote-password-2',
            jumpSshPassword: 'jump-password-1',
            remoteBindPort: await idlePort(),
          },
          submitter: { name: 'DummySubmitter', module: 'pandaharvester.harvestersubmitter.dummy_submitter', middleware: 'rpc' },
        },
      }),
    );
    const knownHosts = join(home, 'known_hosts');
    const tunnelTest = (...flags: string[]) => runCli(['--home', home, 'tunnel-test', '--queue', 'Q', '--queue-config', queueFile, ...flags]);

    const refused = await tunnelTest();
    assert.equal(refused.status, 1, refused.stdout + refused.stderr);
    const failed = steps(refused.stdout).at(-1);
    assert.deepEqual(failed?.slice(0, 2), ['FAIL', 'jump-auth'], refused.stdout);
    assert.ok(failed?.[2].includes(jump.fingerprint), refused.stdout);
    assert.match(refused.stdout, /fix: .*`harvester tunnel-test --queue Q --accept-new-host-key`/);
    assert.equal(existsSync(knownHosts), false);

    const accepted = await tunnelTest('--accept-new-host-key');
    const lines = steps(accepted.stdout);
    assert.deepEqual(
      lines.map(([mark, step]) => `${mark} ${step}`),
      ['ok config', 'ok jump-tcp', 'ok host-key', 'ok jump-auth', 'ok remote-tcp', 'ok host-key', 'ok remote-auth', 'FAIL bot-stream'],
      accepted.stdout,
    );
    const keyLines = lines.filter(([, step]) => step === 'host-key').map(([, , line]) => line);
    assert.ok(keyLines[0]?.includes(`127.0.0.1:${jump.port}`) && keyLines[0].includes(jump.fingerprint), keyLines[0]);
    assert.ok(keyLines[1]?.includes(`127.0.0.1:${remote.port}`) && keyLines[1].includes(remote.fingerprint), keyLines[1]);
    assert.equal(readFileSync(knownHosts, 'utf8'), `${jump.knownHostsLine}\n${remote.knownHostsLine}\n`);

    const known = await tunnelTest();
    assert.deepEqual(
      steps(known.stdout).map(([mark, step]) => `${mark} ${step}`),
      ['ok config', 'ok jump-tcp', 'ok jump-auth', 'ok remote-tcp', 'ok remote-auth', 'FAIL bot-stream'],
      known.stdout,
    );
    for (const output of [refused.stdout, accepted.stdout, known.stdout]) {
      assert.ok(!output.includes('jump-password-1') && !output.includes('remote-password-2'));
    }
  });

  test('a failing step prints its fix once: on the fix: line, not also in the FAIL line', async (t) => {
    const remote = await startFakeSshd({ password: 'remote-password-3' });
    t.after(() => remote.close());
    const { home, queueFile } = tempHome(t, 'hv-tunnel-fix-once-');
    writeFileSync(
      queueFile,
      JSON.stringify({
        Q: {
          rpc: { remoteHost: '127.0.0.1', remotePort: remote.port, sshUserName: 'alice', sshPassword: 'remote-password-3', remoteBindPort: await idlePort() },
          submitter: { name: 'DummySubmitter', module: 'pandaharvester.harvestersubmitter.dummy_submitter', middleware: 'rpc' },
        },
      }),
    );
    const result = await runCli(['--home', home, 'tunnel-test', '--queue', 'Q', '--queue-config', queueFile]);
    assert.equal(result.status, 1, result.stdout + result.stderr);
    const failed = steps(result.stdout).at(-1);
    assert.deepEqual(failed?.slice(0, 2), ['FAIL', 'remote-auth'], result.stdout);
    assert.ok(failed?.[2].includes(remote.fingerprint), result.stdout);
    assert.ok(!result.stdout.includes('likely fix'), result.stdout);
    const advice = '`harvester tunnel-test --queue Q --accept-new-host-key`';
    assert.equal(result.stdout.split(advice).length - 1, 1, `the fix once:\n${result.stdout}`);
    assert.match(result.stdout, /^ {5}fix: .*--accept-new-host-key/m);
  });

  test('a queue with no remote section is bad configuration: one line naming the fix, exit 2', async (t) => {
    const { home, queueFile } = tempHome(t, 'hv-tunnel-local-');
    writeFileSync(queueFile, JSON.stringify({ LOCAL: { submitter: { name: 'DummySubmitter', module: 'pandaharvester.harvestersubmitter.dummy_submitter' } } }));
    const result = await runCli(['--home', home, 'tunnel-test', '--queue', 'LOCAL', '--queue-config', queueFile]);
    assert.equal(result.status, 2, result.stdout + result.stderr);
    assert.equal(result.stdout, '');
    const lines = result.stderr.split('\n').filter((line) => line !== '');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /queue LOCAL has no plugin section with "middleware": nothing to test; add "middleware": "rpc"/);
  });
});
