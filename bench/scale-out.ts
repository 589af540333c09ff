// `node dist/bench/scale-out.js [--engine postgresql|mariadb] [--seconds 20] [--plugin-ms 100] [--batch 20]`:
// do several harvester instances on one server database add up? 1, 2 and 3 instance processes share a new
// database on the test server (scripts/db-servers); each runs a submitter, a monitor and a sweeper loop over
// six queues, whose plugin calls wait --plugin-ms like a batch system does (so the machine's cores are not
// what limits). Measured: workers taken through their whole lifecycle (submitted, running, finished, swept)
// per second, all instances together. Target: 3 instances >= 2.5x one. Writes bench-results/scale-out-<engine>.json.
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exitOnArgumentError, parseBenchArgs } from './arguments.js';
import { newServerDatabase } from './core-store.js';

interface InstanceResult {
  readonly submitted: number;
  readonly swept: number;
}

function runInstance(settings: string, owner: string, queues: string, batch: number, pluginMs: number, seconds: number): Promise<InstanceResult> {
  const script = fileURLToPath(new URL('./scale-out-instance.js', import.meta.url));
  const child = spawn(process.execPath, [script, settings, owner, queues, String(batch), String(pluginMs), String(seconds)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(stdout) as InstanceResult) : reject(new Error(`instance ${owner} exited with ${code}: ${stderr}`))));
  });
}

const program = 'bench-scale-out';
const usage = 'node dist/bench/scale-out.js [--engine postgresql|mariadb] [--seconds S] [--plugin-ms MS] [--batch N]';

async function main(): Promise<void> {
  const { values } = parseBenchArgs(program, usage, {
    options: {
      engine: { type: 'string', default: 'postgresql' },
      seconds: { type: 'string', default: '20' },
      'plugin-ms': { type: 'string', default: '100' },
      batch: { type: 'string', default: '20' },
    },
  });
  const engine = values.engine === 'mariadb' ? 'mariadb' : 'postgresql';
  const seconds = Number(values.seconds);
  const pluginMs = Number(values['plugin-ms']);
  const batch = Number(values.batch);
  const queues = Array.from({ length: 6 }, (_, i) => `SCALE_Q${i + 1}`).join(',');
  const rows: { instances: number; workersPerSecond: number; perInstance: InstanceResult[] }[] = [];
  for (const instances of [1, 2, 3]) {
    const { settings, drop } = await newServerDatabase(engine);
    try {
      process.stderr.write(`bench: scale-out on ${engine}: ${instances} instance(s) for ${seconds} s\n`);
      const json = JSON.stringify(settings);
      const results = await Promise.all(Array.from({ length: instances }, (_, i) => runInstance(json, `instance${i + 1}`, queues, batch, pluginMs, seconds)));
      const swept = results.reduce((a, r) => a + r.swept, 0);
      rows.push({ instances, workersPerSecond: Number((swept / seconds).toFixed(1)), perInstance: results });
    } finally {
      await drop();
    }
  }
  const one = rows[0]?.workersPerSecond ?? 0;
  const lines = [
    `scale-out on ${engine}: ${batch} workers per plugin call, plugin calls wait ${pluginMs} ms, ${seconds} s per case, 6 queues`,
    'instances   workers through their lifecycle per second (together)   vs one instance',
    ...rows.map((r) => `${String(r.instances).padStart(9)}   ${String(r.workersPerSecond).padStart(10)}${' '.repeat(46)}${one === 0 ? '-' : `${(r.workersPerSecond / one).toFixed(2)}x`}`),
  ];
  const three = rows[2]?.workersPerSecond ?? 0;
  lines.push(`target: 3 instances >= 2.5x one: ${one > 0 && three / one >= 2.5 ? 'PASS' : 'MISS'} (${one > 0 ? (three / one).toFixed(2) : '-'}x)`);
  process.stdout.write(`${lines.join('\n')}\n`);
  const output = fileURLToPath(new URL(`../../bench-results/scale-out-${engine}.json`, import.meta.url));
  await mkdir(dirname(output), { recursive: true });
  await writeFile(output, `${JSON.stringify({ engine, seconds, pluginMs, batch, rows }, null, 2)}\n`);
}

main().catch((error: unknown) => {
  exitOnArgumentError(program, usage, error);
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
