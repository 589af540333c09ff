// Checks the testbed itself, from inside hv-core: the network shape (hpc only through jump), real sshd with
// PAM password and keyboard-interactive logins, key + passphrase logins hopping through jump, and the fault
// helpers that later tests rely on.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import ssh2, { type Client, type KeyboardInteractiveAuthMethod } from 'ssh2';
import { requireTestbed } from '../support/testbed.js';
import { login, loginToHpcThroughJump, runRemote as run } from '../support/testbed-ssh.js';

// ssh2 is CommonJS: its utilities are reachable from the default export only.
const { utils } = ssh2;

const TEST_TIMEOUT_MS = 30_000;

/** Resolves with the first line the server sends (the SSH banner), rejects with the socket error. */
function readBanner(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host, port });
    socket.setTimeout(5_000, () => socket.destroy(new Error(`no banner from ${host}:${port} within 5 s`)));
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
      const end = received.indexOf('\n');
      if (end >= 0) {
        socket.destroy();
        resolve(received.slice(0, end).trim());
      }
    });
    socket.on('error', reject);
  });
}

function openSocket(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

function waitForClose(client: Client): Promise<void> {
  return new Promise((resolve) => client.once('close', () => resolve()));
}

describe('testbed network', () => {
  test('a TCP connection from core reaches the sshd of jump on port 22', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const testbed = requireTestbed(t);
    if (!testbed) return;
    const banner = await readBanner('jump', testbed.hosts.jump.port);
    assert.match(banner, /^SSH-2\.0-OpenSSH_/);
  });

  test('hpc:22 is not reachable directly from core', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const testbed = requireTestbed(t);
    if (!testbed) return;
    await assert.rejects(readBanner('hpc', testbed.hosts.hpc.port), (error: NodeJS.ErrnoException) => {
      assert.ok(['ENETUNREACH', 'EHOSTUNREACH'].includes(error.code ?? ''), `expected no route to hpc, got ${error.code ?? error.message}`);
      return true;
    });
  });
});

describe('testbed sshd logins', () => {
  test('log in to jump with the password, then to hpc with key and passphrase through forwardOut, and run id -un', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const testbed = requireTestbed(t);
    if (!testbed) return;
    const { jump, hpc } = await loginToHpcThroughJump(testbed);
    try {
      const whoami = await run(hpc, 'id -un');
      assert.equal(whoami.code, 0, whoami.stderr);
      assert.equal(whoami.stdout.trim(), testbed.user.name);
      assert.equal(testbed.user.name, 'hvuser');
    } finally {
      hpc.end();
      jump.end();
    }
  });

  test('keyboard-interactive login to jump works through PAM', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const testbed = requireTestbed(t);
    if (!testbed) return;
    const prompts: string[] = [];
    const keyboardInteractive: KeyboardInteractiveAuthMethod = {
      type: 'keyboard-interactive',
      username: testbed.user.name,
      prompt: (_name, _instructions, _lang, asked, finish) => {
        prompts.push(...asked.map((p) => p.prompt));
        finish(asked.map(() => testbed.password()));
      },
    };
    const jump = await login(testbed, 'jump', { host: 'jump', port: testbed.hosts.jump.port, authHandler: [keyboardInteractive] });
    try {
      assert.ok(prompts.some((p) => /password/i.test(p)), `PAM asked: ${JSON.stringify(prompts)}`);
      const whoami = await run(jump, 'id -un');
      assert.equal(whoami.stdout.trim(), testbed.user.name);
    } finally {
      jump.end();
    }
  });

  test('a wrong password is refused by jump', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const testbed = requireTestbed(t);
    if (!testbed) return;
    await assert.rejects(
      login(testbed, 'jump', { host: 'jump', port: testbed.hosts.jump.port, password: `${testbed.password()}-wrong`, authHandler: ['password'] }),
      /authentication methods failed/,
    );
  });

  test('the user key cannot be used without its passphrase', (t) => {
    const testbed = requireTestbed(t, { inCore: false });
    if (!testbed) return;
    assert.ok(utils.parseKey(testbed.privateKey()) instanceof Error);
    const parsed = utils.parseKey(testbed.privateKey(), testbed.passphrase());
    assert.ok(!(parsed instanceof Error), 'the key opens with the recorded passphrase');
  });

  test('hpc is like a login node without Node.js: no node on PATH, the repository unreadable, a private home, no route but the jump host', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const testbed = requireTestbed(t);
    if (!testbed) return;
    const { jump, hpc } = await loginToHpcThroughJump(testbed);
    try {
      const node = await run(hpc, 'command -v node || echo none');
      assert.equal(node.stdout.trim(), 'none', `node found on hpc: ${node.stdout}`);
      const byPath = await run(hpc, '/usr/bin/node -e 1');
      assert.notEqual(byPath.code, 0, 'running /usr/bin/node by its path works on hpc');
      const repo = await run(hpc, `cat ${JSON.stringify(`${testbed.repoDir}/package.json`)}`);
      assert.notEqual(repo.code, 0, 'the test user can read the repository');
      assert.match(repo.stderr, /Permission denied/);
      const home = await run(hpc, 'stat -c %a "$HOME"');
      assert.equal(home.stdout.trim(), '700');
      const routes = await run(hpc, 'ip route');
      assert.doesNotMatch(routes.stdout, /default/, `hpc has a default route: ${routes.stdout}`);
      // The jump host is the other kind of host: a system Node the user can run.
      const jumpNode = await run(jump, 'node -e "process.stdout.write(process.versions.node)"');
      assert.equal(jumpNode.code, 0, jumpNode.stderr);
      assert.match(jumpNode.stdout, /^\d+\.\d+\.\d+$/);
    } finally {
      hpc.end();
      jump.end();
    }
  });
});

describe('testbed fault helpers', () => {
  test('sshdPids lists the connection of a client, and killing that sshd drops exactly it', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const testbed = requireTestbed(t);
    if (!testbed) return;
    const socket = await openSocket('jump', testbed.hosts.jump.port);
    const clientPort = socket.localPort;
    assert.ok(clientPort !== undefined);
    const jump = await login(testbed, 'jump', { sock: socket, password: testbed.password() });
    const closed = waitForClose(jump);
    const pid = testbed.sshdPidForClientPort('jump', clientPort);
    assert.ok(pid !== undefined, `no sshd serves client port ${clientPort}`);
    assert.ok(testbed.sshdPids('jump').includes(pid));
    process.kill(pid, 'SIGKILL');
    await closed;
    assert.equal(testbed.sshdPidForClientPort('jump', clientPort), undefined);
  });

  test('stopSshd takes jump down (connections refused, sessions dropped) and startSshd brings it back', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const testbed = requireTestbed(t);
    if (!testbed) return;
    const jump = await login(testbed, 'jump', { host: 'jump', port: testbed.hosts.jump.port, password: testbed.password() });
    const closed = waitForClose(jump);
    try {
      await testbed.stopSshd('jump');
      await closed;
      assert.equal(testbed.sshdListenerPid('jump'), undefined);
      assert.deepEqual(testbed.sshdPids('jump'), []);
      await assert.rejects(readBanner('jump', testbed.hosts.jump.port), { code: 'ECONNREFUSED' });
    } finally {
      await testbed.startSshd('jump');
    }
    const banner = await readBanner('jump', testbed.hosts.jump.port);
    assert.match(banner, /^SSH-2\.0-OpenSSH_/);
  });
});
