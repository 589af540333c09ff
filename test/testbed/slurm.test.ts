// The testbed's real SLURM on hpc (slurm-wlm 22.05 with slurmdbd accounting), used as the SLURM plugins use
// it: as the test user, over SSH through the jump host or inside hv-hpc; a job's life in squeue and sacct, the
// site-without-accounting configuration, and a slurmctld restart that must not lose jobs.
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  jobDirectory,
  pollFor,
  requireSlurm,
  slurm,
  slurmOk,
  squeueState,
  submitJob,
  waitForAccounting,
  waitForJobState,
  writeJobScript,
} from '../support/slurm.js';
import { loginToHpcThroughJump, runRemote } from '../support/testbed-ssh.js';

const TEST_TIMEOUT_MS = 120_000;

/** Single-quotes a word for the remote shell. */
function quote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

describe('SLURM on hpc', () => {
  test('a job submitted with sbatch over SSH through jump runs as the test user; squeue --states=all lists it and sacct records it COMPLETED 0:0', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const testbed = requireSlurm(t);
    if (!testbed) return;
    const dir = await jobDirectory(t, testbed);
    const script = await writeJobScript(testbed, join(dir, 'whoami.sh'), ['id -un > whoami.txt', 'echo "$SLURMD_NODENAME" > node.txt']);
    const { jump, hpc } = await loginToHpcThroughJump(testbed);
    try {
      // The SSH session finds the configuration as /etc/slurm/slurm.conf, with no SLURM_CONF set.
      const conf = await runRemote(hpc, `echo "\${SLURM_CONF-unset}"; test -r ${quote(testbed.slurm.confFile)} && echo readable`);
      assert.equal(conf.stdout, 'unset\nreadable\n', conf.stderr);

      const submitted = await runRemote(hpc, `sbatch --parsable -D ${quote(dir)} --job-name=hv-slurmtest-ok --comment=harvester:slurmtest:1 ${quote(script)}`);
      assert.equal(submitted.code, 0, submitted.stderr);
      const id = submitted.stdout.trim();
      assert.match(id, /^\d+$/);

      const listed = await pollFor(`job ${id} to finish in squeue over SSH`, async () => {
        const row = await runRemote(hpc, `squeue -h --states=all -o '%i|%j|%T' --jobs=${id}`);
        assert.equal(row.code, 0, row.stderr);
        return /\|(PENDING|CONFIGURING|RUNNING|COMPLETING)$/.test(row.stdout.trim()) ? undefined : row.stdout.trim();
      });
      assert.equal(listed, `${id}|hv-slurmtest-ok|COMPLETED`);

      // A quick job may first appear in sacct named "allocation", or with its name but no comment yet: slurmdbd
      // got its completion before its start record, which carries both (see
      // test/fixtures/slurm/sacct-quick-job-name-transient.json; the empty comment was seen under a CPU hog).
      // Wait for the settled record.
      const accounted = await pollFor(`job ${id} to be finished in sacct over SSH`, async () => {
        const row = await runRemote(hpc, `sacct -X -n -P -o JobID,JobName,State,ExitCode,Comment -j ${id}`);
        assert.equal(row.code, 0, row.stderr);
        const settled = row.stdout.trim() !== '' && !/\|allocation\||\|(PENDING|RUNNING)\|/.test(row.stdout) && !row.stdout.trim().endsWith('|');
        return settled ? row.stdout.trim() : undefined;
      });
      assert.equal(accounted, `${id}|hv-slurmtest-ok|COMPLETED|0:0|harvester:slurmtest:1`);
    } finally {
      hpc.end();
      jump.end();
    }
    assert.equal((await readFile(join(dir, 'whoami.txt'), 'utf8')).trim(), testbed.user.name);
    assert.equal((await readFile(join(dir, 'node.txt'), 'utf8')).trim(), testbed.slurm.nodeName);
  });

  test('a job exiting 3 is FAILED in squeue and FAILED with ExitCode 3:0 in sacct', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const testbed = requireSlurm(t);
    if (!testbed) return;
    const dir = await jobDirectory(t, testbed);
    const script = await writeJobScript(testbed, join(dir, 'fail.sh'), ['exit 3']);
    const id = await submitJob(testbed, dir, 'hv-slurmtest-fail', script);
    await waitForJobState(testbed, id, 'FAILED');
    assert.deepEqual(await waitForAccounting(testbed, id, 'FAILED'), { state: 'FAILED', exitCode: '3:0' });
  });

  test('with the client configuration without accounting, sacct refuses ("accounting storage is disabled") and squeue still answers', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const testbed = requireSlurm(t);
    if (!testbed) return;
    const dir = await jobDirectory(t, testbed);
    const id = await submitJob(testbed, dir, 'hv-slurmtest-noacct', await writeJobScript(testbed, join(dir, 'ok.sh'), ['true']));
    await waitForJobState(testbed, id, 'COMPLETED');
    const conf = testbed.slurm.noAccountingConfFile;

    const sacct = await slurm(testbed, ['sacct', '-X', '-n', '-P', '-o', 'JobID,State', '-j', id], { conf });
    assert.notEqual(sacct.status, 0);
    assert.match(sacct.stderr, /accounting storage is disabled/);

    const squeue = await slurmOk(testbed, ['squeue', '-h', '--states=all', '-o', '%i|%T', `--jobs=${id}`], { conf });
    assert.equal(squeue.trim(), `${id}|COMPLETED`);
  });

  test('slurmctld-stop makes squeue fail with a connection error while the running job goes on; slurmctld-start recovers the jobs', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const testbed = requireSlurm(t);
    if (!testbed) return;
    const dir = await jobDirectory(t, testbed);
    const finishedId = await submitJob(testbed, dir, 'hv-slurmtest-before', await writeJobScript(testbed, join(dir, 'ok.sh'), ['true']));
    const ticks = join(dir, 'ticks');
    const runningId = await submitJob(testbed, dir, 'hv-slurmtest-ticking', await writeJobScript(testbed, join(dir, 'tick.sh'), [`while true; do echo tick >> ${quote(ticks)}; sleep 0.2; done`]));
    t.after(() => slurm(testbed, ['scancel', runningId]));
    await waitForJobState(testbed, finishedId, 'COMPLETED');
    await waitForJobState(testbed, runningId, 'RUNNING');

    await testbed.stopSlurmctld();
    try {
      assert.equal(testbed.slurmctldPid(), undefined);
      const squeue = await slurm(testbed, ['squeue', '-h', '--states=all', `--jobs=${finishedId},${runningId}`]);
      assert.notEqual(squeue.status, 0);
      assert.match(squeue.stderr, /Unable to contact slurm controller \(connect failure\)/);
      // slurmd keeps the job running without its controller: the job keeps writing.
      const sizeBefore = (await stat(ticks)).size;
      await pollFor('the running job to write while slurmctld is down', async () => ((await stat(ticks)).size > sizeBefore ? true : undefined));
    } finally {
      await testbed.startSlurmctld();
    }
    assert.equal(await squeueState(testbed, finishedId), 'COMPLETED');
    assert.equal(await squeueState(testbed, runningId), 'RUNNING');
    await slurmOk(testbed, ['scancel', runningId]);
    await waitForJobState(testbed, runningId, 'CANCELLED');
  });
});
