// The store conformance suite: what every Store implementation must do, run against each (SQLite now,
// PostgreSQL/MariaDB later), the way Kysely runs one suite per dialect. `open` must give a new, empty store
// each time. Times are passed as `now`, so lock expiry is tested without sleeping.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FileSpec, JobSpec, WorkSpec, type Spec } from '../../../src/spec/index.js';
import { fieldValue } from '../spec/arbitraries.js';
import type { FieldDef } from '../../../src/spec/spec.js';
import {
  StoreArgumentError,
  StoreClosedError,
  StoreDuplicateError,
  StoreLockLostError,
  StoreRecordNotFoundError,
  StoreValueError,
} from '../../../src/store/errors.js';
import type { NewDialogMessage, NewQueuedJob, Store } from '../../../src/store/store.js';

const T0 = new Date('2030-01-01T00:00:00.000Z');
const at = (seconds: number): Date => new Date(T0.getTime() + seconds * 1000);

function job(fields: Partial<Record<keyof JobSpec, unknown>> = {}): JobSpec {
  return new JobSpec({ computingSite: 'Q1', status: 'starting', subStatus: 'fetched', ...fields } as never);
}

function worker(fields: Partial<Record<keyof WorkSpec, unknown>> = {}, jobs: JobSpec[] = []): WorkSpec {
  const w = new WorkSpec({ computingSite: 'Q1', status: 'submitted', modificationTime: T0, ...fields } as never);
  w.jobSpecs = jobs;
  return w;
}

function file(fields: Partial<Record<keyof FileSpec, unknown>> = {}): FileSpec {
  return new FileSpec({ lfn: 'f', fileType: 'input', status: 'to_prepare', ...fields } as never);
}

const ids = (specs: readonly { PandaID?: number | null; workerID?: number | null }[]): number[] =>
  specs.map((s) => (s.PandaID ?? s.workerID) as number);
const sorted = (numbers: readonly number[]): number[] => [...numbers].sort((a, b) => a - b);

/** A value a portable store keeps exactly, per field: safe integers, well-formed text, anything encodable. */
function storableValue(def: FieldDef): fc.Arbitrary<unknown> {
  if (def.kind === 'integer') return fc.option(fc.maxSafeInteger(), { nil: null, freq: 3 });
  if (def.kind === 'text') {
    return fc.option(fc.string({ unit: 'binary', maxLength: 16 }).filter((s) => !/[\uD800-\uDFFF]/u.test(s)), { nil: null, freq: 3 });
  }
  return fieldValue(def, 0);
}

/** A spec with random storable column values and no pending changes (non-column fields stay empty). */
export function storableSpec<S extends Spec>(create: () => S, skip: readonly string[]): fc.Arbitrary<S> {
  const columns = create().layout.fields.filter((def) => def.isColumn && !skip.includes(def.name));
  return fc.tuple(...columns.map(storableValue)).map((values) => {
    const spec = create();
    columns.forEach((def, i) => spec.setField(def.name, values[i]));
    spec.resetChanges();
    return spec;
  });
}

/** The column values only, encoded, for comparing a spec with what came back from the store. */
export function columnsOf(spec: Spec): unknown {
  const copy = spec.clone();
  for (const def of copy.layout.fields) if (!def.isColumn) copy.setField(def.name, def.kind === 'specs' ? [] : def.kind === 'flag' ? false : null);
  copy.extra = {};
  return copy.toJSON();
}

export function defineStoreConformance(name: string, open: () => Promise<Store>): void {
  describe(`store conformance: ${name}`, () => {
    /** Runs a test on a new store, closed afterwards whatever happened. */
    const withStore = (title: string, body: (store: Store) => Promise<void>, options: { timeout?: number } = {}) =>
      test(title, { timeout: options.timeout ?? 60_000 }, async () => {
        const store = await open();
        try {
          await body(store);
        } finally {
          await store.close();
        }
      });

    describe('jobs', () => {
      withStore('insertJobs assigns missing PandaIDs and fileIDs, and getJob gives the job back with its files sorted into inFiles and outFiles', async (store) => {
        const given = job({ PandaID: 1000, jobParams: { transformation: 'run.sh' } });
        given.addInFile(file({ lfn: 'in.root' }));
        given.addOutFile(file({ lfn: 'out.root', fileType: 'output', status: 'defined' }));
        given.addOutFile(file({ lfn: 'job.log', fileType: 'log', status: 'defined' }));
        const fresh = job();
        await store.insertJobs([given, fresh]);
        assert.equal(given.PandaID, 1000);
        assert.equal(typeof fresh.PandaID, 'number');
        assert.notEqual(fresh.PandaID, 1000);
        assert.equal(given.hasChanges(), false, 'the inserted specs have no pending changes');
        const back = await store.getJob(1000);
        assert.deepEqual(back.jobParams, { transformation: 'run.sh' });
        assert.deepEqual(back.inFiles.map((f) => f.lfn), ['in.root']);
        assert.deepEqual(back.outFiles.map((f) => f.lfn), ['out.root', 'job.log']);
        assert.ok(back.inFiles.every((f) => f.PandaID === 1000 && typeof f.fileID === 'number'));
        assert.deepEqual(back.inFiles.map((f) => f.fileID), given.inFiles.map((f) => f.fileID));
        assert.equal(back.hasChanges(), false);
      });

      withStore('insertJobs refuses a PandaID already stored or repeated in the batch, and inserts nothing', async (store) => {
        await store.insertJobs([job({ PandaID: 1 })]);
        await assert.rejects(store.insertJobs([job({ PandaID: 2 }), job({ PandaID: 1 })]), (e: unknown) => e instanceof StoreDuplicateError && e.ids.includes(1));
        await assert.rejects(store.insertJobs([job({ PandaID: 3 }), job({ PandaID: 3 })]), StoreDuplicateError);
        assert.deepEqual(ids(await store.listJobs()), [1]);
      });

      withStore('getJob of an unknown PandaID is StoreRecordNotFoundError; getJobs keeps the order asked and leaves out unknown ids', async (store) => {
        await store.insertJobs([job({ PandaID: 1 }), job({ PandaID: 2 })]);
        await assert.rejects(store.getJob(99), (e: unknown) => e instanceof StoreRecordNotFoundError && e.kind === 'job' && e.ids[0] === 99);
        assert.deepEqual(ids(await store.getJobs([2, 99, 1])), [2, 1]);
      });

      withStore('claimJobs locks up to limit matching jobs for the owner, and another owner gets none of them', async (store) => {
        await store.insertJobs([
          job({ PandaID: 1 }), job({ PandaID: 2 }), job({ PandaID: 3 }),
          job({ PandaID: 4, subStatus: 'prepared' }), job({ PandaID: 5, computingSite: 'Q2' }),
        ]);
        const first = await store.claimJobs({ for: 'preparator', owner: 'A', lockIntervalSec: 600, limit: 2, queueName: 'Q1', subStatus: ['fetched'], now: T0 });
        assert.equal(first.length, 2);
        assert.ok(first.every((j) => j.lockedBy === 'A' && j.preparatorTime?.getTime() === T0.getTime()));
        const second = await store.claimJobs({ for: 'preparator', owner: 'B', lockIntervalSec: 600, limit: 10, queueName: 'Q1', subStatus: ['fetched'], now: T0 });
        assert.deepEqual(ids(second), [3], 'B gets only the one left');
        assert.deepEqual(ids(await store.claimJobs({ for: 'preparator', owner: 'C', lockIntervalSec: 600, limit: 10, subStatus: ['fetched'], now: T0 })), [5]);
        assert.deepEqual(ids(await store.claimJobs({ for: 'submitter', owner: 'D', lockIntervalSec: 600, limit: 10, status: ['starting'], now: T0 })), [4]);
        const stored = await store.getJobs([1, 2, 3]);
        assert.deepEqual(sorted(stored.filter((j) => j.lockedBy === 'A').map((j) => j.PandaID as number)), sorted(ids(first)));
      });

      withStore('a claimed job comes with its files attached', async (store) => {
        const j = job({ PandaID: 7 });
        j.addInFile(file({ lfn: 'a' }));
        j.addInFile(file({ lfn: 'b', fileType: 'aux_input' }));
        j.addOutFile(file({ lfn: 'c', fileType: 'output' }));
        await store.insertJobs([j]);
        const [claimed] = await store.claimJobs({ for: 'preparator', owner: 'A', lockIntervalSec: 60, limit: 1, now: T0 });
        assert.deepEqual(claimed?.inFiles.map((f) => f.lfn), ['a', 'b']);
        assert.deepEqual(claimed?.outFiles.map((f) => f.lfn), ['c']);
      });

      withStore('a job lock expires after the lock interval: a crashed owner\'s jobs come back to another', async (store) => {
        await store.insertJobs([job({ PandaID: 1 }), job({ PandaID: 2 })]);
        const claim = (owner: string, now: Date) => store.claimJobs({ for: 'preparator', owner, lockIntervalSec: 60, limit: 10, now });
        assert.equal((await claim('crashed', T0)).length, 2);
        assert.equal((await claim('B', at(59))).length, 0, 'still locked within the interval');
        const back = await claim('B', at(61));
        assert.deepEqual(sorted(ids(back)), [1, 2]);
        assert.ok(back.every((j) => j.lockedBy === 'B'));
        await assert.rejects(store.updateJobs([job({ PandaID: 1 })], { lock: { purpose: 'preparator', owner: 'crashed' } }), StoreLockLostError);
      });

      withStore('a released job rests for the check interval before it is claimed again', async (store) => {
        await store.insertJobs([job({ PandaID: 1 })]);
        const claim = (now: Date) => store.claimJobs({ for: 'stager', owner: 'S', lockIntervalSec: 600, checkIntervalSec: 10, limit: 1, now });
        const [claimed] = await claim(T0);
        assert.ok(claimed !== undefined && claimed.stagerLock === 'S' && claimed.stagerTime?.getTime() === T0.getTime());
        await store.updateJobs([claimed], { lock: { purpose: 'stager', owner: 'S' }, releaseLock: true, now: at(1) });
        assert.equal(claimed.stagerLock, null, 'the caller\'s spec shows the release');
        assert.equal((await claim(at(9))).length, 0);
        assert.equal((await claim(at(10))).length, 1);
      });

      withStore('the propagator claims only jobs whose propagation was triggered, with a lock of its own', async (store) => {
        const triggered = job({ PandaID: 1 });
        triggered.triggerPropagation(T0);
        await store.insertJobs([triggered, job({ PandaID: 2 })]);
        const held = await store.claimJobs({ for: 'preparator', owner: 'P', lockIntervalSec: 600, limit: 10, now: T0 });
        assert.equal(held.length, 2);
        const propagated = await store.claimJobs({ for: 'propagator', owner: 'R', lockIntervalSec: 600, limit: 10, now: T0 });
        assert.deepEqual(ids(propagated), [1], 'triggered only, despite the preparator\'s lock');
        assert.equal(propagated[0]?.propagatorLock, 'R');
        assert.equal((await store.claimJobs({ for: 'propagator', owner: 'R2', lockIntervalSec: 600, limit: 10, now: at(1) })).length, 0);
      });

      withStore('updateJobs writes only the changed columns: two copies changing different fields both land', async (store) => {
        await store.insertJobs([job({ PandaID: 1 })]);
        const [a, b] = [await store.getJob(1), await store.getJob(1)];
        a.status = 'running';
        b.nCore = 8;
        await store.updateJobs([a]);
        await store.updateJobs([b]);
        const back = await store.getJob(1);
        assert.equal(back.status, 'running');
        assert.equal(back.nCore, 8);
        assert.equal(a.hasChanges(), false);
      });

      withStore('an owned update refreshes the lock time so the lock does not expire, and releaseLock frees the job', async (store) => {
        await store.insertJobs([job({ PandaID: 1 })]);
        const lock = { purpose: 'preparator', owner: 'A' } as const;
        const [claimed] = await store.claimJobs({ for: 'preparator', owner: 'A', lockIntervalSec: 60, limit: 1, now: T0 });
        assert.ok(claimed !== undefined);
        claimed.subStatus = 'preparing';
        await store.updateJobs([claimed], { lock, now: at(50) });
        assert.equal(claimed.modificationTime?.getTime(), at(50).getTime());
        assert.equal((await store.claimJobs({ for: 'preparator', owner: 'B', lockIntervalSec: 60, limit: 1, now: at(100) })).length, 0, 'renewed at 50 s');
        await store.updateJobs([claimed], { lock, releaseLock: true, now: at(101) });
        const back = await store.getJob(1);
        assert.equal(back.lockedBy, null);
        assert.equal(back.subStatus, 'preparing');
        assert.equal((await store.claimJobs({ for: 'preparator', owner: 'B', lockIntervalSec: 60, limit: 1, now: at(102) })).length, 1);
      });

      withStore('updateJobs for an owner who lost the lock is refused with StoreLockLostError naming the holder, and writes nothing', async (store) => {
        await store.insertJobs([job({ PandaID: 1 }), job({ PandaID: 2 })]);
        const mine = await store.claimJobs({ for: 'preparator', owner: 'A', lockIntervalSec: 60, limit: 2, now: T0 });
        await store.claimJobs({ for: 'preparator', owner: 'B', lockIntervalSec: 60, limit: 1, now: at(120) });
        for (const j of mine) j.subStatus = 'prepared';
        await assert.rejects(store.updateJobs(mine, { lock: { purpose: 'preparator', owner: 'A' } }), (e: unknown) => {
          assert.ok(e instanceof StoreLockLostError);
          assert.equal(e.owner, 'A');
          assert.deepEqual(e.lost.map((l) => l.holder), ['B']);
          return true;
        });
        assert.ok((await store.getJobs([1, 2])).every((j) => j.subStatus === 'fetched'), 'neither job was written');
        assert.ok(mine.every((j) => j.hasChanges()), 'the caller\'s changes are kept for a retry');
      });

      withStore('updateJobs of a job that is not stored is StoreRecordNotFoundError', async (store) => {
        const ghost = job({ PandaID: 42 });
        ghost.status = 'running';
        await assert.rejects(store.updateJobs([ghost]), (e: unknown) => e instanceof StoreRecordNotFoundError && e.ids[0] === 42);
      });

      withStore('updateJobs inserts the job\'s new files and writes its changed ones', async (store) => {
        const j = job({ PandaID: 1 });
        j.addInFile(file({ lfn: 'in' }));
        await store.insertJobs([j]);
        const loaded = await store.getJob(1);
        (loaded.inFiles[0] as FileSpec).status = 'ready';
        loaded.addOutFile(file({ lfn: 'out', fileType: 'output', status: 'defined' }));
        await store.updateJobs([loaded]);
        assert.equal(typeof loaded.outFiles[0]?.fileID, 'number');
        const back = await store.getJob(1);
        assert.equal(back.inFiles[0]?.status, 'ready');
        assert.deepEqual(back.outFiles.map((f) => [f.lfn, f.PandaID]), [['out', 1]]);
      });

      withStore('a value the database cannot keep exactly is refused with StoreValueError naming the field, and nothing is written', async (store) => {
        await store.insertJobs([job({ PandaID: 1 })]);
        const j = await store.getJob(1);
        j.status = 'running';
        j.nCore = 1.5;
        await assert.rejects(store.updateJobs([j]), (e: unknown) => e instanceof StoreValueError && e.field === 'nCore' && e.id === 1);
        assert.equal((await store.getJob(1)).status, 'starting');
        await assert.rejects(store.insertJobs([job({ PandaID: 2, computingSite: 'bad\uD800' })]), (e: unknown) => e instanceof StoreValueError && e.field === 'computingSite');
        await assert.rejects(store.insertJobs([job({ PandaID: 3, attemptNr: Number.NaN })]), StoreValueError);
        assert.deepEqual(ids(await store.listJobs()), [1]);
      });

      withStore('listJobs filters by queue, status, sub-status and ids, ordered by PandaID, with a limit', async (store) => {
        await store.insertJobs([
          job({ PandaID: 3 }), job({ PandaID: 1, status: 'running', subStatus: 'running' }),
          job({ PandaID: 2, computingSite: 'Q2' }), job({ PandaID: 4, status: 'finished', subStatus: 'done' }),
        ]);
        assert.deepEqual(ids(await store.listJobs()), [1, 2, 3, 4]);
        assert.deepEqual(ids(await store.listJobs({ queueName: 'Q1' })), [1, 3, 4]);
        assert.deepEqual(ids(await store.listJobs({ status: ['starting', 'finished'] })), [2, 3, 4]);
        assert.deepEqual(ids(await store.listJobs({ subStatus: ['done'] })), [4]);
        assert.deepEqual(ids(await store.listJobs({ PandaIDs: [4, 1, 9] })), [1, 4]);
        assert.deepEqual(ids(await store.listJobs({ limit: 2 })), [1, 2]);
        assert.equal((await store.listJobs({ PandaIDs: [1] }))[0]?.inFiles.length, 0);
      });

      withStore('deleteJobs removes the jobs with their files and their relations to workers', async (store) => {
        const j = job({ PandaID: 1 });
        j.addInFile(file());
        await store.insertJobs([j, job({ PandaID: 2 })]);
        const w = worker({}, [j]);
        await store.insertWorkers([w]);
        assert.equal(await store.deleteJobs([1, 99]), 1);
        assert.deepEqual(ids(await store.listJobs()), [2]);
        assert.deepEqual(await store.getFiles({ PandaID: 1 }), []);
        assert.deepEqual((await store.getWorker(w.workerID as number)).jobSpecs, []);
      });
    });

    describe('workers', () => {
      withStore('insertWorkers assigns increasing workerIDs that are never reused, relates the jobs, and getWorker attaches them', async (store) => {
        const jobs = [job({ PandaID: 1 }), job({ PandaID: 2 })];
        await store.insertJobs(jobs);
        const w1 = worker({}, jobs);
        const w2 = worker();
        await store.insertWorkers([w1, w2]);
        assert.ok(typeof w1.workerID === 'number' && typeof w2.workerID === 'number' && w2.workerID > w1.workerID);
        assert.deepEqual(w1.pandaid_list, [1, 2]);
        assert.equal(w1.hasChanges(), false);
        const back = await store.getWorker(w1.workerID);
        assert.deepEqual(back.jobSpecs.map((j) => j.PandaID), [1, 2]);
        assert.deepEqual(back.pandaid_list, [1, 2]);
        assert.deepEqual(await store.getWorkerIDsOfJob(1), [w1.workerID]);
        assert.equal(await store.deleteWorkers([w2.workerID]), 1);
        const w3 = worker();
        await store.insertWorkers([w3]);
        assert.ok((w3.workerID as number) > w2.workerID, 'a deleted workerID is not handed out again');
        await assert.rejects(store.getWorker(w2.workerID), StoreRecordNotFoundError);
        assert.deepEqual(ids(await store.listJobs()), [1, 2], 'deleting a worker keeps its jobs');
      });

      withStore('insertWorkers with an unknown job inserts nothing (StoreRecordNotFoundError); a given workerID already stored is StoreDuplicateError', async (store) => {
        await assert.rejects(store.insertWorkers([worker(), worker({}, [job({ PandaID: 5 })])]), (e: unknown) => e instanceof StoreRecordNotFoundError && e.kind === 'job');
        assert.deepEqual(await store.listWorkers(), []);
        await store.insertWorkers([worker({ workerID: 10 })]);
        await assert.rejects(store.insertWorkers([worker({ workerID: 10 })]), StoreDuplicateError);
      });

      withStore('insertWorkers with `jobs` records the workers and their jobs\' new state in one transaction, or neither', async (store) => {
        await store.insertJobs([job({ PandaID: 1, subStatus: 'prepared' }), job({ PandaID: 2, subStatus: 'prepared' })]);
        const lock = { purpose: 'submitter', owner: 'S' } as const;
        const [j1, j2] = await store.claimJobs({ for: 'submitter', owner: 'S', lockIntervalSec: 60, limit: 2, now: T0 });
        assert.ok(j1 !== undefined && j2 !== undefined);
        j1.subStatus = 'submitted';
        await store.insertWorkers([worker({}, [j1])], { jobs: { lock, releaseLock: true, now: at(1) } });
        const back = await store.getJob(1);
        assert.equal(back.subStatus, 'submitted');
        assert.equal(back.lockedBy, null);
        await store.claimJobs({ for: 'submitter', owner: 'other', lockIntervalSec: 60, limit: 1, subStatus: ['prepared'], now: at(120) });
        j2.subStatus = 'submitted';
        await assert.rejects(store.insertWorkers([worker({}, [j2])], { jobs: { lock, releaseLock: true } }), StoreLockLostError);
        assert.equal((await store.listWorkers()).length, 1, 'the worker of the lost job was not inserted');
      });

      withStore('claimWorkers for the monitor takes due workers of the given statuses and queue, with their jobs; one JobSpec per job', async (store) => {
        const shared = job({ PandaID: 1 });
        await store.insertJobs([shared]);
        const workers = [
          worker({}, [shared]), worker({ status: 'running' }, [shared]), worker({ status: 'finished' }),
          worker({ computingSite: 'Q2' }), worker({ modificationTime: at(100) }),
        ];
        await store.insertWorkers(workers);
        const claimed = await store.claimWorkers({ purpose: 'monitor', owner: 'M', lockIntervalSec: 600, checkIntervalSec: 30, limit: 10, statuses: ['submitted', 'running'], queueName: 'Q1', now: at(60) });
        assert.deepEqual(ids(claimed), ids(workers.slice(0, 2)));
        assert.ok(claimed.every((w) => w.lockedBy === 'M' && w.modificationTime?.getTime() === at(60).getTime()));
        assert.equal(claimed[0]?.jobSpecs[0], claimed[1]?.jobSpecs[0], 'both workers hold the same JobSpec object');
        assert.deepEqual(claimed[1]?.pandaid_list, [1]);
        const later = await store.claimWorkers({ purpose: 'monitor', owner: 'M2', lockIntervalSec: 600, checkIntervalSec: 30, limit: 10, queueName: 'Q1', now: at(130) });
        assert.deepEqual(ids(later), ids([workers[2] as WorkSpec, workers[4] as WorkSpec]), 'the rest once due; the claimed stay locked');
      });

      withStore('a worker lock expires after the lock interval, and the monitor and the sweeper never hold a worker at once', async (store) => {
        await store.insertWorkers([worker({ status: 'finished' })]);
        const claim = (purpose: 'monitor' | 'sweeper', owner: string, now: Date) => store.claimWorkers({ purpose, owner, lockIntervalSec: 60, limit: 5, now });
        assert.equal((await claim('monitor', 'M', T0)).length, 1);
        assert.equal((await claim('sweeper', 'W', at(30))).length, 0);
        const swept = await claim('sweeper', 'W', at(61));
        assert.equal(swept[0]?.lockedBy, 'W');
      });

      withStore('the propagator claims triggered workers only, with its own lock, and stamps lastUpdate as harvester does', async (store) => {
        const triggered = worker();
        triggered.triggerPropagation(T0);
        await store.insertWorkers([triggered, worker()]);
        await store.claimWorkers({ purpose: 'monitor', owner: 'M', lockIntervalSec: 600, limit: 5, now: T0 });
        const claim = (owner: string, now: Date) => store.claimWorkers({ purpose: 'propagator', owner, lockIntervalSec: 60, checkIntervalSec: 10, limit: 5, now });
        const got = await claim('P', T0);
        assert.deepEqual(ids(got), [triggered.workerID as number]);
        assert.equal(got[0]?.lastUpdate?.getTime(), T0.getTime());
        assert.equal(got[0]?.lockedBy, 'M', 'the monitor\'s lock is untouched');
        assert.equal((await claim('P2', at(30))).length, 0, 'held by P');
        await store.updateWorkers(got, { lock: { purpose: 'propagator', owner: 'P' }, releaseLock: true, now: at(1) });
        assert.equal((await claim('P2', at(5))).length, 0, 'resting for the check interval');
        assert.equal((await claim('P2', at(11))).length, 1);
      });

      withStore('updateWorkers checks the lock, releases it, and with includeJobs writes the workers\' jobs in the same transaction', async (store) => {
        await store.insertJobs([job({ PandaID: 1 })]);
        await store.insertWorkers([worker({}, [job({ PandaID: 1 })])]);
        const [w] = await store.claimWorkers({ purpose: 'monitor', owner: 'M', lockIntervalSec: 60, limit: 1, now: T0 });
        assert.ok(w !== undefined);
        w.setStatus('running', at(1));
        (w.jobSpecs[0] as JobSpec).status = 'running';
        await assert.rejects(store.updateWorkers([w], { lock: { purpose: 'monitor', owner: 'X' }, includeJobs: true }), StoreLockLostError);
        assert.equal((await store.getJob(1)).status, 'starting', 'the job was not written either');
        await store.updateWorkers([w], { lock: { purpose: 'monitor', owner: 'M' }, releaseLock: true, includeJobs: true, now: at(2) });
        const back = await store.getWorker(w.workerID as number);
        assert.equal(back.status, 'running');
        assert.equal(back.lockedBy, null);
        assert.equal(back.startTime?.getTime(), at(1).getTime());
        assert.equal(back.jobSpecs[0]?.status, 'running');
        await assert.rejects(store.updateWorkers([worker({ workerID: 999 })]), StoreRecordNotFoundError);
      });

      withStore('admin writes without a lock go through whoever holds the worker (workers kill sets killTime)', async (store) => {
        await store.insertWorkers([worker()]);
        const [held] = await store.claimWorkers({ purpose: 'monitor', owner: 'M', lockIntervalSec: 60, limit: 1, now: T0 });
        const admin = await store.getWorker(held?.workerID as number);
        admin.killTime = at(5);
        await store.updateWorkers([admin]);
        const back = await store.getWorker(admin.workerID as number);
        assert.equal(back.killTime?.getTime(), at(5).getTime());
        assert.equal(back.lockedBy, 'M', 'the monitor still holds it');
      });

      withStore('getWorkerStats counts a queue\'s workers by status; getWorkerStatsByQueue counts every queue', async (store) => {
        await store.insertWorkers([
          worker(), worker(), worker({ status: 'running' }), worker({ status: 'finished' }),
          worker({ computingSite: 'Q2', status: 'running' }),
        ]);
        assert.deepEqual(await store.getWorkerStats('Q1'), { finished: 1, running: 1, submitted: 2 });
        assert.deepEqual(await store.getWorkerStats('none'), {});
        const all = await store.getWorkerStatsByQueue();
        assert.deepEqual([...all.keys()], ['Q1', 'Q2']);
        assert.deepEqual(all.get('Q2'), { running: 1 });
      });

      withStore('getLastSubmitTimeByQueue gives each queue its newest worker submitTime; queues with none submitted are absent', async (store) => {
        assert.deepEqual(await store.getLastSubmitTimeByQueue(), new Map());
        await store.insertWorkers([
          worker({ submitTime: at(1) }), worker({ submitTime: at(3) }), worker({ status: 'ready' }),
          worker({ computingSite: 'Q2', submitTime: at(2) }), worker({ computingSite: 'Q3', status: 'ready' }),
        ]);
        const last = await store.getLastSubmitTimeByQueue();
        assert.deepEqual([...last.keys()], ['Q1', 'Q2']);
        assert.equal(last.get('Q1')?.getTime(), at(3).getTime());
        assert.equal(last.get('Q2')?.getTime(), at(2).getTime());
      });

      withStore('getUnseenWorkerCountsByQueue counts, per queue, the workers in the statuses last seen before a time (checkTime, else modificationTime, else submitTime)', async (store) => {
        await store.insertWorkers([
          worker({ status: 'running', checkTime: at(1), modificationTime: at(9) }),
          worker({ status: 'running', checkTime: at(9), modificationTime: at(1) }),
          worker({ status: 'submitted', checkTime: null, modificationTime: at(2) }),
          worker({ status: 'finished', checkTime: at(1) }),
          worker({ computingSite: 'Q2', status: 'idle', checkTime: null, modificationTime: null, submitTime: at(3) }),
          worker({ computingSite: 'Q3', status: 'running', checkTime: at(8) }),
        ]);
        const unseen = await store.getUnseenWorkerCountsByQueue(['submitted', 'running', 'idle'], at(5));
        assert.deepEqual([...unseen], [['Q1', 2], ['Q2', 1]]);
        assert.deepEqual(await store.getUnseenWorkerCountsByQueue([], at(5)), new Map(), 'no status: none');
      });

      withStore('getJobStatsByQueue counts every queue\'s jobs by status', async (store) => {
        await store.insertJobs([job({ PandaID: 1 }), job({ PandaID: 2 }), job({ PandaID: 3, computingSite: 'Q2', status: 'running' })]);
        const all = await store.getJobStatsByQueue();
        assert.deepEqual([...all.keys()], ['Q1', 'Q2']);
        assert.deepEqual(all.get('Q2'), { running: 1 });
        assert.equal(Object.values(all.get('Q1') ?? {}).reduce((a, b) => a + b, 0), 2);
      });

      withStore('listWorkers filters by queue, status and ids, ordered by workerID, with a limit, jobs on request', async (store) => {
        await store.insertJobs([job({ PandaID: 1 })]);
        const ws = [worker({}, [job({ PandaID: 1 })]), worker({ status: 'running' }), worker({ computingSite: 'Q2' })];
        await store.insertWorkers(ws);
        const [a, b, c] = ids(ws) as [number, number, number];
        assert.deepEqual(ids(await store.listWorkers()), [a, b, c]);
        assert.deepEqual(ids(await store.listWorkers({ queueName: 'Q1', status: ['running'] })), [b]);
        assert.deepEqual(ids(await store.listWorkers({ workerIDs: [c, a] })), [a, c]);
        assert.deepEqual(ids(await store.listWorkers({ limit: 1 })), [a]);
        assert.equal((await store.listWorkers({ workerIDs: [a] }))[0]?.jobSpecs.length, 0);
        assert.deepEqual((await store.listWorkers({ workerIDs: [a], withJobs: true }))[0]?.jobSpecs.map((j) => j.PandaID), [1]);
      });

      withStore('relateJobsToWorker binds jobs late, once each; unknown jobs or workers are StoreRecordNotFoundError', async (store) => {
        await store.insertJobs([job({ PandaID: 1 }), job({ PandaID: 2 })]);
        const w = worker();
        await store.insertWorkers([w]);
        const id = w.workerID as number;
        await store.relateJobsToWorker(id, [1, 2]);
        await store.relateJobsToWorker(id, [2]);
        assert.deepEqual((await store.getWorker(id)).pandaid_list, [1, 2]);
        await assert.rejects(store.relateJobsToWorker(id, [3]), StoreRecordNotFoundError);
        await assert.rejects(store.relateJobsToWorker(id + 100, [1]), StoreRecordNotFoundError);
      });

      withStore('claiming 10,000 workers in batches of 1,000 hands out every worker exactly once', async (store) => {
        const many = Array.from({ length: 10_000 }, () => worker({ status: 'running' }));
        await store.insertWorkers(many);
        const seen = new Set<number>();
        for (let batch = 0; batch < 11; batch++) {
          const claimed = await store.claimWorkers({ purpose: 'monitor', owner: `M${batch % 2}`, lockIntervalSec: 600, limit: 1000, statuses: ['running'], now: T0 });
          for (const w of claimed) {
            assert.ok(!seen.has(w.workerID as number), `worker ${w.workerID} claimed twice`);
            seen.add(w.workerID as number);
          }
        }
        assert.equal(seen.size, 10_000);
      }, { timeout: 120_000 });
    });

    describe('worker claims for the submitter, kills and cleanup', () => {
      withStore('the submitter re-claims workers a crashed submitter left ready, once its lock expired, and shares the lock with the monitor', async (store) => {
        const ready = worker({ status: 'ready' });
        await store.insertWorkers([ready, worker({ status: 'submitted' })]);
        const claim = (purpose: 'submitter' | 'monitor', owner: string, now: Date) =>
          store.claimWorkers({ purpose, owner, lockIntervalSec: 60, limit: 5, statuses: ['ready'], now });
        const first = await claim('submitter', 'crashed', T0);
        assert.deepEqual(ids(first), [ready.workerID as number]);
        assert.equal(first[0]?.lockedBy, 'crashed');
        assert.equal((await claim('submitter', 'S2', at(30))).length, 0, 'held by the crashed submitter within the lock interval');
        assert.equal((await claim('monitor', 'M', at(30))).length, 0, 'the monitor respects the submitter\'s lock');
        const again = await claim('submitter', 'S2', at(61));
        assert.deepEqual(ids(again), [ready.workerID as number]);
        assert.equal(again[0]?.lockedBy, 'S2');
        await store.updateWorkers(again, { lock: { purpose: 'submitter', owner: 'S2' }, releaseLock: true, now: at(62) });
        assert.equal((await store.getWorker(ready.workerID as number)).lockedBy, null);
        await assert.rejects(store.updateWorkers(first, { lock: { purpose: 'submitter', owner: 'crashed' } }), StoreLockLostError);
      });

      withStore('killRequested claims only workers whose killTime is set and not later than now', async (store) => {
        const killedEarlier = worker({ killTime: at(-10) });
        const killedNow = worker({ killTime: at(0) });
        const killLater = worker({ killTime: at(100) });
        const notKilled = worker();
        await store.insertWorkers([killedEarlier, killedNow, killLater, notKilled]);
        const claim = (now: Date, killRequested?: boolean) =>
          store.claimWorkers({ purpose: 'sweeper', owner: `K${now.getTime()}`, lockIntervalSec: 600, limit: 10, killRequested, now });
        assert.deepEqual(sorted(ids(await claim(T0, true))), sorted(ids([killedEarlier, killedNow])));
        assert.deepEqual(ids(await claim(at(200), true)), ids([killLater]), 'due once its kill time has come');
        assert.deepEqual(ids(await claim(at(300), false)), ids([notKilled]), 'false filters nothing: the only one left');
      });

      withStore('endedBefore claims only workers whose endTime is set and earlier than the given time', async (store) => {
        const endedLongAgo = worker({ status: 'finished', endTime: at(-7200) });
        const endedAtCut = worker({ status: 'finished', endTime: at(-3600) });
        const endedRecently = worker({ status: 'failed', endTime: at(-60) });
        const running = worker({ status: 'running' });
        await store.insertWorkers([endedLongAgo, endedAtCut, endedRecently, running]);
        const swept = await store.claimWorkers({ purpose: 'sweeper', owner: 'W', lockIntervalSec: 600, limit: 10, endedBefore: at(-3600), now: T0 });
        assert.deepEqual(ids(swept), ids([endedLongAgo]), 'strictly earlier, and a worker without endTime never');
        await assert.rejects(store.claimWorkers({ purpose: 'sweeper', owner: 'W', lockIntervalSec: 600, limit: 10, endedBefore: new Date(Number.NaN) }), StoreArgumentError);
      });
    });

    describe('embedded job queue', () => {
      const entry = (queueName: string, fields: Partial<NewQueuedJob> = {}): NewQueuedJob => ({ queueName, jobParams: { transformation: 'run.sh' }, ...fields });

      withStore('enqueueJobs gives increasing PandaIDs in order, and listQueuedJobs shows the entries as given, not yet taken', async (store) => {
        const before = Date.now();
        const given = [
          entry('Q1', { jobParams: { command: 'echo 1', nested: { a: [1, 2] } }, taskID: 7, currentPriority: 100, nCore: 4 }),
          entry('Q1'),
          entry('Q2', { jobParams: { command: 'echo 3' } }),
        ];
        const PandaIDs = await store.enqueueJobs(given);
        assert.equal(PandaIDs.length, 3);
        assert.deepEqual(PandaIDs, sorted(PandaIDs));
        assert.equal(new Set(PandaIDs).size, 3);
        const listed = await store.listQueuedJobs();
        assert.deepEqual(listed.map((q) => q.PandaID), PandaIDs);
        assert.deepEqual(listed.map((q) => [q.queueName, q.jobParams, q.taskID, q.currentPriority, q.nCore, q.takenTime]), [
          ['Q1', { command: 'echo 1', nested: { a: [1, 2] } }, 7, 100, 4, null],
          ['Q1', { transformation: 'run.sh' }, null, null, null, null],
          ['Q2', { command: 'echo 3' }, null, null, null, null],
        ]);
        assert.ok(listed.every((q) => q.creationTime.getTime() >= before && q.creationTime.getTime() <= Date.now()));
        assert.deepEqual((await store.listQueuedJobs({ queueName: 'Q2' })).map((q) => q.PandaID), [PandaIDs[2]]);
        assert.deepEqual((await store.listQueuedJobs({ limit: 1 })).map((q) => q.PandaID), [PandaIDs[0]]);
        assert.deepEqual(await store.enqueueJobs([]), []);
      });

      withStore('queued PandaIDs never collide with ids insertJobs assigns, and are never reused after a job is deleted', async (store) => {
        const [first] = await store.enqueueJobs([entry('Q1')]);
        const unnumbered = job();
        await store.insertJobs([unnumbered]);
        assert.ok((unnumbered.PandaID as number) > (first as number), 'insertJobs draws on the same sequence');
        const [second] = await store.enqueueJobs([entry('Q1')]);
        assert.ok((second as number) > (unnumbered.PandaID as number));
        await store.insertJobs([job({ PandaID: 5000 })]);
        assert.equal(await store.deleteJobs([5000, unnumbered.PandaID as number]), 2);
        const [third] = await store.enqueueJobs([entry('Q1')]);
        assert.ok((third as number) > 5000, 'past a job inserted with its own id, even once it is deleted');
        const late = job();
        await store.insertJobs([late]);
        assert.ok((late.PandaID as number) > (third as number));
        assert.deepEqual((await store.listQueuedJobs()).map((q) => q.PandaID), [first, second, third]);
      });

      withStore('enqueueJobs refuses a bad entry with StoreValueError naming it, and queues none of the batch', async (store) => {
        await assert.rejects(store.enqueueJobs([entry('Q1'), entry('Q1', { nCore: 1.5 })]), (e: unknown) => e instanceof StoreValueError && e.field === 'entries[1].nCore');
        await assert.rejects(store.enqueueJobs([entry('')]), (e: unknown) => e instanceof StoreValueError && e.field === 'entries[0].queueName');
        await assert.rejects(store.enqueueJobs([{ queueName: 'Q1', jobParams: [] as never }]), (e: unknown) => e instanceof StoreValueError && e.field === 'entries[0].jobParams');
        assert.deepEqual(await store.listQueuedJobs(), []);
      });

      withStore('takeQueuedJobs hands out one queue\'s entries by priority (highest first, none last), then age, up to the limit', async (store) => {
        const [low, none, high, otherQueue, alsoHigh] = await store.enqueueJobs([
          entry('Q1', { currentPriority: 10 }), entry('Q1'), entry('Q1', { currentPriority: 500 }),
          entry('Q2', { currentPriority: 9999 }), entry('Q1', { currentPriority: 500 }),
        ]);
        const got = await store.takeQueuedJobs({ queueName: 'Q1', limit: 3, owner: 'node1', lockIntervalSec: 600, now: T0 });
        assert.deepEqual(got.map((q) => q.PandaID), [high, alsoHigh, low]);
        assert.ok(got.every((q) => q.takenTime?.getTime() === T0.getTime() && q.queueName === 'Q1'));
        assert.deepEqual((await store.takeQueuedJobs({ queueName: 'Q1', limit: 3, owner: 'node2', lockIntervalSec: 600, now: at(1) })).map((q) => q.PandaID), [none]);
        assert.deepEqual(await store.takeQueuedJobs({ queueName: 'Q1', limit: 3, owner: 'node2', lockIntervalSec: 600, now: at(2) }), []);
        assert.deepEqual((await store.listQueuedJobs({ queueName: 'Q2' })).map((q) => [q.PandaID, q.takenTime]), [[otherQueue, null]]);
        const listed = await store.listQueuedJobs({ queueName: 'Q1' });
        assert.equal(listed.length, 4, 'taken entries stay listed until their jobs are stored');
        assert.ok(listed.every((q) => q.takenTime !== null));
      });

      withStore('an entry taken by a fetcher that died before storing its job is handed out again after the lock interval, and never once its job is stored', async (store) => {
        const [crashed, stored] = await store.enqueueJobs([entry('Q1'), entry('Q1')]);
        const take = (owner: string, now: Date) => store.takeQueuedJobs({ queueName: 'Q1', limit: 10, owner, lockIntervalSec: 60, now });
        assert.deepEqual((await take('dead', T0)).map((q) => q.PandaID), [crashed, stored]);
        await store.insertJobs([job({ PandaID: stored })]);
        assert.deepEqual(await take('alive', at(59)), [], 'withheld within the lock interval');
        const again = await take('alive', at(60));
        assert.deepEqual(again.map((q) => q.PandaID), [crashed], 'the stored one is never handed out again');
        assert.equal(again[0]?.takenTime?.getTime(), at(60).getTime());
        await store.insertJobs([job({ PandaID: crashed })]);
        assert.deepEqual(await store.listQueuedJobs(), []);
        await store.deleteJobs([crashed as number, stored as number]);
        assert.deepEqual(await take('alive', at(1000)), [], 'a deleted job does not put its entry back in the queue');
        assert.deepEqual(await store.listQueuedJobs(), []);
      });

      withStore('insertJobs of a taken entry fails as a duplicate when another fetcher stored it first, and the entry stays out of the queue', async (store) => {
        const [id] = await store.enqueueJobs([entry('Q1')]);
        await store.takeQueuedJobs({ queueName: 'Q1', limit: 1, owner: 'slow', lockIntervalSec: 60, now: T0 });
        await store.takeQueuedJobs({ queueName: 'Q1', limit: 1, owner: 'fast', lockIntervalSec: 60, now: at(61) });
        await store.insertJobs([job({ PandaID: id })]);
        await assert.rejects(store.insertJobs([job({ PandaID: id })]), StoreDuplicateError);
        assert.deepEqual(await store.listQueuedJobs(), []);
      });

      withStore('takeQueuedJobs refuses a limit below 1, an empty owner or queue name with StoreArgumentError', async (store) => {
        const base = { queueName: 'Q1', limit: 1, owner: 'n', lockIntervalSec: 60 };
        await assert.rejects(store.takeQueuedJobs({ ...base, limit: 0 }), StoreArgumentError);
        await assert.rejects(store.takeQueuedJobs({ ...base, owner: '' }), StoreArgumentError);
        await assert.rejects(store.takeQueuedJobs({ ...base, queueName: '' }), StoreArgumentError);
        await assert.rejects(store.listQueuedJobs({ limit: -1 }), StoreArgumentError);
      });

      withStore('fetchers taking, storing and crashing in any order never get an entry another holds within the lock interval, and every entry is stored once', async (store) => {
        const lockIntervalSec = 60;
        const step = fc.record({
          fetcher: fc.constantFrom('A', 'B', 'C'),
          action: fc.constantFrom('take', 'take', 'store', 'crash'),
          limit: fc.integer({ min: 1, max: 5 }),
          advanceSec: fc.integer({ min: 0, max: 45 }),
        });
        let run = 0;
        await fc.assert(
          fc.asyncProperty(fc.integer({ min: 1, max: 12 }), fc.array(step, { maxLength: 30 }), async (n, steps) => {
            const queueName = `P${run++}`;
            const PandaIDs = await store.enqueueJobs(Array.from({ length: n }, (_, i) => entry(queueName, { jobParams: { i } })));
            let t = 0;
            const held = new Map<string, number[]>();
            const handedOutAt = new Map<number, number>();
            const stored = new Set<number>();
            const storeJobs = async (PandaIDsToStore: readonly number[]) => {
              const fresh = [...new Set(PandaIDsToStore)].filter((id) => !stored.has(id));
              await store.insertJobs(fresh.map((id) => job({ PandaID: id, computingSite: queueName })));
              for (const id of fresh) stored.add(id);
            };
            const available = () => PandaIDs.filter((id) => !stored.has(id) && (handedOutAt.get(id) ?? -Infinity) <= t - lockIntervalSec).length;
            for (const s of steps) {
              t += s.advanceSec;
              if (s.action === 'take') {
                const expected = Math.min(s.limit, available());
                const got = await store.takeQueuedJobs({ queueName, limit: s.limit, owner: s.fetcher, lockIntervalSec, now: at(t) });
                assert.equal(got.length, expected, 'every available entry up to the limit');
                for (const q of got) {
                  assert.ok(!stored.has(q.PandaID), `entry ${q.PandaID} handed out after its job was stored`);
                  const last = handedOutAt.get(q.PandaID);
                  assert.ok(last === undefined || t - last >= lockIntervalSec, `entry ${q.PandaID} handed out again ${t - (last ?? 0)} s after`);
                  handedOutAt.set(q.PandaID, t);
                }
                held.set(s.fetcher, [...(held.get(s.fetcher) ?? []), ...got.map((q) => q.PandaID)]);
              } else if (s.action === 'store') {
                await storeJobs(held.get(s.fetcher) ?? []);
                held.delete(s.fetcher);
              } else {
                held.delete(s.fetcher);
              }
            }
            // The survivors: after the lock interval, whatever is left comes back and is stored.
            t += lockIntervalSec;
            await storeJobs((await store.takeQueuedJobs({ queueName, limit: n, owner: 'Z', lockIntervalSec, now: at(t) })).map((q) => q.PandaID));
            assert.equal(stored.size, n);
            assert.deepEqual(await store.listQueuedJobs({ queueName }), []);
            assert.deepEqual(sorted(ids(await store.listJobs({ queueName }))), sorted(PandaIDs));
          }),
          { numRuns: 60 },
        );
      });
    });

    describe('dialog messages', () => {
      const message = (n: number, fields: Partial<NewDialogMessage> = {}): NewDialogMessage => ({
        moduleName: 'monitor',
        identifier: `workerID=${n}`,
        messageLevel: 'WARNING',
        diagMessage: `warning ${n}`,
        creationTime: at(n),
        ...fields,
      });
      const claim = (store: Store, owner: string, now: Date, limit = 10) => store.claimDialogMessages({ owner, lockIntervalSec: 60, limit, now });

      withStore('claimDialogMessages hands out stored messages oldest first, each to one owner until its lock expires', async (store) => {
        await store.addDialogMessages([message(1), message(2, { identifier: null, messageLevel: 'ERROR' })], { keep: 100 });
        await store.addDialogMessages([message(3)], { keep: 100 });
        const first = await claim(store, 'A', T0, 2);
        assert.deepEqual(
          first.map(({ diagID: _id, ...rest }) => rest),
          [message(1), message(2, { identifier: null, messageLevel: 'ERROR' })],
        );
        assert.ok(first[0]!.diagID < first[1]!.diagID);
        assert.deepEqual((await claim(store, 'B', at(1))).map((m) => m.diagMessage), ['warning 3'], 'A\'s messages are not handed out again');
        assert.deepEqual((await claim(store, 'B', at(61))).map((m) => m.diagMessage), ['warning 1', 'warning 2'], 'A\'s lock expired: its send failed');
      });

      withStore('deleteDialogMessages removes sent messages only', async (store) => {
        await store.addDialogMessages([message(1), message(2)], { keep: 100 });
        const [sent] = await claim(store, 'A', T0, 1);
        assert.equal(await store.deleteDialogMessages([sent!.diagID, 999_999]), 1);
        assert.deepEqual((await claim(store, 'B', at(120))).map((m) => m.diagMessage), ['warning 2']);
        assert.equal(await store.deleteDialogMessages([]), 0);
      });

      withStore('addDialogMessages keeps only the newest `keep` messages and cuts long texts to their column sizes', async (store) => {
        await store.addDialogMessages([1, 2, 3].map((n) => message(n)), { keep: 4 });
        await store.addDialogMessages([4, 5, 6].map((n) => message(n)), { keep: 4 });
        await store.addDialogMessages([message(7, { identifier: 'i'.repeat(150), diagMessage: 'm'.repeat(600) })], { keep: 4 });
        const kept = await claim(store, 'A', T0);
        assert.deepEqual(kept.map((m) => m.creationTime), [4, 5, 6, 7].map(at));
        assert.equal(kept[3]!.identifier, 'i'.repeat(100));
        assert.equal(kept[3]!.diagMessage, 'm'.repeat(500));
        await assert.rejects(store.addDialogMessages([message(8)], { keep: 0 }), StoreArgumentError);
        await assert.rejects(store.claimDialogMessages({ owner: '', lockIntervalSec: 60, limit: 1 }), StoreArgumentError);
      });
    });

    describe('files, queues and locks', () => {
      withStore('getFiles filters by job, type and status; saveFiles inserts new files and writes changed ones', async (store) => {
        const j = job({ PandaID: 1 });
        j.addInFile(file({ lfn: 'a' }));
        j.addOutFile(file({ lfn: 'b', fileType: 'output', status: 'defined' }));
        await store.insertJobs([j, job({ PandaID: 2 })]);
        assert.deepEqual((await store.getFiles({ PandaID: 1 })).map((f) => f.lfn), ['a', 'b']);
        assert.deepEqual((await store.getFiles({ fileType: ['output'] })).map((f) => f.lfn), ['b']);
        const [b] = await store.getFiles({ status: ['defined'] });
        assert.ok(b !== undefined);
        b.status = 'transferring';
        const extra = file({ lfn: 'c', PandaID: 2, fileType: 'log', status: 'defined' });
        await store.saveFiles([b, extra]);
        assert.equal(typeof extra.fileID, 'number');
        assert.deepEqual((await store.getFiles({ status: ['transferring', 'defined'] })).map((f) => [f.lfn, f.status]), [['b', 'transferring'], ['c', 'defined']]);
        assert.deepEqual((await store.getFiles({ PandaID: 1, limit: 1 })).map((f) => f.lfn), ['a']);
        await assert.rejects(store.saveFiles([file({ PandaID: 77 })]), StoreRecordNotFoundError);
        await assert.rejects(store.saveFiles([file()]), StoreValueError, 'a new file must name its job');
      });

      withStore('claimQueues lets one owner at a time submit for a queue, until release or lock expiry', async (store) => {
        const claim = (owner: string, now: Date, queueNames = ['Q1', 'Q2']) => store.claimQueues({ queueNames, owner, lockIntervalSec: 60, checkIntervalSec: 10, now });
        assert.deepEqual(await claim('A', T0, ['Q1']), ['Q1']);
        assert.deepEqual(await claim('B', at(1)), ['Q2']);
        await store.releaseQueues(['Q1', 'Q2'], 'A');
        assert.deepEqual(await claim('C', at(5)), [], 'Q1 rests for the check interval, Q2 is still B\'s');
        assert.deepEqual(await claim('C', at(11)), ['Q1']);
        assert.deepEqual(await claim('D', at(62)), ['Q2'], 'B\'s lock expired');
      });

      withStore('releaseLocks clears every lock of one owner on jobs, workers and queues, and only that owner\'s', async (store) => {
        const triggered = job({ PandaID: 1 });
        triggered.triggerPropagation(T0);
        await store.insertJobs([triggered, job({ PandaID: 2 })]);
        await store.insertWorkers([worker(), worker()]);
        await store.claimJobs({ for: 'preparator', owner: 'A', lockIntervalSec: 600, limit: 1, now: T0 });
        await store.claimJobs({ for: 'propagator', owner: 'A', lockIntervalSec: 600, limit: 1, now: T0 });
        await store.claimJobs({ for: 'preparator', owner: 'B', lockIntervalSec: 600, limit: 1, now: T0 });
        await store.claimWorkers({ purpose: 'monitor', owner: 'A', lockIntervalSec: 600, limit: 1, now: T0 });
        await store.claimQueues({ queueNames: ['Q1'], owner: 'A', lockIntervalSec: 600, now: T0 });
        assert.deepEqual(await store.releaseLocks('A'), { jobs: 1, workers: 1, queues: 1 });
        const jobs = await store.getJobs([1, 2]);
        assert.deepEqual(jobs.map((j) => [j.lockedBy, j.propagatorLock]), [[null, null], ['B', null]]);
        assert.equal((await store.claimWorkers({ purpose: 'monitor', owner: 'C', lockIntervalSec: 600, limit: 5, now: at(1) })).length, 2);
        assert.deepEqual(await store.claimQueues({ queueNames: ['Q1'], owner: 'C', lockIntervalSec: 600, now: at(1) }), ['Q1']);
      });

      withStore('renewLocks keeps every lock of one owner from expiring (jobs of every purpose, workers, queues), and only that owner\'s', async (store) => {
        const held = job({ PandaID: 1, status: 'running', subStatus: 'to_transfer' });
        held.triggerPropagation(T0);
        await store.insertJobs([held, job({ PandaID: 2 })]);
        await store.insertWorkers([worker({ lastUpdate: T0 })]);
        const byA = { owner: 'A', lockIntervalSec: 60, limit: 1, now: T0, status: ['running'] } as const;
        assert.deepEqual(ids(await store.claimJobs({ ...byA, for: 'preparator' })), [1]);
        assert.deepEqual(ids(await store.claimJobs({ ...byA, for: 'stager' })), [1]);
        assert.deepEqual(ids(await store.claimJobs({ ...byA, for: 'propagator' })), [1]);
        assert.deepEqual(ids(await store.claimJobs({ ...byA, owner: 'B', status: ['starting'], for: 'preparator' })), [2]);
        const workerByA = { owner: 'A', lockIntervalSec: 60, limit: 1, now: T0 } as const;
        assert.equal((await store.claimWorkers({ ...workerByA, purpose: 'monitor' })).length, 1);
        assert.equal((await store.claimWorkers({ ...workerByA, purpose: 'propagator' })).length, 1);
        assert.deepEqual(await store.claimQueues({ queueNames: ['Q1'], owner: 'A', lockIntervalSec: 60, now: T0 }), ['Q1']);

        assert.deepEqual(await store.renewLocks('A', at(50)), { jobs: 1, workers: 1, queues: 1 });

        // 70 s after the claims, 20 s after the renewal: A's locks hold against a lock interval of 60 s, B's does not.
        const byC = { owner: 'C', lockIntervalSec: 60, limit: 5, now: at(70) } as const;
        assert.deepEqual(ids(await store.claimJobs({ ...byC, for: 'preparator' })), [2], "only B's job is taken over");
        assert.deepEqual(await store.claimJobs({ ...byC, status: ['running'], for: 'stager' }), []);
        assert.deepEqual(await store.claimJobs({ ...byC, for: 'propagator' }), []);
        assert.deepEqual(await store.claimWorkers({ ...byC, purpose: 'monitor' }), []);
        assert.deepEqual(await store.claimWorkers({ ...byC, purpose: 'propagator' }), []);
        assert.deepEqual(await store.claimQueues({ queueNames: ['Q1'], owner: 'C', lockIntervalSec: 60, now: at(70) }), []);
        const [renewed] = await store.getJobs([1]);
        assert.deepEqual([renewed!.lockedBy, renewed!.stagerLock, renewed!.propagatorLock], ['A', 'A', 'A']);

        // Not renewed again, they expire as usual; an owner holding nothing renews nothing.
        assert.deepEqual(ids(await store.claimJobs({ ...byC, now: at(111), status: ['running'], for: 'stager' })), [1]);
        assert.deepEqual(await store.renewLocks('nobody', at(111)), { jobs: 0, workers: 0, queues: 0 });
      });

      test('close is safe to call twice, and a closed store refuses calls with StoreClosedError', async () => {
        const store = await open();
        await store.close();
        await store.close();
        await assert.rejects(store.listJobs(), StoreClosedError);
        await assert.rejects(store.claimWorkers({ purpose: 'monitor', owner: 'M', lockIntervalSec: 1, limit: 1 }), StoreClosedError);
      });
    });

    describe('round trip of every column', () => {
      withStore('a WorkSpec comes back with every column as written', async (store) => {
        await fc.assert(
          fc.asyncProperty(storableSpec(() => new WorkSpec(), ['workerID']), async (spec) => {
            const expected = columnsOf(spec);
            await store.insertWorkers([spec]);
            const back = await store.getWorker(spec.workerID as number);
            const withId = expected as { fields: Record<string, unknown> };
            withId.fields['workerID'] = spec.workerID;
            assert.deepEqual(columnsOf(back), withId);
          }),
          { numRuns: 60 },
        );
      });

      withStore('a JobSpec and its FileSpecs come back with every column as written', async (store) => {
        let next = 1;
        await fc.assert(
          fc.asyncProperty(storableSpec(() => new JobSpec(), ['PandaID']), fc.array(storableSpec(() => new FileSpec(), ['fileID', 'PandaID']), { maxLength: 3 }), async (spec, files) => {
            spec.PandaID = next++;
            for (const f of files) spec.addFile(f);
            spec.resetChanges();
            const expected = columnsOf(spec);
            await store.insertJobs([spec]);
            const back = await store.getJob(spec.PandaID);
            assert.deepEqual(columnsOf(back), expected);
            const backFiles = [...back.inFiles, ...back.outFiles].sort((a, b) => (a.fileID as number) - (b.fileID as number));
            const written = [...files].sort((a, b) => (a.fileID as number) - (b.fileID as number));
            assert.deepEqual(backFiles.map(columnsOf), written.map(columnsOf));
          }),
          { numRuns: 60 },
        );
      });
    });
  });
}
