// Measures what the pty-session trick of SshLink buys: the round trip of a 316 KB message through the jump
// host to an echo server on hpc's loopback, with and without the pty sessions that make sshd turn Nagle off.
// Two patterns: 'stream' (bytes echoed as they arrive, data flowing both ways at once) and 'frame' (the
// whole request first, then the whole response: what an RPC call does, and where delayed ACKs bite).
// A program, not a test (tests never assert speed). Run as root, inside hv-core, with the testbed up:
//   ip netns exec hv-core node dist/test/middleware/ssh/measure-nagle.js [rounds]
import { join } from 'node:path';
import { connectRoute } from '../../../src/middleware/ssh/connect.js';
import { silentLog } from '../../../src/middleware/ssh/log.js';
import { loadTestbed, type Testbed } from '../../support/testbed.js';
import { echoRoundTrip, startEchoServer, testbedRoute } from './support.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

const size = 316 * 1024;
const rounds = Number(process.argv[2] ?? 40);
const warmup = 5;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? Number.NaN;
}

interface Result {
  readonly pattern: 'stream' | 'frame';
  readonly mode: string;
  readonly rounds: number;
  readonly medianMs: number;
  readonly p90Ms: number;
  readonly minMs: number;
}

async function measure(tb: Testbed, knownHostsFile: string, pattern: 'stream' | 'frame', nagleGuard: boolean, echoPort: number): Promise<Result> {
  const link = await connectRoute(testbedRoute(tb, { key: true, knownHostsFile }), { log: silentLog, nagleGuard });
  try {
    const channel = await link.forward(echoPort);
    const times: number[] = [];
    for (let i = 0; i < warmup + rounds; i++) {
      const started = performance.now();
      await echoRoundTrip(channel, size, pattern === 'frame');
      if (i >= warmup) times.push(performance.now() - started);
    }
    channel.destroy();
    times.sort((a, b) => a - b);
    return {
      pattern,
      mode: nagleGuard ? 'pty session per hop (default)' : 'no pty session (Nagle on)',
      rounds,
      medianMs: Number(percentile(times, 0.5).toFixed(2)),
      p90Ms: Number(percentile(times, 0.9).toFixed(2)),
      minMs: Number((times[0] ?? Number.NaN).toFixed(2)),
    };
  } finally {
    link.close();
  }
}

async function main(): Promise<void> {
  const tb = loadTestbed();
  if (tb === undefined) throw new Error('the testbed is not up: run scripts/testbed up as root');
  const dir = mkdtempSync(join(tmpdir(), 'hv-nagle-'));
  const results: Result[] = [];
  try {
    for (const pattern of ['stream', 'frame'] as const) {
      const echo = await startEchoServer(tb, pattern);
      try {
        for (const nagleGuard of [false, true]) results.push(await measure(tb, join(dir, 'known_hosts'), pattern, nagleGuard, echo.port));
      } finally {
        await echo.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`316 KB echo round trip, core -> jump -> hpc loopback, ${rounds} rounds after ${warmup} warm-up`);
  console.log(`${'pattern'.padEnd(8)} ${'mode'.padEnd(32)} ${'median ms'.padStart(10)} ${'p90 ms'.padStart(10)} ${'min ms'.padStart(10)}`);
  for (const r of results) {
    console.log(`${r.pattern.padEnd(8)} ${r.mode.padEnd(32)} ${String(r.medianMs).padStart(10)} ${String(r.p90Ms).padStart(10)} ${String(r.minMs).padStart(10)}`);
  }
  console.log(JSON.stringify({ sizeBytes: size, results }));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
