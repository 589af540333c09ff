// Two processes claiming from the same SQLite file at once never get the same row (the claim is atomic
// across processes), and together they get every row.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JobSpec, WorkSpec } from '../spec/index.js';
import { SqliteStore } from './index.js';

const root = mkdtempSync(join(tmpdir(), 'harvester-claims-'));
after(() => rmSync(root, { recursive: true, force: true }));

interface Claimed {
  jobs: number[];
  workers: number[];
  /** PandaIDs taken from the embedded job queue (and stored as jobs). */
  queued: number[];
}

/** A claimer process: `ready` resolves once it has opened the store, `go()` starts it, `result` is what it claimed. */
function startClaimer(database: string, owner: string): { ready: Promise<void>; go: () => void; result: Promise<Claimed> } {
  const script = fileURLToPath(new URL('../../test/support/store/claim-loop.js', import.meta.url));
  const child = spawn(process.execPath, [script, database, owner], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (stdout.startsWith('ready\n')) markReady();
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const result = new Promise<Claimed>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(JSON.parse(stdout.slice('ready\n'.length)) as Claimed);
      else reject(new Error(`claimer ${owner} exited with ${code}: ${stderr}`));
    });
  });
  // A claimer that dies before it is ready must fail the test, not hang it.
  return { ready: Promise.race([ready, result.then(() => undefined)]), go: () => child.stdin.end('go\n'), result };
}

test('two processes claiming in a loop from one database never claim the same job, worker or queued job, and claim them all', { timeout: 120_000 }, async () => {
  const database = join(root, 'shared.db');
  const store = await SqliteStore.open(database);
  const rows = 1500;
  await store.insertJobs(Array.from({ length: rows }, (_, i) => new JobSpec({ PandaID: i + 1, computingSite: 'Q1', subStatus: 'fetched' })));
  await store.insertWorkers(Array.from({ length: rows }, () => new WorkSpec({ computingSite: 'Q1', status: 'submitted' })));
  await store.enqueueJobs(Array.from({ length: rows }, (_, i) => ({ queueName: 'QE', jobParams: { i } })));
  const claimers = [startClaimer(database, 'process-A'), startClaimer(database, 'process-B')];
  await Promise.all(claimers.map((c) => c.ready));
  for (const c of claimers) c.go();
  const [a, b] = (await Promise.all(claimers.map((c) => c.result))) as [Claimed, Claimed];

  for (const kind of ['jobs', 'workers', 'queued'] as const) {
    const fromA = new Set(a[kind]);
    const both = b[kind].filter((id) => fromA.has(id));
    assert.deepEqual(both, [], `no ${kind} claimed by both processes`);
    assert.equal(a[kind].length + b[kind].length, rows, `every one of the ${kind} claimed once`);
    assert.equal(new Set([...a[kind], ...b[kind]]).size, rows);
    assert.ok(a[kind].length > 0 && b[kind].length > 0, `both processes got ${kind} (the claims interleaved)`);
  }
  assert.equal((await store.listJobs({ queueName: 'Q1', subStatus: ['prepared'] })).length, rows);
  assert.equal((await store.listJobs({ queueName: 'QE' })).length, rows, 'every queued job was stored');
  assert.deepEqual(await store.listQueuedJobs(), [], 'the embedded queue is empty');
  assert.deepEqual(await store.getWorkerStats('Q1'), { running: rows });
  assert.equal((await store.listWorkers()).filter((w) => w.lockedBy !== null).length, 0, 'every lock released');
  await store.close();
});
