// Homes for the admin command tests (queues list, workers, jobs): a queue configuration of our own, so the
// tests do not depend on the shipped example, and the home's database opened directly to seed or inspect it.
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/index.js';
import { dummyLocalQueue, writeJson, type TempDirs } from './support.js';

/** Queues of the admin homes: two that run jobs, one that runs none (NoJob). */
export const JOB_QUEUE = 'jobq';
export const OTHER_JOB_QUEUE = 'otherq';
export const NO_JOB_QUEUE = 'pilotq';

/** A new home with panda_queueconfig.json holding the three queues; no database yet. */
export function adminHome(dirs: TempDirs, prefix: string): string {
  const home = dirs.make(prefix);
  writeJson(join(home, 'panda_queueconfig.json'), {
    [JOB_QUEUE]: dummyLocalQueue({ mapType: 'OneToOne' }),
    [OTHER_JOB_QUEUE]: dummyLocalQueue({ mapType: 'OneToOne', queueStatus: 'offline' }),
    [NO_JOB_QUEUE]: dummyLocalQueue({ mapType: 'NoJob' }),
  });
  return home;
}

/** The default database file of a home (master config default: <home>/harvester.db). */
export function homeDatabase(home: string): string {
  return join(home, 'harvester.db');
}

/** Runs `use` on the home's database, closing it before the CLI runs against the same file. */
export async function withHomeStore<T>(home: string, use: (store: SqliteStore) => Promise<T>): Promise<T> {
  const store = await SqliteStore.open(homeDatabase(home));
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}
