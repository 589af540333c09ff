// A small SSH server in the test process (ssh2's Server) for checking an SSH client without the testbed:
// password authentication for one user, direct-tcpip forwards to this host, and a read-only SFTP subsystem
// over the real file system (relative paths under `home`) — what `harvester tunnel-test` needs of a login node.
import { closeSync, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { connect, type AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import ssh2, { type Attributes, type AuthContext, type Connection, type SFTPWrapper } from 'ssh2';

const { Server, utils } = ssh2;
const STATUS = utils.sftp.STATUS_CODE;
const OPEN = utils.sftp.OPEN_MODE;

export interface MiniSshd {
  readonly port: number;
  readonly user: string;
  readonly password: string;
  close(): Promise<void>;
}

export interface MiniSshdOptions {
  readonly user: string;
  readonly password: string;
  /** Where relative SFTP paths start (the user's home). */
  readonly home: string;
}

export async function startMiniSshd(opts: MiniSshdOptions): Promise<MiniSshd> {
  const hostKey = utils.generateKeyPairSync('ed25519').private;
  const connections = new Set<Connection>();
  const server = new Server({ hostKeys: [hostKey] }, (client) => {
    connections.add(client);
    client.on('close', () => connections.delete(client));
    client.on('error', () => connections.delete(client));
    client.on('authentication', (ctx: AuthContext) => {
      if (ctx.method === 'password' && ctx.username === opts.user && ctx.password === opts.password) ctx.accept();
      else ctx.reject(['password']);
    });
    client.on('ready', () => {
      client.on('tcpip', (accept, reject, info) => {
        const socket = connect(info.destPort, info.destIP);
        socket.once('error', () => reject());
        socket.once('connect', () => {
          const channel = accept();
          socket.removeAllListeners('error');
          socket.on('error', () => channel.destroy());
          channel.on('error', () => socket.destroy());
          channel.pipe(socket).pipe(channel);
        });
      });
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        session.on('sftp', (acceptSftp) => serveSftp(acceptSftp(), opts.home));
        session.on('exec', (_accept, rejectExec) => rejectExec());
        session.on('shell', (_accept, rejectShell) => rejectShell());
      });
    });
  });
  await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
  return {
    port: (server.address() as AddressInfo).port,
    user: opts.user,
    password: opts.password,
    close: () =>
      new Promise<void>((resolveClose) => {
        for (const client of connections) client.end();
        server.close(() => resolveClose());
      }),
  };
}

function attributes(stats: Stats): Attributes {
  return { mode: stats.mode, uid: stats.uid, gid: stats.gid, size: stats.size, atime: Math.floor(stats.atimeMs / 1000), mtime: Math.floor(stats.mtimeMs / 1000) };
}

/** Read-only SFTP: OPEN for reading, FSTAT, READ, CLOSE, STAT, LSTAT, REALPATH. */
function serveSftp(sftp: SFTPWrapper, home: string): void {
  const handles = new Map<number, number>();
  let nextHandle = 1;
  const fdOf = (handle: Buffer) => (handle.length === 4 ? handles.get(handle.readUInt32BE(0)) : undefined);
  sftp.on('OPEN', (reqId, filename, flags) => {
    if ((flags & (OPEN.WRITE | OPEN.APPEND | OPEN.CREAT | OPEN.TRUNC)) !== 0) return sftp.status(reqId, STATUS.PERMISSION_DENIED);
    let fd: number;
    try {
      fd = openSync(resolve(home, filename), 'r');
    } catch {
      return sftp.status(reqId, STATUS.NO_SUCH_FILE);
    }
    const id = nextHandle++;
    handles.set(id, fd);
    const handle = Buffer.alloc(4);
    handle.writeUInt32BE(id, 0);
    return sftp.handle(reqId, handle);
  });
  sftp.on('FSTAT', (reqId, handle) => {
    const fd = fdOf(handle);
    return fd === undefined ? sftp.status(reqId, STATUS.FAILURE) : sftp.attrs(reqId, attributes(fstatSync(fd)));
  });
  sftp.on('READ', (reqId, handle, offset, length) => {
    const fd = fdOf(handle);
    if (fd === undefined) return sftp.status(reqId, STATUS.FAILURE);
    const buffer = Buffer.alloc(length);
    const read = readSync(fd, buffer, 0, length, offset);
    return read === 0 ? sftp.status(reqId, STATUS.EOF) : sftp.data(reqId, buffer.subarray(0, read));
  });
  sftp.on('CLOSE', (reqId, handle) => {
    const fd = fdOf(handle);
    if (fd === undefined) return sftp.status(reqId, STATUS.FAILURE);
    closeSync(fd);
    handles.delete(handle.readUInt32BE(0));
    return sftp.status(reqId, STATUS.OK);
  });
  const stat = (reqId: number, path: string) => {
    try {
      return sftp.attrs(reqId, attributes(statSync(resolve(home, path))));
    } catch {
      return sftp.status(reqId, STATUS.NO_SUCH_FILE);
    }
  };
  sftp.on('STAT', stat);
  sftp.on('LSTAT', stat);
  sftp.on('REALPATH', (reqId, path) => sftp.name(reqId, [{ filename: resolve(home, path), longname: resolve(home, path), attrs: {} as Attributes }]));
  sftp.on('end', () => {
    for (const fd of handles.values()) closeSync(fd);
    handles.clear();
  });
}
