// Faults an operator meets, while `harvester run` drives SLURM on hpc through the jump host. After each, the
// run is taken to the end and everything is counted: the SLURM jobs of the run (sacct) are exactly the batchIDs
// of the workers in the store (no worker lost, none with two jobs), every job finished, every payload ran once.
import { after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { TempDirs, runCli } from '../cli/support.js';
import { fastAgentSettings, HarvesterProcess, logRecords, tally } from '../run/support.js';
import { pollFor, requireSlurm } from '../support/slurm.js';
import type { Testbed } from '../support/testbed.js';
import { accountFor, SlurmSite, type SlurmSiteOptions } from './support.js';

const dirs = new TempDirs();
const started: HarvesterProcess[] = [];
const sites: SlurmSite[] = [];
after(async () => {
  for (const p of started) p.killIfRunning();
  for (const site of sites) await site.cleanup();
  dirs.cleanup();
});

/** Settings for many workers per cycle: all jobs fetched, prepared and submitted in one call. */
function manyWorkers(opts: SlurmSiteOptions): SlurmSiteOptions {
  return {
    ...opts,
    master: {
      jobfetcher: { ...fastAgentSettings.jobfetcher, maxJobs: 300 },
      preparator: { ...fastAgentSettings.preparator, maxJobsToPrepare: 300 },
      ...opts.master,
    },
    // One sbatch at a time: a submission of many workers lasts long enough to be hit in its middle.
    submitter: { maxParallelSubmissions: 1, commandTimeout: 15, ...opts.submitter },
    // Longer than an orphaned sbatch can take (commandTimeout), short enough for a test.
    monitor: { submissionGracePeriod: 25, ...opts.monitor },
  };
}

/** A site with `jobs` jobs in its embedded queue, each running `then`; undefined when SLURM is not there (skipped). */
async function siteWithJobs(t: TestContext, botPort: number, jobs: number, then = 'true'): Promise<{ testbed: Testbed; site: SlurmSite } | undefined> {
  const testbed = requireSlurm(t);
  if (testbed === undefined) return undefined;
  const site = await SlurmSite.create(testbed, dirs, manyWorkers({ botPort }));
  sites.push(site);
  await site.addJobs(jobs, then);
  return { testbed, site };
}

function startRun(site: SlurmSite): HarvesterProcess {
  const run = new HarvesterProcess(['run', '--foreground'], site.run.home);
  started.push(run);
  return run;
}

/** Waits until every job of the site is done, then stops the run (SIGTERM) and checks it stopped cleanly. */
async function finish(site: SlurmSite, run: HarvesterProcess, jobs: number): Promise<void> {
  await pollFor(`all ${jobs} jobs done (${site.harvesterID})`, async () => {
    const states = site.jobStates();
    return Object.values(states).reduce((a, b) => a + b, 0) === jobs && states['finished/done'] === jobs ? true : undefined;
  }, 240_000, 500).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}: jobs ${JSON.stringify(site.jobStates())}, workers ${JSON.stringify(tally(site.workers(), (w) => w.status))}\n${site.logTail()}`);
  });
  run.child.kill('SIGTERM');
  const exit = await run.exit(60_000);
  assert.equal(exit.code, 0, run.stderr);
}

/** The account every fault test ends with. */
async function assertAccounted(site: SlurmSite, jobs: number): Promise<void> {
  const { slurmJobs, workers, runs } = await accountFor(site);
  assert.deepEqual(site.jobStates(), { 'finished/done': jobs }, 'every job finished');
  assert.equal(workers.length, jobs, 'one worker per job: no job needed a second worker');
  assert.deepEqual(tally(workers, (w) => w.status), { finished: jobs }, site.logTail());
  assert.deepEqual(slurmJobs.map((j) => j.jobID).sort(), workers.map((w) => w.batchID).sort(), 'the SLURM jobs of the run are exactly the batchIDs of its workers');
  assert.equal(new Set(slurmJobs.map((j) => j.name)).size, slurmJobs.length, 'no worker has two SLURM jobs');
  assert.equal(runs.size, jobs, 'every payload ran');
  const twice = [...runs].filter(([, n]) => n !== 1);
  assert.deepEqual(twice, [], 'no payload ran twice');
}

/** Resolves once this many SLURM jobs of the site exist. */
function slurmJobsAtLeast(site: SlurmSite, n: number): Promise<number> {
  return pollFor(`${n} SLURM jobs of ${site.harvesterID}`, async () => {
    const count = (await site.squeueJobs()).length;
    return count >= n ? count : undefined;
  }, 120_000, 20);
}

describe('SLURM behind the jump host: faults during a run', () => {
  test('the bot SIGKILLed in the middle of a 200-worker submission is relaunched; workers it submitted are adopted, the others submitted once', async (t) => {
    const JOBS = 200;
    const made = await siteWithJobs(t, 18940, JOBS);
    if (made === undefined) return;
    const { site } = made;
    const run = startRun(site);
    const seen = await slurmJobsAtLeast(site, 20);
    await site.bot.kill();
    assert.ok(seen < JOBS, `killed mid-submission (${seen} of ${JOBS} SLURM jobs)`);
    await finish(site, run, JOBS);
    await assertAccounted(site, JOBS);
    const records = logRecords(site.run.logFile);
    const unknown = records.filter((r) => r.msg === 'worker not submitted' && r['verdict'] === 'unknown').length;
    assert.ok(unknown > 0, 'the kill hit a submitWorkers call: its workers were left to the monitor (outcome unknown)');
    const launches = records.filter((r) => r.msg === 'launching the bot on demand').length;
    assert.ok(launches >= 2, `the bot was launched again after its death (${launches} launches)`);
  });

  test('the jump host drops every connection during submission and again during monitoring: nothing lost, nothing twice', async (t) => {
    const JOBS = 100;
    const made = await siteWithJobs(t, 18941, JOBS, 'sleep 4');
    if (made === undefined) return;
    const { testbed, site } = made;
    const run = startRun(site);
    await slurmJobsAtLeast(site, 10);
    await testbed.stopSshd('jump');
    await sleep(2000);
    await testbed.startSshd('jump');
    await pollFor('every worker submitted', async () => (site.workers().length === JOBS && site.workers().every((w) => w.batchID !== null) ? true : undefined), 180_000, 500);
    await testbed.stopSshd('jump');
    await sleep(2000);
    await testbed.startSshd('jump');
    await finish(site, run, JOBS);
    await assertAccounted(site, JOBS);
    const tunnelsUp = logRecords(site.run.logFile).filter((r) => r.msg === 'ssh tunnel up').length;
    assert.ok(tunnelsUp >= 6, `the tunnels came back after each cut (${tunnelsUp} tunnel starts for 3 tunnels)`);
  });

  test('slurmctld restarted during a monitor cycle: the monitor checks again later, no worker is failed', async (t) => {
    const JOBS = 40;
    const made = await siteWithJobs(t, 18942, JOBS, 'sleep 8');
    if (made === undefined) return;
    const { testbed, site } = made;
    const run = startRun(site);
    await pollFor('every worker running', async () => (site.workers().length === JOBS && site.workers().every((w) => w.status === 'running') ? true : undefined), 180_000, 500);
    const stoppedAt = Date.now();
    await testbed.stopSlurmctld();
    try {
      // A monitor cycle meets the controller down (squeue retries ~9 s, then gives up): no verdict, kept.
      await pollFor('a monitor cycle without a verdict', async () =>
        logRecords(site.run.logFile).some((r) => r.msg === 'no verdict for the workers this time' && Number(r.time) > stoppedAt) ? true : undefined,
      60_000, 500);
    } finally {
      await testbed.startSlurmctld();
    }
    const noVerdict = logRecords(site.run.logFile).filter((r) => r.msg === 'no verdict for the workers this time' && Number(r.time) > stoppedAt);
    assert.match(String(noVerdict[0]?.diag), /slurm controller|Socket timed out|Zero Bytes/i, 'the diag names the controller not answering');
    await finish(site, run, JOBS);
    await assertAccounted(site, JOBS);
  });

  test('harvester run SIGKILLed in the middle of a submission and started again: the workers it left are adopted or submitted once', async (t) => {
    const JOBS = 60;
    const made = await siteWithJobs(t, 18943, JOBS);
    if (made === undefined) return;
    const { site } = made;
    const first = startRun(site);
    const seen = await slurmJobsAtLeast(site, 10);
    first.child.kill('SIGKILL');
    assert.equal((await first.exit(10_000)).signal, 'SIGKILL');
    assert.ok(seen < JOBS, `killed mid-submission (${seen} of ${JOBS} SLURM jobs)`);
    const second = await runCli(['run', '--until-done', '--timeout', '240'], { home: site.run.home, timeoutMs: 300_000 });
    assert.equal(second.status, 0, `${second.stdout}\n${second.stderr}\n${site.logTail()}`);
    await assertAccounted(site, JOBS);
    const resumed = logRecords(site.run.logFile).filter((r) => r.msg === "submitting again workers left 'ready'" && r.pid !== first.pid);
    assert.ok(resumed.length > 0, "the second run took over the workers the killed one left 'ready'");
  });
});
