// SSH sessions on the testbed the way an operator opens them: password login to jump, then key + passphrase
// login to hpc through a channel that jump forwards. Only the host keys the testbed recorded are accepted.
import ssh2, { type Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import type { Testbed, TestbedHostName } from './testbed.js';

// ssh2 is CommonJS: its classes are reachable from the default export only.
const { Client: SshClient } = ssh2;

export interface RemoteCommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** An ssh2 client logged in as the test user that only accepts the host key the testbed recorded for `host`. */
export function login(testbed: Testbed, host: TestbedHostName, config: ConnectConfig): Promise<Client> {
  const expectedKey = testbed.hostKeyBlob(host);
  return new Promise((resolve, reject) => {
    const client = new SshClient();
    client.once('ready', () => resolve(client));
    client.once('error', reject);
    client.connect({
      username: testbed.user.name,
      readyTimeout: 10_000,
      hostVerifier: (key: Buffer) => key.equals(expectedKey),
      ...config,
    });
  });
}

function forwardOut(client: Client, host: string, port: number): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    client.forwardOut('127.0.0.1', 0, host, port, (error, channel) => (error ? reject(error) : resolve(channel)));
  });
}

/** Runs a shell command in a new session and collects its exit code and output. */
export function runRemote(client: Client, command: string): Promise<RemoteCommandResult> {
  return new Promise((resolve, reject) => {
    client.exec(command, (error, channel) => {
      if (error) return reject(error);
      let stdout = '';
      let stderr = '';
      channel.setEncoding('utf8');
      channel.stderr.setEncoding('utf8');
      channel.on('data', (chunk: string) => (stdout += chunk));
      channel.stderr.on('data', (chunk: string) => (stderr += chunk));
      channel.on('close', (code: number | null) => resolve({ code, stdout, stderr }));
    });
  });
}

/** Logs in to jump with the password, then to hpc with key + passphrase through a channel forwarded by jump. */
export async function loginToHpcThroughJump(testbed: Testbed): Promise<{ jump: Client; hpc: Client }> {
  const jump = await login(testbed, 'jump', { host: 'jump', port: testbed.hosts.jump.port, password: testbed.password() });
  try {
    // "hpc" is resolved by jump's sshd, in jump's namespace: core cannot resolve its way there by itself.
    const channel = await forwardOut(jump, 'hpc', testbed.hosts.hpc.port);
    const hpc = await login(testbed, 'hpc', {
      sock: channel,
      privateKey: testbed.privateKey(),
      passphrase: testbed.passphrase(),
      authHandler: ['publickey'],
    });
    return { jump, hpc };
  } catch (error) {
    jump.end();
    throw error;
  }
}
