// One SshLink carrying two channels side by side: an authenticated RPC session to the bot, for no-op calls
// (the ping payload: no plugin, no spec codec), and a raw direct-tcpip channel to an echo server on the same
// host. Comparing their round trips separates what the protocol and the bot add from what SSH costs.
import { randomUUID } from 'node:crypto';
import { posix } from 'node:path';
import type { Duplex } from 'node:stream';
import type { MiddlewareConfig } from '../src/config/index.js';
import { ClientSession } from '../src/middleware/protocol/index.js';
import { FRAME_HEADER_BYTES } from '../src/middleware/protocol/frames.js';
import { connectRoute, routeFromMiddleware, type SshLink, type SshLog } from '../src/middleware/ssh/index.js';
import { programVersion } from '../src/version.js';
import { echoRoundTrip } from '../test/middleware/ssh/support.js';

/** The no-op call's answer was not a pong (the bot or the route is not the one we think). */
export class ProbeError extends Error {
  constructor(
    message: string,
    readonly host: string,
    readonly step: string,
  ) {
    super(`${message} (host ${host}, step ${step})`);
    this.name = 'ProbeError';
  }
}

/** Bytes of the frame a call with this payload puts on the wire, so an echo can carry the same amount. */
export function callFrameBytes(payload: unknown): number {
  return FRAME_HEADER_BYTES + Buffer.byteLength(JSON.stringify({ t: 'call', id: randomUUID(), deadline: 10_000, payload }));
}

/** A ping call's frame size. */
export const pingFrameBytes = (): number => callFrameBytes({ ping: true });

export class SshProbe {
  private constructor(
    private readonly link: SshLink,
    private readonly session: ClientSession,
    private readonly echo: Duplex,
    private readonly host: string,
  ) {}

  /** Connects the route of `mw`, opens the bot session and the echo channel. */
  static async open(mw: MiddlewareConfig, echoPort: number, knownHostsFile: string, log: SshLog): Promise<SshProbe> {
    const link = await connectRoute(routeFromMiddleware(mw, { knownHostsFile }), { log });
    try {
      const stream = await link.forward(mw.remoteBindPort);
      // The secret is only handed to the session; never printed.
      const secret = (await link.readFile(posix.join(mw.botHome, 'bot.secret'))).toString('utf8').trim();
      const session = await ClientSession.connect(stream, { secret, programVersion: programVersion(), context: { host: mw.remoteHost, user: mw.sshUserName } });
      const echo = await link.forward(echoPort);
      return new SshProbe(link, session, echo, mw.remoteHost);
    } catch (error) {
      link.close();
      throw error;
    }
  }

  async ping(): Promise<void> {
    const reply = await this.session.call({ ping: true }, { deadlineMs: 10_000, method: 'ping' });
    const pong = reply.payload as { pong?: unknown } | null;
    if (pong === null || typeof pong !== 'object' || pong.pong !== true) throw new ProbeError('the no-op call was not answered with a pong', this.host, 'ping');
  }

  echoRoundTrip(bytes: number): Promise<void> {
    return echoRoundTrip(this.echo, bytes);
  }

  close(): void {
    this.session.close();
    this.echo.destroy();
    this.link.close();
  }
}
