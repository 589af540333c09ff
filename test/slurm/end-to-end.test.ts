// `harvester run` in hv-core driving a real SLURM on hpc through the jump host: the queue's submitter, monitor,
// sweeper and messenger run in a bot started on demand on hpc; jobs come from the embedded queue; each worker
// becomes a SLURM job running its job's command through the shipped example template. A second remote host
// (the jump host itself, reached directly) runs local-process plugins in its own bot, from the same core and
// the same run. Then workers are killed (scancel) and everything is swept (access points removed).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TempDirs, runCli, writeJson } from '../cli/support.js';
import { HarvesterProcess, tally, waitFor } from '../run/support.js';
import { remoteBot, type RemoteBot } from '../support/remote-bot.js';
import { pollFor, requireSlurm } from '../support/slurm.js';
import { SlurmSite, type StoredWorker } from './support.js';

const dirs = new TempDirs();
const started: HarvesterProcess[] = [];
let site: SlurmSite | undefined;
let jumpBot: RemoteBot | undefined;
after(async () => {
  for (const p of started) p.killIfRunning();
  await site?.cleanup();
  await jumpBot?.stop().catch(() => undefined);
  await jumpBot?.cleanup();
  dirs.cleanup();
});

const JUMP_QUEUE = 'local_on_jump';

/** A queue whose plugins run as local processes in a bot on the jump host, reached directly (no jump host). */
function jumpQueue(bot: RemoteBot, root: string): Record<string, unknown> {
  const remote = { middleware: 'rpc' };
  return {
    queueStatus: 'online',
    mapType: 'OneToOne',
    nQueueLimitJob: 10,
    nQueueLimitWorker: 10,
    maxWorkers: 10,
    maxNewWorkersPerCycle: 10,
    rpc: bot.rpc({ launchBot: true, remoteHost: 'jump', jumpHost: undefined }),
    submitter: { name: 'LocalProcessSubmitter', module: 'harvester_ts.local_process_submitter', ...remote },
    monitor: { name: 'LocalProcessMonitor', module: 'harvester_ts.local_process_monitor', ...remote },
    sweeper: { name: 'LocalProcessSweeper', module: 'harvester_ts.local_process_sweeper', ...remote },
    messenger: { name: 'SharedFileMessenger', module: 'pandaharvester.harvestermessenger.shared_file_messenger', accessPoint: join(root, 'jump', '${workerID}'), ...remote },
    preparator: { name: 'DummyPreparator', module: 'pandaharvester.harvesterpreparator.dummy_preparator' },
    stager: { name: 'DummyStager', module: 'pandaharvester.harvesterstager.dummy_stager' },
    workerMaker: { name: 'SimpleWorkerMaker', module: 'pandaharvester.harvesterworkermaker.simple_worker_maker' },
  };
}

describe('harvester run with a SLURM queue behind the jump host', () => {
  test('jobs run as SLURM jobs through the bot, are monitored to finished or failed (exit code in the diag), and a second remote host runs in the same core', async (t) => {
    const testbed = requireSlurm(t);
    if (testbed === undefined) return;
    jumpBot = await remoteBot(testbed, 'e2e-jump', 18921);
    const bot = jumpBot;
    site = await SlurmSite.create(testbed, dirs, { botPort: 18920, moreQueues: ({ root }) => ({ [JUMP_QUEUE]: jumpQueue(bot, root) }) });

    await site.addJobs(5, 'sleep 1');
    await site.addJobs(1, 'echo "payload trouble" >&2; exit 3');
    await site.addJobs(3, 'true', JUMP_QUEUE);

    const run = await runCli(['run', '--until-done', '--timeout', '240'], { home: site.run.home, timeoutMs: 300_000 });
    assert.equal(run.status, 0, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}\nlog:\n${site.logTail()}`);

    // The SLURM queue: every worker is a SLURM job of this run, one per worker, each payload ran once.
    const workers = site.workers();
    assert.equal(workers.length, 6);
    assert.deepEqual(tally(workers, (w) => w.status), { finished: 5, failed: 1 });
    const failedWorker = workers.find((w) => w.status === 'failed')!;
    assert.match(failedWorker.diagMessage ?? '', /\b3\b/, `the failed worker's diag gives the exit code: ${failedWorker.diagMessage}`);
    const slurmJobs = await site.allSlurmJobs();
    assert.deepEqual(slurmJobs.map((j) => j.jobID).sort(), workers.map((w) => w.batchID).sort(), 'the workers are exactly the SLURM jobs of this run');
    assert.deepEqual(tally(slurmJobs, (j) => j.state), { COMPLETED: 5, FAILED: 1 });
    assert.equal(slurmJobs.find((j) => j.jobID === failedWorker.batchID)?.exitCode, '3:0');
    assert.equal(new Set(slurmJobs.map((j) => j.name)).size, slurmJobs.length, 'no worker has two SLURM jobs');
    assert.deepEqual(site.jobStates(), { 'finished/done': 5, 'failed/done': 1 });

    // The second remote host, in the same run.
    const jumpWorkers = site.workers(JUMP_QUEUE);
    assert.deepEqual(tally(jumpWorkers, (w) => w.status), { finished: 3 });
    assert.deepEqual(site.jobStates(JUMP_QUEUE), { 'finished/done': 3 });
    const runs = await site.payloadRuns();
    assert.equal(runs.size, 9, 'every job of both queues ran');
    assert.ok([...runs.values()].every((n) => n === 1), `each payload ran once: ${JSON.stringify([...runs])}`);

    // The payload ran inside the batch job, in the access point the template set, as the bot's user.
    const accessPoint = join(site.root, String(failedWorker.workerID));
    assert.match(readFileSync(join(accessPoint, `${failedWorker.workerID}.err`), 'utf8'), /payload trouble/);
    assert.equal(readFileSync(join(accessPoint, 'payload.exit_code'), 'utf8').trim(), '3');
  });

  test('killed workers are cancelled in SLURM, and every final worker is swept: access points removed, rows gone', async (t) => {
    if (site === undefined) return t.skip('the first test did not set up the site');
    const theSite = site;
    // Sweep everything final within a second from now on.
    const harvesterJson = join(theSite.run.home, 'harvester.json');
    const config = JSON.parse(readFileSync(harvesterJson, 'utf8')) as Record<string, Record<string, unknown>>;
    writeJson(harvesterJson, { ...config, sweeper: { ...config.sweeper, sleepTime: 0.2, checkInterval: 0.2, keepFinished: 0.0003, keepFailed: 0.0003, keepCancelled: 0.0003, keepMissed: 0.0003 } });
    const before = new Set(theSite.workers().map((w) => w.workerID));
    await theSite.addJobs(2, 'sleep 600');

    const running = new HarvesterProcess(['run', '--foreground'], theSite.run.home);
    started.push(running);
    const fresh = (): StoredWorker[] => theSite.workers().filter((w) => !before.has(w.workerID));
    const live = await waitFor('the two new workers running in SLURM', () => {
      const ws = fresh();
      return ws.length === 2 && ws.every((w) => w.status === 'running') ? ws : undefined;
    }, 120_000, 200);

    const kill = await runCli(['workers', 'kill', '--queue', theSite.queueName, '--status', 'running'], { home: theSite.run.home });
    assert.equal(kill.status, 0, kill.stderr);
    const ids = new Set(live.map((w) => w.batchID));
    const cancelled = await pollFor('both SLURM jobs cancelled', async () => {
      const jobs = (await theSite.squeueJobs()).filter((j) => ids.has(j.jobID));
      return jobs.length === 2 && jobs.every((j) => j.state === 'CANCELLED') ? jobs : undefined;
    }, 120_000, 500);
    assert.equal(cancelled.length, 2);

    // Swept: no worker row left in either queue, no access point left on hpc.
    await waitFor('every worker swept', () => (theSite.workers().length === 0 && theSite.workers(JUMP_QUEUE).length === 0 ? true : undefined), 120_000, 200);
    const leftover = readdirSync(theSite.root).filter((name) => /^\d+$/.test(name) || name === 'jump' && readdirSync(join(theSite.root, 'jump')).length > 0);
    assert.deepEqual(leftover, [], 'access points removed');
    for (const w of live) assert.ok(!existsSync(join(theSite.root, String(w.workerID))));

    running.child.kill('SIGTERM');
    const exit = await running.exit(60_000);
    assert.equal(exit.code, 0, running.stderr);
  });
});
