import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { SlurmReplay, slurmFixture } from '../../../../test/support/slurm-replay.js';
import { SlurmClient, SlurmCommandError, SlurmOutputError, type SlurmClientSettings } from './slurm-client.js';
import { parseElapsed, parseSbatchParsable } from './slurm-parse.js';

const settings: SlurmClientSettings = { slurmConf: undefined, slurmBinDir: undefined, commandTimeoutMs: 60_000 };
const signal = new AbortController().signal;

function clientFor(answers: ConstructorParameters<typeof SlurmReplay>[0], custom: Partial<SlurmClientSettings> = {}) {
  const replay = new SlurmReplay(answers);
  return { replay, client: new SlurmClient(replay.run, { ...settings, ...custom }, 'login1') };
}

/**
 * A squeue command line as recorded, but for --all (the fixtures were recorded before squeue was asked for
 * jobs in hidden partitions too; --all changes which jobs are listed, not how).
 */
function squeueShape(argv: readonly string[] | undefined): readonly string[] | undefined {
  return argv?.filter((a) => a !== '--all');
}

async function failure(promise: Promise<unknown>): Promise<SlurmCommandError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof SlurmCommandError, String(error));
    return error;
  }
  assert.fail('expected a SlurmCommandError');
}

describe('SLURM commands as recorded from slurm-wlm 22.05', () => {
  test('squeue by job ids asks in the recorded shape and reads every state, reason and elapsed time', async () => {
    const { replay, client } = clientFor({ squeue: 'squeue-jobs-all-states' });
    const jobs = await client.squeue({ jobs: ['6', '3', '2', '4', '5', '1'] }, signal);
    assert.deepEqual(squeueShape(replay.calls[0]?.argv), squeueShape(slurmFixture('squeue-jobs-all-states').argv));
    assert.ok(replay.calls[0]?.argv.includes('--all'), 'jobs in hidden partitions are listed too');
    assert.deepEqual(
      jobs.map((j) => `${j.jobID} ${j.name} ${j.state} ${j.reason} ${String(j.elapsedSeconds)}`),
      ['5 hv-testid-w4 CANCELLED None 0', '2 hv-testid-w2 COMPLETED None 0', '4 hv-testid-w3 FAILED NonZeroExitCode 0', '6 hv-testid-w6 PENDING BeginTime 0', '3 hv-testid-w1 RUNNING None 88', '1 hv-testid-w5 TIMEOUT TimeLimit 87'],
    );
  });

  test('squeue by names and by user use the recorded four-field format', async () => {
    const byName = clientFor({ squeue: 'squeue-names' });
    const named = await byName.client.squeue({ names: ['hv-testid-w2', 'hv-testid-w3', 'hv-testid-w404'] }, signal);
    assert.deepEqual(squeueShape(byName.replay.calls[0]?.argv), squeueShape(slurmFixture('squeue-names').argv));
    assert.ok(byName.replay.calls[0]?.argv.includes('--all'), 'a job in a hidden partition is found by its name too');
    assert.deepEqual(named.map((j) => [j.jobID, j.name, j.state]), [['2', 'hv-testid-w2', 'COMPLETED'], ['4', 'hv-testid-w3', 'FAILED']]);
    const byUser = clientFor({ squeue: 'squeue-user' });
    const mine = await byUser.client.squeue({ user: 'hvuser' }, signal);
    assert.deepEqual(squeueShape(byUser.replay.calls[0]?.argv), squeueShape(slurmFixture('squeue-user').argv));
    assert.ok(byUser.replay.calls[0]?.argv.includes('--all'));
    assert.equal(mine.find((j) => j.jobID === '6')?.state, 'PENDING');
  });

  test('job ids squeue has forgotten are no jobs: one id is an "Invalid job id" error, several an empty answer', async () => {
    assert.deepEqual(await clientFor({ squeue: 'squeue-job-one-unknown' }).client.squeue({ jobs: ['999999'] }, signal), []);
    assert.deepEqual(await clientFor({ squeue: 'squeue-jobs-only-unknown' }).client.squeue({ jobs: ['999999', '1000000'] }, signal), []);
    const mixed = await clientFor({ squeue: 'squeue-jobs-unknown-mixed' }).client.squeue({ jobs: ['2', '999999', '3'] }, signal);
    assert.deepEqual(mixed.map((j) => j.jobID), ['2', '3']);
  });

  test('squeue with slurmctld down is a SlurmCommandError of kind unreachable that did nothing', async () => {
    const error = await failure(clientFor({ squeue: 'squeue-jobs-slurmctld-down' }).client.squeue({ jobs: ['6', '3'] }, signal));
    assert.equal(error.kind, 'unreachable');
    assert.equal(error.mayHaveRun, false);
    assert.match(error.message, /Unable to contact slurm controller.*SLURM is not answering/);
    assert.equal(error.host, 'login1');
  });

  test('sacct reads base states ("CANCELLED by 1001"), exit codes, reasons and local start/end times ("Unknown", "None": none)', async () => {
    const { replay, client } = clientFor({ sacct: 'sacct-jobs-all-states' });
    const jobs = await client.sacct({ jobs: ['6', '3', '2', '4', '5', '1'] }, signal);
    assert.deepEqual(replay.calls[0]?.argv, slurmFixture('sacct-jobs-all-states').argv);
    const byID = new Map(jobs.map((j) => [j.jobID, j]));
    assert.equal(byID.get('5')?.state, 'CANCELLED');
    assert.equal(byID.get('5')?.rawState, 'CANCELLED by 1001');
    assert.deepEqual(byID.get('4')?.exitCode, { code: 3, signal: 0 });
    assert.equal(byID.get('6')?.reason, 'BeginTime');
    assert.equal(byID.get('6')?.start, undefined);
    assert.equal(byID.get('3')?.end, undefined);
    assert.deepEqual(byID.get('1')?.end, new Date(2026, 11, 2, 15, 48, 45));
    const cancelledPending = (await clientFor({ sacct: 'sacct-jobs-after-scancel' }).client.sacct({ jobs: ['3', '6'] }, signal)).find((j) => j.jobID === '6');
    assert.equal(cancelledPending?.start, undefined);
  });

  test('sacct by name or by user looks back from the oldest submission, not only since midnight', async () => {
    const { replay, client } = clientFor({ sacct: 'sacct-names' });
    const now = new Date('2026-12-02T15:00:00Z');
    const jobs = await client.sacct({ names: ['hv-testid-w2', 'hv-testid-w3', 'hv-testid-w404'], since: new Date('2026-12-01T10:30:00Z') }, signal, now);
    assert.deepEqual(jobs.map((j) => j.jobID), ['2', '4']);
    assert.deepEqual(replay.calls[0]?.argv.slice(-3), ['--name=hv-testid-w2,hv-testid-w3,hv-testid-w404', '-S', 'now-30hours']);
  });

  test('sacct without accounting, or with slurmdbd down, says which (accounting-disabled / unreachable)', async () => {
    assert.equal((await failure(clientFor({ sacct: 'sacct-noaccounting-config' }).client.sacct({ jobs: ['1'] }, signal))).kind, 'accounting-disabled');
    assert.equal((await failure(clientFor({ sacct: 'sacct-jobs-slurmdbd-down' }).client.sacct({ jobs: ['1'] }, signal))).kind, 'unreachable');
    assert.deepEqual(await clientFor({ sacct: 'sacct-jobs-only-unknown' }).client.sacct({ jobs: ['999999'] }, signal), []);
  });

  test('sbatch --parsable gives the job id; refusals and an unreachable controller are told apart', async () => {
    const { replay, client } = clientFor({ sbatch: 'sbatch-ok' });
    const request = { script: '/w/2/harvester_slurm_job.sh', dir: '/w/2', jobName: 'hv-testid-w2', comment: 'harvester:testid:Q:2' };
    assert.deepEqual(await client.sbatch(request, signal), { jobID: '2' });
    assert.deepEqual(replay.calls[0]?.argv, ['sbatch', '--parsable', '-D', '/w/2', '--job-name=hv-testid-w2', '--comment=harvester:testid:Q:2', '/w/2/harvester_slurm_job.sh']);
    const partition = await failure(clientFor({ sbatch: 'sbatch-refused-unknown-partition' }).client.sbatch(request, signal));
    assert.equal(partition.kind, 'refused');
    assert.equal(partition.mayHaveRun, false);
    assert.match(partition.slurmMessage, /Invalid partition name specified/);
    const badLine = await failure(clientFor({ sbatch: 'sbatch-refused-bad-sbatch-line' }).client.sbatch(request, signal));
    assert.equal(badLine.kind, 'refused');
    assert.match(badLine.slurmMessage, /unrecognized option '--no-such-option=1'/);
    const down = await failure(clientFor({ sbatch: 'sbatch-slurmctld-down' }).client.sbatch(request, signal));
    assert.equal(down.kind, 'unreachable');
    assert.equal(down.mayHaveRun, true);
    assert.deepEqual(await clientFor({ sbatch: 'sbatch-slurmdbd-down' }).client.sbatch(request, signal), { jobID: '210' });
  });

  test('an sbatch answer without a job id is a SlurmOutputError (the job may exist)', async () => {
    const { client } = clientFor({ sbatch: (r) => ({ argv: r.argv, exitCode: 0, stdout: 'Submitted batch job 12\n', stderr: '', durationMs: 1 }) });
    await assert.rejects(client.sbatch({ script: 's', dir: 'd', jobName: 'n', comment: 'c' }, signal), (e: unknown) => e instanceof SlurmOutputError && e.mayHaveRun);
    assert.deepEqual(parseSbatchParsable('12;cluster1\n'), { jobID: '12', cluster: 'cluster1' });
  });

  test('one scancel -v for many jobs: ended and unknown jobs are gone, an unreachable controller is unanswered per job', async () => {
    const { replay, client } = clientFor({ scancel: 'scancel-verbose-running-finished-unknown' });
    const verdicts = await client.scancel(['211', '2', '999999'], signal);
    assert.deepEqual(replay.calls[0]?.argv, ['scancel', '-v', '211', '2', '999999']);
    assert.deepEqual(Object.fromEntries([...verdicts].map(([id, v]) => [id, v.kind])), { 211: 'signalled', 2: 'gone', 999999: 'gone' });
    const down = await clientFor({ scancel: 'scancel-slurmctld-down' }).client.scancel(['3'], signal);
    assert.equal(down.get('3')?.kind, 'unanswered');
  });

  test('commands get SLURM_CONF, a standard time format and the configured bin directory', async () => {
    const { replay, client } = clientFor({ squeue: 'squeue-jobs-only-unknown' }, { slurmConf: '/etc/slurm/client.conf', slurmBinDir: '/opt/slurm/bin' });
    await client.squeue({ jobs: ['1', '2'] }, signal);
    assert.equal(replay.calls[0]?.argv[0], '/opt/slurm/bin/squeue');
    assert.deepEqual(replay.calls[0]?.env, { SLURM_TIME_FORMAT: 'standard', SLURM_CONF: '/etc/slurm/client.conf' });
    assert.equal(replay.calls[0]?.timeoutMs, 60_000);
  });

  test("squeue's elapsed times: M:SS, H:MM:SS, D-HH:MM:SS", () => {
    assert.deepEqual(['0:00', '1:28', '2:03:04', '1-02:03:04', 'INVALID'].map(parseElapsed), [0, 88, 7384, 93784, undefined]);
  });
});
