// Measures what the pty-session trick of SshLink buys: the round trip of a 316 KB message through the jump
// host to an echo server on hpc's loopback, with and without the pty sessions that make sshd turn Nagle off.
// Two patterns: 'stream' (bytes echoed as they arrive, data flowing both ways at once) and 'frame' (the
// whole request first, then the whole response: what an RPC call does, and where delayed ACKs bite).
// A program, not a test (tests never assert speed). Run as root, inside hv-core, with the testbed up:
//   ip netns exec hv-core node dist/test/middleware/ssh/measure-nagle.js [rounds]
import { join } from 'node:path';
import { connectRoute } from '../../../src/middleware/ssh/connect.js';
import { silentLog } from '../../../src/middleware/ssh/log.js';
import { loadTestbed } from '../../support/testbed.js';
import { echoRoundTrip, startEchoServer, testbedRoute } from './support.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

const size = 316 * 1024;
const rounds = Number(process.argv[2] ?? 40);
const warmup = 5;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? Number.NaN;
}

async function main(): Promise<void> {
  const tb = loadTestbed();
  if (tb === undefined) throw new Error('the testbed is not up: run scripts/testbed up as root');
  const dir = mkdtempSync(join(tmpdir(), 'hv-nagle-'));
  const results: { pattern: string; mode: string; rounds: number; medianMs: number; p90Ms: number; minMs: number }[] = [];
  for (const pattern of ['stream', 'frame'] as const) {
  const echo = await startEchoServer(tb, pattern);
  try {
    for (const nagleGuard of [false, true]) {
      const route = testbedRoute(tb, { key: true, knownHostsFile: join(dir, 'known_hosts') });
      const link = await connectRoute(route, { log: silentLog, nagleGuard });
      try {
        const channel = await link.forward(echo.port);
        const times: number[] = [];
        for (let i = 0; i < warmup + rounds; i++) {
          const started = performance.now();
          await echoRoundTrip(channel, size, pattern === 'frame');
          if (i >= warmup) times.push(performance.now() - started);
        }
        channel.destroy();
        times.sort((a, b) => a - b);
        results.push({
          pattern,
          mode: nagleGuard ? 'pty session per hop (default)' : 'no pty session (Nagle on)',
          rounds,
          medianMs: Number(percentile(times, 0.5).toFixed(2)),
          p90Ms: Number(percentile(times, 0.9).toFixed(2)),
          minMs: Number((times[0] ?? Number.NaN).toFixed(2)),
        });
      } finally {
        link.close();
      }
    }
  } finally {
    await echo.stop();
  }
  }
  rmSync(dir, { recursive: true, force: true });
  console.log(`316 KB echo round trip, core -> jump -> hpc loopback, ${rounds} rounds after ${warmup} warm-up`);
  console.log(`${'pattern'.padEnd(8)} ${'mode'.padEnd(32)} ${'median ms'.padStart(10)} ${'p90 ms'.padStart(10)} ${'min ms'.padStart(10)}`);
  for (const r of results) console.log(`${r.pattern.padEnd(8)} ${r.mode.padEnd(32)} ${String(r.medianMs).padStart(10)} ${String(r.p90Ms).padStart(10)} ${String(r.minMs).padStart(10)}`);
  console.log(JSON.stringify({ sizeBytes: size, results }));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
