// The command manager over a real SqliteStore and a recording source that has harvester commands.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { JobSourceError, type HarvesterCommands } from '../communicator/index.js';
import { WorkSpec, type WorkerStatus } from '../spec/index.js';
import { CommandManager } from './command-manager.js';
import { jobSideEnv, RecordingJobSource } from '../../test/support/agents/job-side-fixtures.js';

class CommandSource extends RecordingJobSource implements HarvesterCommands {
  readonly heartbeats: Record<string, unknown>[] = [];
  readonly acknowledged: number[][] = [];
  pending: Record<string, unknown>[] = [];
  down = false;

  override async isAlive(keyValues: Readonly<Record<string, unknown>> = {}): Promise<string> {
    if (this.down) throw new JobSourceError('harvester/heartbeat', 'PanDA unreachable');
    this.heartbeats.push({ ...keyValues });
    return 'succeeded';
  }

  async getCommands(n: number): Promise<Record<string, unknown>[]> {
    return this.pending.splice(0, n);
  }

  async ackCommands(ids: readonly number[]): Promise<void> {
    this.acknowledged.push([...ids]);
  }
}

describe('CommandManager', () => {
  test('sends the heartbeat (the start time first), kills the workers KILL_WORKERS selects, acknowledges every command', async () => {
    const t = await jobSideEnv();
    try {
      const source = new CommandSource();
      const queue = t.env.queues[0]!;
      const worker = (status: WorkerStatus, computingElement: string): WorkSpec => new WorkSpec({ queueName: queue.queueName, computingSite: queue.queueName, status, computingElement });
      await t.store.insertWorkers([worker('running', 'ce1'), worker('submitted', 'ce1'), worker('running', 'ce2'), worker('finished', 'ce1')]);
      source.pending = [
        { command_id: 7, command: 'KILL_WORKERS', params: { status: ['running', 'finished'], computingSite: [queue.siteName], computingElement: ['ce1'], submissionHost: [] } },
        { command_id: 8, command: 'SET_N_WORKERS_JOBTYPE', params: {} },
      ];
      const manager = new CommandManager({ ...t.env, jobSource: source });
      const report = await manager.runCycle(t.signal);
      assert.deepEqual([report.heartbeats, report.commands, report.workersToKill, report.notActedUpon], [1, 2, 1, 1]);
      assert.ok(source.heartbeats[0]?.['startTime'] instanceof Date);
      assert.deepEqual(source.acknowledged, [[7, 8]]);
      const killed = (await t.store.listWorkers({ queueName: queue.queueName })).filter((w) => w.killTime !== null);
      assert.deepEqual(killed.map((w) => [w.status, w.computingElement]), [['running', 'ce1']]);
      assert.ok(t.log.problems('does not act upon').some((l) => l.command === 'SET_N_WORKERS_JOBTYPE'));

      source.down = true;
      assert.equal((await manager.runCycle(t.signal)).errors, 1, 'a source down is counted, not thrown');
      source.down = false;
      await manager.runCycle(t.signal);
      assert.deepEqual(source.heartbeats.at(-1), {}, 'the start time is sent once');
    } finally {
      await t.cleanup();
    }
  });
});
