import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mapTypes, type MapType } from '../config/index.js';
import {
  chunkJobsForWorkers,
  jobsNeededFor,
  jobsPerWorker,
  normalizeMapType,
  UnknownMapTypeError,
  workersPerJob,
} from './map-types.js';

const jobs = (...taskIDs: number[]) => taskIDs.map((taskID, i) => ({ PandaID: i + 1, taskID }));
const ids = (chunks: { PandaID: number }[][]) => chunks.map((c) => c.map((j) => j.PandaID));

describe('map types', () => {
  test("harvester's WorkSpec spellings map to ours", () => {
    assert.equal(normalizeMapType('MultiJobs'), 'ManyToOne');
    assert.equal(normalizeMapType('MultiWorkers'), 'OneToMany');
    for (const m of mapTypes) assert.equal(normalizeMapType(m), m);
    assert.throws(() => normalizeMapType('ManyToMany'), UnknownMapTypeError);
  });

  test('jobs per worker and workers per job follow the map type', () => {
    assert.deepEqual([jobsPerWorker('NoJob'), workersPerJob('NoJob')], [0, 0]);
    assert.deepEqual([jobsPerWorker('OneToOne'), workersPerJob('OneToOne')], [1, 1]);
    assert.deepEqual([jobsPerWorker('ManyToOne', { nJobsPerWorker: 4 }), workersPerJob('ManyToOne', { nJobsPerWorker: 4 })], [4, 1]);
    assert.deepEqual([jobsPerWorker('OneToMany', { nWorkersPerJob: 3 }), workersPerJob('OneToMany', { nWorkersPerJob: 3 })], [1, 3]);
    assert.throws(() => jobsPerWorker('ManyToOne', { nJobsPerWorker: 0 }), RangeError);
  });

  test('jobs needed for n workers', () => {
    assert.equal(jobsNeededFor('NoJob', 5), 0);
    assert.equal(jobsNeededFor('OneToOne', 5), 5);
    assert.equal(jobsNeededFor('ManyToOne', 5, { nJobsPerWorker: 3 }), 15);
    assert.equal(jobsNeededFor('OneToMany', 5, { nWorkersPerJob: 2 }), 3);
  });

  test('NoJob makes no job lists; OneToOne one job per worker, up to n workers', () => {
    assert.deepEqual(chunkJobsForWorkers('NoJob', jobs(1, 1), 3), []);
    assert.deepEqual(ids(chunkJobsForWorkers('OneToOne', jobs(1, 2, 3), 2)), [[1], [2]]);
  });

  test('ManyToOne makes full chunks within a task and leaves a partial chunk for later', () => {
    assert.deepEqual(ids(chunkJobsForWorkers('ManyToOne', jobs(7, 7, 7, 7, 7), 5, { nJobsPerWorker: 2 })), [[1, 2], [3, 4]]);
    // The task changes after one job: that job is dropped, as harvester cuts chunks at task boundaries.
    assert.deepEqual(ids(chunkJobsForWorkers('ManyToOne', jobs(7, 8, 8), 5, { nJobsPerWorker: 2 })), [[2, 3]]);
    assert.deepEqual(ids(chunkJobsForWorkers('ManyToOne', jobs(7, 8, 8, 9), 5, { nJobsPerWorker: 2, allowJobMixture: true })), [[1, 2], [3, 4]]);
  });

  test('OneToMany gives each job nWorkersPerJob workers, up to n workers', () => {
    const chunks = chunkJobsForWorkers('OneToMany', jobs(1, 1), 3, { nWorkersPerJob: 2 });
    assert.deepEqual(ids(chunks), [[1], [1], [2]]);
    assert.equal(chunks[0], chunks[1], 'the workers of one job share its job list');
  });

  test('chunks never exceed n workers nor the per-worker size, and never repeat a job across chunks except OneToMany', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<MapType>(...mapTypes),
        fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 30 }),
        fc.integer({ min: 0, max: 10 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.boolean(),
        (mapType, taskIDs, nWorkers, nJobsPerWorker, nWorkersPerJob, allowJobMixture) => {
          const input = jobs(...taskIDs);
          const chunks = chunkJobsForWorkers(mapType, input, nWorkers, { nJobsPerWorker, nWorkersPerJob, allowJobMixture });
          assert.ok(chunks.length <= nWorkers);
          const per = jobsPerWorker(mapType, { nJobsPerWorker });
          for (const chunk of chunks) {
            assert.equal(chunk.length, per);
            if (!allowJobMixture) assert.equal(new Set(chunk.map((j) => j.taskID)).size, 1);
          }
          if (mapType !== 'OneToMany') {
            const all = chunks.flat().map((j) => j.PandaID);
            assert.equal(new Set(all).size, all.length);
          }
        },
      ),
    );
  });
});
