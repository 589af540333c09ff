// An sshd in this process (ssh2's Server on 127.0.0.1), for tests of what the client offers to which host:
// it records every authentication attempt with the values it was given (a test's own throw-away secrets),
// accepts the credentials it was told to, and forwards direct-tcpip channels (so one can be the jump host
// in front of another). No shell, no pty: connect with nagleGuard off.
import { connect as netConnect, type AddressInfo } from 'node:net';
import ssh2, { type AuthContext, type Connection, type ParsedKey, type Server } from 'ssh2';
import { hostKeyFingerprint } from '../../src/middleware/ssh/known-hosts.js';

export interface AuthAttempt {
  readonly method: string;
  readonly username: string;
  /** The password offered ('password' method). */
  readonly password?: string;
  /** The answers given ('keyboard-interactive'). */
  readonly answers?: readonly string[];
  /** The public key offered ('publickey'), as "type base64". */
  readonly publicKey?: string;
}

export interface FakeSshdOptions {
  /** The password that logs in, by the 'password' method. */
  readonly password?: string;
  /** Keyboard-interactive: one hidden prompt, logged in by this answer. */
  readonly keyboardInteractiveAnswer?: string;
  /** A public key (OpenSSH "type base64 ..." line) that logs in. */
  readonly authorizedKey?: string;
}

export interface FakeSshd {
  readonly port: number;
  /** The host key's public blob, as a client's hostVerifier receives it. */
  readonly hostKeyBlob: Buffer;
  /** "SHA256:..." of the host key, as ssh-keygen -l prints it. */
  readonly fingerprint: string;
  /** A known_hosts line for this server (`[127.0.0.1]:port type base64`). */
  readonly knownHostsLine: string;
  readonly attempts: AuthAttempt[];
  close(): Promise<void>;
}

const { Server: SshServer, utils } = ssh2;

function parsedPublicKey(line: string): ParsedKey {
  const parsed = utils.parseKey(line);
  if (parsed instanceof Error) throw parsed;
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key === undefined) throw new Error('no key in authorizedKey');
  return key;
}

/**
 * An ed25519 key pair (OpenSSH format; the private key encrypted when a passphrase is given). ssh2's generator
 * now and then writes a public key that lost a leading zero byte (about 1 in 300), which its own parser
 * rejects: such pairs are drawn again.
 */
export function generateKeyPair(passphrase?: string): { private: string; public: string } {
  for (;;) {
    const pair =
      passphrase !== undefined ? utils.generateKeyPairSync('ed25519', { passphrase, cipher: 'aes256-ctr', rounds: 2 }) : utils.generateKeyPairSync('ed25519');
    const parsed = utils.parseKey(pair.public);
    if (!(parsed instanceof Error)) return pair;
  }
}

export async function startFakeSshd(options: FakeSshdOptions): Promise<FakeSshd> {
  const hostKey = generateKeyPair();
  const parsedHostKey = parsedPublicKey(hostKey.public);
  const hostKeyBlob = parsedHostKey.getPublicSSH();
  const authorized = options.authorizedKey !== undefined ? parsedPublicKey(options.authorizedKey) : undefined;
  const attempts: AuthAttempt[] = [];
  const methods: ('password' | 'keyboard-interactive' | 'publickey')[] = [];
  if (options.password !== undefined) methods.push('password');
  if (options.keyboardInteractiveAnswer !== undefined) methods.push('keyboard-interactive');
  if (authorized !== undefined) methods.push('publickey');
  const clients = new Set<Connection>();

  const authenticate = (ctx: AuthContext): void => {
    switch (ctx.method) {
      case 'password':
        attempts.push({ method: 'password', username: ctx.username, password: ctx.password });
        if (options.password !== undefined && ctx.password === options.password) ctx.accept();
        else ctx.reject(methods);
        return;
      case 'keyboard-interactive':
        ctx.prompt([{ prompt: 'Verification code: ', echo: false }], (answers) => {
          attempts.push({ method: 'keyboard-interactive', username: ctx.username, answers: [...answers] });
          if (options.keyboardInteractiveAnswer !== undefined && answers[0] === options.keyboardInteractiveAnswer) ctx.accept();
          else ctx.reject(methods);
        });
        return;
      case 'publickey': {
        attempts.push({ method: 'publickey', username: ctx.username, publicKey: `${ctx.key.algo} ${ctx.key.data.toString('base64')}` });
        const matches = authorized !== undefined && ctx.key.algo === authorized.type && ctx.key.data.equals(authorized.getPublicSSH());
        if (!matches) return ctx.reject(methods);
        // Without a signature the client only asks whether the key would do.
        if (ctx.signature === undefined || ctx.blob === undefined) return ctx.accept();
        if (authorized.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true) return ctx.accept();
        return ctx.reject(methods);
      }
      default:
        attempts.push({ method: ctx.method, username: ctx.username });
        ctx.reject(methods);
    }
  };

  const server: Server = new SshServer({ hostKeys: [hostKey.private] }, (client) => {
    clients.add(client);
    client.on('close', () => clients.delete(client));
    client.on('error', () => client.end());
    client.on('authentication', authenticate);
    client.on('ready', () => {
      client.on('tcpip', (accept, reject, info) => {
        const socket = netConnect({ host: info.destIP, port: info.destPort });
        socket.once('error', () => reject());
        socket.once('connect', () => {
          const channel = accept();
          socket.removeAllListeners('error');
          socket.on('error', () => channel.destroy());
          channel.on('error', () => socket.destroy());
          channel.pipe(socket).pipe(channel);
        });
      });
      client.on('session', (_accept, reject) => reject());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    hostKeyBlob,
    fingerprint: hostKeyFingerprint(hostKeyBlob),
    knownHostsLine: `[127.0.0.1]:${port} ${parsedHostKey.type} ${hostKeyBlob.toString('base64')}`,
    attempts,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of clients) client.end();
        server.close(() => resolve());
      }),
  };
}
