import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { WorkSpec } from '../../../spec/index.js';
import { baseState } from './slurm-parse.js';
import { slurmStateMeaning, slurmStates } from './slurm-states.js';
import { harvesterTag, jobIDOf, jobNameOf } from './slurm-identity.js';
import { slurmFailureKind } from './slurm-messages.js';

describe('SLURM job states', () => {
  test('every SLURM 22.05 job state maps to a worker status; where harvester differs the table says why', () => {
    const expected: Record<string, [ours: string, harvester: string]> = {
      PENDING: ['submitted', 'submitted'],
      CONFIGURING: ['submitted', 'submitted'],
      REQUEUED: ['submitted', 'failed'],
      REQUEUE_HOLD: ['submitted', 'failed'],
      REQUEUE_FED: ['submitted', 'failed'],
      RESV_DEL_HOLD: ['submitted', 'failed'],
      RUNNING: ['running', 'running'],
      COMPLETING: ['running', 'running'],
      SUSPENDED: ['running', 'running'],
      STOPPED: ['running', 'running'],
      SIGNALING: ['running', 'failed'],
      STAGE_OUT: ['running', 'failed'],
      RESIZING: ['running', 'failed'],
      COMPLETED: ['finished', 'finished'],
      FAILED: ['failed', 'failed'],
      TIMEOUT: ['failed', 'finished'],
      PREEMPTED: ['failed', 'finished'],
      NODE_FAIL: ['failed', 'failed'],
      BOOT_FAIL: ['failed', 'failed'],
      OUT_OF_MEMORY: ['failed', 'failed'],
      DEADLINE: ['failed', 'failed'],
      SPECIAL_EXIT: ['failed', 'failed'],
      CANCELLED: ['cancelled', 'cancelled'],
      REVOKED: ['cancelled', 'failed'],
    };
    assert.deepEqual(Object.keys(slurmStates).sort(), Object.keys(expected).sort());
    for (const [state, [ours, harvester]] of Object.entries(expected)) {
      const meaning = slurmStateMeaning(state)!;
      assert.deepEqual([meaning.status, meaning.harvester], [ours, harvester], state);
      assert.equal(meaning.ended, WorkSpec.prototype.isFinalStatus.call(new WorkSpec(), meaning.status), `${state}: ended iff final`);
      if (ours !== harvester) assert.ok(meaning.why !== undefined, `${state} says why it differs from harvester`);
    }
    assert.equal(slurmStateMeaning('toString'), undefined);
  });

  test('states as SLURM prints them: "CANCELLED by 1001" and a truncated "CANCELLED+" are CANCELLED', () => {
    assert.equal(baseState('CANCELLED by 1001'), 'CANCELLED');
    assert.equal(baseState('CANCELLED+'), 'CANCELLED');
    assert.equal(baseState('running'), 'RUNNING');
  });
});

describe('SLURM job identity', () => {
  test('job names are hv-<harvesterID>-w<workerID>; an id unfit for --name lists is cut and hashed, still unique', () => {
    assert.equal(jobNameOf('testid', 2), 'hv-testid-w2');
    assert.equal(jobNameOf('harvester-ts-login1', 17), 'hv-harvester-ts-login1-w17');
    const odd = harvesterTag('site a,b|c');
    assert.match(odd, /^site_a_b_c\.[0-9a-f]{8}$/);
    assert.notEqual(harvesterTag('site a,b|d'), odd);
    assert.ok(harvesterTag('x'.repeat(60)).length <= 24);
  });

  test('a batchID with a cluster suffix (sbatch --parsable on a multi-cluster setup) is its job id', () => {
    assert.equal(jobIDOf(new WorkSpec({ batchID: '12;cluster1' })), '12');
    assert.equal(jobIDOf(new WorkSpec({ batchID: null })), undefined);
  });
});

describe("SLURM's error messages", () => {
  test('controller down, munge, accounting off and refusals are told apart', () => {
    assert.equal(slurmFailureKind('slurm_load_jobs error: Unable to contact slurm controller (connect failure)'), 'unreachable');
    assert.equal(slurmFailureKind('sbatch: error: Batch job submission failed: Socket timed out on send/recv operation'), 'unreachable');
    assert.equal(slurmFailureKind('squeue: error: Zero Bytes were transmitted or received'), 'unreachable');
    assert.equal(slurmFailureKind('sacct: error: Problem talking to the database: Connection refused'), 'unreachable');
    assert.equal(slurmFailureKind('squeue: error: Munge decode failed: Expired credential'), 'authentication');
    assert.equal(slurmFailureKind('sbatch: error: Invalid user id / Protocol authentication error'), 'authentication');
    assert.equal(slurmFailureKind('Slurm accounting storage is disabled'), 'accounting-disabled');
    assert.equal(slurmFailureKind('sbatch: error: Batch job submission failed: Invalid partition name specified'), 'refused');
  });
});
