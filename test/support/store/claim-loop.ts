// Test support: a process that claims rows of a shared database in a loop, as an agent would, for the
// multi-process claim tests. Usage: node claim-loop.js <database> <owner>, where <database> is a SQLite
// file or the JSON of server connection settings (ServerConnectionSettings).
// Opens the store and writes "ready" on stdout, then waits for a line on stdin (so that both processes
// start claiming together). Claims fetched jobs and submitted workers in small batches, moves each batch on
// (prepared / running) and releases it, and takes entries of the embedded job queue of queue QE and stores
// their jobs (as a job fetcher does), until nothing is left; then writes {"jobs": [...], "workers": [...],
// "queued": [...]} (the ids it claimed or took) on stdout. Any error ends the process with a non-zero exit code and the error on stderr.
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { JobSpec } from '../../../src/spec/index.js';
import { SqliteStore } from '../../../src/store/sqlite-store.js';
import { openServerStore } from '../../../src/store/server/open-server-store.js';
import type { ServerConnectionSettings } from '../../../src/store/server/settings.js';
import type { Store } from '../../../src/store/store.js';

async function open(database: string): Promise<Store> {
  return database.startsWith('{') ? openServerStore(JSON.parse(database) as ServerConnectionSettings) : SqliteStore.open(database);
}

async function main(): Promise<void> {
  const [database, owner] = process.argv.slice(2);
  if (database === undefined || owner === undefined) throw new Error('usage: claim-loop <database> <owner>');
  const store = await open(database);
  const claimed = { jobs: [] as number[], workers: [] as number[], queued: [] as number[] };
  const input = createInterface({ input: process.stdin });
  process.stdout.write('ready\n');
  await once(input, 'line');
  input.close();
  let idleRounds = 0;
  for (let round = 0; idleRounds < 3; round++) {
    const limit = 1 + (round % 7);
    // Writes only when something was claimed, as the agents do: a write of nothing is a transaction for nothing.
    const jobs = await store.claimJobs({ for: 'preparator', owner, lockIntervalSec: 3600, limit, subStatus: ['fetched'] });
    for (const job of jobs) job.subStatus = 'prepared';
    if (jobs.length > 0) await store.updateJobs(jobs, { lock: { purpose: 'preparator', owner }, releaseLock: true });
    const workers = await store.claimWorkers({ purpose: 'monitor', owner, lockIntervalSec: 3600, limit, statuses: ['submitted'] });
    for (const worker of workers) worker.status = 'running';
    if (workers.length > 0) await store.updateWorkers(workers, { lock: { purpose: 'monitor', owner }, releaseLock: true });
    claimed.jobs.push(...jobs.map((j) => j.PandaID as number));
    claimed.workers.push(...workers.map((w) => w.workerID as number));
    const taken = await store.takeQueuedJobs({ queueName: 'QE', owner, lockIntervalSec: 3600, limit });
    // Stored as already prepared, so that this loop's preparator claims leave them alone.
    if (taken.length > 0) {
      await store.insertJobs(taken.map((q) => new JobSpec({ PandaID: q.PandaID, computingSite: q.queueName, status: 'starting', subStatus: 'prepared' })));
    }
    claimed.queued.push(...taken.map((q) => q.PandaID));
    idleRounds = jobs.length + workers.length + taken.length === 0 ? idleRounds + 1 : 0;
    // A pause between cycles, as agents have: SQLite's busy handler is not fair, and a process writing
    // back to back could starve the other for the whole run.
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await store.close();
  process.stdout.write(`${JSON.stringify(claimed)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
