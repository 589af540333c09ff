#!/usr/bin/env node
// Records what the real SLURM of the testbed (scripts/testbed up: slurm-wlm 22.05 on hpc) answers to the
// commands a SLURM plugin runs, as JSON fixtures {argv, exitCode, stdout, stderr, note} (plus env when a
// variable is set), and times sbatch and squeue. Every command runs as the test user inside hv-hpc, where
// /etc/slurm is the testbed's configuration. Takes about 3 minutes (the timed-out job needs its time limit).
//
//   node scripts/record-slurm-fixtures.mjs OUT_DIR [COPY_DIR]
//   node scripts/record-slurm-fixtures.mjs --timings-only OUT_DIR
//
// OUT_DIR gets one <scenario>.json per command, INDEX.md and MEASUREMENTS.md; COPY_DIR (e.g.
// test/fixtures/slurm) gets a copy of the JSON files. Run as root with the testbed up; it stops and restarts
// slurmctld and slurmdbd on the way. --timings-only only times the commands again (about 30 s) and appends
// the run to OUT_DIR/MEASUREMENTS.md: the numbers move with the load of the machine.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const timingsOnly = process.argv[2] === '--timings-only';
const [outDir, copyDir] = process.argv.slice(timingsOnly ? 3 : 2);
if (outDir === undefined || (timingsOnly && copyDir !== undefined)) {
  console.error('usage: node scripts/record-slurm-fixtures.mjs OUT_DIR [COPY_DIR]\n       node scripts/record-slurm-fixtures.mjs --timings-only OUT_DIR');
  process.exit(2);
}
const repo = fileURLToPath(new URL('..', import.meta.url));
const env = JSON.parse(readFileSync(join(process.env.TESTBED_DIR ?? join(repo, '.testbed'), 'env.json'), 'utf8'));
const user = env.user.name;
const slurm = env.slurm;
const workDir = join(env.user.home, 'slurm-fixtures-work');
const FORMAT_SQUEUE = '%i|%j|%T|%r|%M';
const FORMAT_SACCT = 'JobID,JobName,State,ExitCode,Reason,Start,End';
const UNKNOWN_ID = '999999';
const recorded = [];

function fail(message) {
  console.error(`record-slurm-fixtures: ${message}`);
  process.exit(1);
}

/** Runs argv as the test user inside hv-hpc; `vars` become environment variables of the command. */
function asUser(argv, vars = {}) {
  const assignments = Object.entries(vars).map(([k, v]) => `${k}=${v}`);
  const started = process.hrtime.bigint();
  const result = spawnSync('ip', ['netns', 'exec', slurm.namespace, 'runuser', '-u', user, '--', 'env', ...assignments, ...argv], {
    encoding: 'utf8',
    cwd: '/',
  });
  if (result.error) fail(`cannot run ${argv.join(' ')}: ${result.error.message}`);
  return { exitCode: result.status, stdout: result.stdout, stderr: result.stderr, ms: Number(process.hrtime.bigint() - started) / 1e6 };
}

function record(scenario, argv, note, vars = {}) {
  const result = asUser(argv, vars);
  const fixture = { argv, exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr, note };
  if (Object.keys(vars).length > 0) fixture.env = vars;
  writeFileSync(join(outDir, `${scenario}.json`), JSON.stringify(fixture, null, 2) + '\n');
  recorded.push({ scenario, argv, exitCode: result.exitCode, note });
  console.log(`  ${scenario}: exit ${result.exitCode} (${Math.round(result.ms)} ms)`);
  return result;
}

function testbed(command) {
  const result = spawnSync('bash', [join(repo, 'scripts', 'testbed'), command], { encoding: 'utf8' });
  if (result.status !== 0) fail(`scripts/testbed ${command} failed: ${result.stderr.trim()}`);
}

async function waitFor(what, seconds, condition) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = condition();
    if (value) return value;
    if (Date.now() > deadline) fail(`gave up after ${seconds} s waiting for ${what}`);
    await sleep(500);
  }
}

function writeScript(name, lines) {
  const path = join(workDir, name);
  writeFileSync(path, ['#!/bin/bash', ...lines, ''].join('\n'), { mode: 0o755 });
  spawnSync('chown', [user, path]);
  return path;
}

/** The sbatch command line of the SLURM plugin. */
function sbatchArgv(worker, script, extra = []) {
  return ['sbatch', '--parsable', ...extra, '-D', workDir, `--job-name=hv-testid-w${worker}`, `--comment=harvester:testid:${worker}`, script];
}

function submit(worker, script) {
  const result = asUser(sbatchArgv(worker, script));
  if (result.exitCode !== 0) fail(`sbatch of worker ${worker} failed: ${result.stderr.trim()}`);
  return result.stdout.trim();
}

function jobState(id) {
  return asUser(['squeue', '-h', '--states=all', '-o', '%T', `--jobs=${id}`]).stdout.trim();
}

function sacctState(id) {
  return asUser(['sacct', '-X', '-n', '-P', '-o', 'State', '-j', id]).stdout.trim();
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Runs a bash script as the test user; each output line "label ms" becomes one timing. */
function timedAsUser(script) {
  const result = asUser(['bash', '-c', script]);
  if (result.exitCode !== 0) fail(`timing script failed: ${result.stderr.trim()}`);
  const timings = {};
  for (const line of result.stdout.trim().split('\n')) {
    const [label, ms] = line.split(' ');
    (timings[label] ??= []).push(Number(ms));
  }
  return timings;
}

const NOW_MS = 'echo $(( $(date +%s%N) / 1000000 ))';

function measure(quick, name) {
  const sbatch = `sbatch --parsable -D ${workDir} --job-name=${name} --comment=harvester:timing ${quick} >/dev/null`;
  // One line per call: "<label> <ms>"; a batch of N runs N calls at once and waits for all of them.
  const timeOne = (label) => `t0=$(${NOW_MS}); ${sbatch}; echo "${label} $(( $(${NOW_MS}) - t0 ))"`;
  const batches = (size) =>
    `for b in $(seq 1 $(( (20 + ${size} - 1) / ${size} ))); do w0=$(${NOW_MS}); ` +
    `for i in $(seq 1 ${size}); do n=$(( (b - 1) * ${size} + i )); [ $n -le 20 ] && { ${timeOne(`parallel${size}`)} & }; done; wait; ` +
    `echo "wall${size} $(( $(${NOW_MS}) - w0 ))"; done`;
  const serial = timedAsUser(`set -e; for i in $(seq 1 20); do ${timeOne('serial')}; done`);
  const parallel4 = timedAsUser(batches(4));
  const parallel8 = timedAsUser(batches(8));
  return { serial: serial.serial, parallel4: parallel4.parallel4, wall4: parallel4.wall4, parallel8: parallel8.parallel8, wall8: parallel8.wall8 };
}

function measureSqueue(ids) {
  const list = ids.join(',');
  const squeue = `squeue -h --states=all -o '${FORMAT_SQUEUE}'`;
  const script =
    `for r in 1 2 3 4 5; do t0=$(${NOW_MS}); ${squeue} --jobs=${list} >/dev/null; echo "squeue200 $(( $(${NOW_MS}) - t0 ))"; done; ` +
    `t1=$(${NOW_MS}); for id in ${ids.join(' ')}; do t0=$(${NOW_MS}); ${squeue} --jobs=$id >/dev/null; echo "squeue1 $(( $(${NOW_MS}) - t0 ))"; done; ` +
    `echo "squeue1x200 $(( $(${NOW_MS}) - t1 ))"; ` +
    `for r in 1 2 3 4 5; do t0=$(${NOW_MS}); sacct -X -n -P -o ${FORMAT_SACCT} -j ${list} >/dev/null; echo "sacct200 $(( $(${NOW_MS}) - t0 ))"; done`;
  return timedAsUser(script);
}

/**
 * slurmdbd can get a quick job's completion before its start record; it then stores the job under the name
 * "allocation" until the start record arrives a moment later. Catch that window with the first sacct answer.
 */
async function recordTransientAllocationName(quick) {
  console.log('looking for a quick job that sacct first lists as "allocation"');
  for (let worker = 100; worker < 130; worker++) {
    const id = submit(worker, quick);
    const argv = ['sacct', '-X', '-n', '-P', '-o', FORMAT_SACCT, '-j', id];
    const first = await waitFor(`job ${id} COMPLETED in sacct`, 30, () => {
      const result = asUser(argv);
      return result.stdout.includes('COMPLETED') ? result : undefined;
    });
    if (!first.stdout.includes('|allocation|')) continue;
    const fixture = { argv, exitCode: first.exitCode, stdout: first.stdout, stderr: first.stderr,
      note: `The first sacct answer for quick job ${id} (hv-testid-w${worker}), right after it completed: JobName is "allocation" until slurmdbd gets the job's start record (see sacct-quick-job-name-settled).` };
    writeFileSync(join(outDir, 'sacct-quick-job-name-transient.json'), JSON.stringify(fixture, null, 2) + '\n');
    recorded.push({ scenario: 'sacct-quick-job-name-transient', argv, exitCode: first.exitCode, note: fixture.note });
    await waitFor(`job ${id} under its own name in sacct`, 30, () => asUser(argv).stdout.includes(`|hv-testid-w${worker}|`));
    record('sacct-quick-job-name-settled', argv, `The same job ${id} a moment later, under its own name.`);
    return;
  }
  console.log('  no quick job showed the transient "allocation" name in 30 tries; nothing recorded');
}

/** Times sbatch (serial, in batches) and squeue/sacct over 200 job ids; the jobs are named after this run. */
async function timeCommands(quick) {
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const name = `hv-timing-${Date.now()}`;
  console.log('timing sbatch (20 serial, 20 in batches of 4 and of 8)');
  const sbatch = measure(quick, name);
  const timingIds = asUser(['squeue', '-h', '--states=all', `--name=${name}`, '-o', '%i']).stdout.trim().split('\n');
  const more = 200 - timingIds.length;
  const moreScript = `for i in $(seq 1 ${more}); do sbatch --parsable -D ${workDir} --job-name=${name} --comment=harvester:timing ${quick}; done`;
  const moreIds = asUser(['bash', '-c', moreScript]).stdout.trim().split('\n');
  const ids200 = [...timingIds, ...moreIds];
  if (ids200.length !== 200) fail(`expected 200 job ids for the squeue timing, got ${ids200.length}`);
  await waitFor('the 200 timing jobs to finish', 120, () => asUser(['squeue', '-h', `--name=${name}`, '-o', '%i']).stdout.trim() === '');
  console.log('timing squeue over 200 ids, 200 single-id squeue calls and sacct over 200 ids');
  return { load, sbatch, squeue: measureSqueue(ids200) };
}

async function main() {
  mkdirSync(outDir, { recursive: true });
  if (copyDir !== undefined) mkdirSync(copyDir, { recursive: true });
  asUser(['mkdir', '-p', workDir]);
  if (timingsOnly) {
    const timings = await timeCommands(writeScript('quick.sh', ['true']));
    writeFileSync(join(outDir, 'MEASUREMENTS.md'), timingsSection(timings), { flag: 'a' });
    asUser(['rm', '-rf', workDir]);
    return;
  }

  const scripts = {
    ok: writeScript('ok.sh', ['echo "hello from $(hostname) as $(id -un)"', 'exit 0']),
    fail3: writeScript('fail3.sh', ['echo "about to fail" >&2', 'exit 3']),
    sleep: writeScript('sleep.sh', ['sleep 600']),
    begin: writeScript('pending-begin.sh', ['#SBATCH --begin=now+3600', 'sleep 1']),
    wide: writeScript('pending-wide.sh', [`#SBATCH --cpus-per-task=${slurm.cpus}`, 'sleep 1']),
    timeout: writeScript('timeout.sh', ['#SBATCH --time=1', 'sleep 120']),
    badLine: writeScript('bad-sbatch-line.sh', ['#SBATCH --no-such-option=1', 'true']),
    quick: writeScript('quick.sh', ['true']),
  };

  console.log('submitting the jobs');
  const timeoutId = submit(5, scripts.timeout);
  const timeoutSubmitted = Date.now();
  record('sbatch-version', ['sbatch', '--version'], 'The SLURM version of the testbed.');
  const okResult = record('sbatch-ok', sbatchArgv(2, scripts.ok), 'Accepted: --parsable prints "<jobid>" (no cluster name on a single cluster) and a newline.');
  const okId = okResult.stdout.trim();
  const runningId = submit(1, scripts.sleep);
  const failedId = submit(3, scripts.fail3);
  const cancelledId = submit(4, scripts.sleep);
  const pendingId = submit(6, scripts.begin);
  record('sbatch-refused-unknown-partition', sbatchArgv(90, scripts.ok, ['-p', 'nosuch']), 'Refused at submission: a partition that does not exist.');
  record('sbatch-refused-bad-sbatch-line', sbatchArgv(91, scripts.badLine), 'Refused before contacting slurmctld: the script has "#SBATCH --no-such-option=1".');

  await waitFor(`job ${runningId} RUNNING`, 60, () => jobState(runningId) === 'RUNNING');
  await waitFor(`job ${cancelledId} RUNNING`, 60, () => jobState(cancelledId) === 'RUNNING');
  await waitFor(`jobs ${okId}/${failedId} finished`, 60, () => jobState(okId) === 'COMPLETED' && jobState(failedId) === 'FAILED');
  record('scancel-running', ['scancel', cancelledId], `Cancels running job ${cancelledId}; scancel prints nothing on success.`);
  await waitFor(`job ${cancelledId} CANCELLED`, 60, () => jobState(cancelledId) === 'CANCELLED');

  // A job asking for every CPU while others run waits for Resources; one submitted after it waits for Priority.
  const wideId = submit(7, scripts.wide);
  const behindId = submit(8, scripts.ok);
  const reason = (id) => asUser(['squeue', '-h', '--states=all', '-o', '%r', `--jobs=${id}`]).stdout.trim();
  // Right after submission the reason is None until the scheduler has looked at the job.
  await waitFor(`job ${wideId} to wait for Resources`, 30, () => reason(wideId) === 'Resources');
  record('squeue-jobs-pending-reasons', ['squeue', '-h', '--states=all', '-o', FORMAT_SQUEUE, `--jobs=${pendingId},${wideId},${behindId}`],
    `Pending jobs and their reasons: ${pendingId} waits for --begin (BeginTime), ${wideId} asks for all ${slurm.cpus} CPUs while others run (Resources), ${behindId} was submitted after it (Priority, or already started by backfill).`);
  asUser(['scancel', wideId, behindId]);

  const timings = await timeCommands(scripts.quick);

  const left = Math.max(0, 200 - (Date.now() - timeoutSubmitted) / 1000);
  console.log(`waiting up to ${Math.round(left)} s more for job ${timeoutId} (--time=1, sleep 120) to time out`);
  await waitFor(`job ${timeoutId} TIMEOUT`, left, () => jobState(timeoutId) === 'TIMEOUT');
  const timedOutAfter = Math.round((Date.now() - timeoutSubmitted) / 1000);
  await waitFor(`accounting of job ${timeoutId}`, 60, () => sacctState(timeoutId) === 'TIMEOUT' && sacctState(cancelledId).startsWith('CANCELLED'));

  const states = { pending: pendingId, running: runningId, completed: okId, failed: failedId, cancelled: cancelledId, timeout: timeoutId };
  const allIds = Object.values(states).join(',');
  const legend = Object.entries(states).map(([state, id]) => `${id}=${state}`).join(' ');
  console.log('recording squeue and sacct');
  for (const [state, id] of Object.entries(states)) {
    record(`squeue-job-${state}`, ['squeue', '-h', '--states=all', '-o', FORMAT_SQUEUE, `--jobs=${id}`], `One ${state} job (${id}).`);
  }
  record('squeue-jobs-all-states', ['squeue', '-h', '--states=all', '-o', FORMAT_SQUEUE, `--jobs=${allIds}`], `Jobs: ${legend}. Finished jobs stay for MinJobAge=600 s.`);
  record('squeue-jobs-unknown-mixed', ['squeue', '-h', '--states=all', '-o', FORMAT_SQUEUE, `--jobs=${okId},${UNKNOWN_ID},${runningId}`],
    `${UNKNOWN_ID} was never a job (or is past MinJobAge); ${okId} completed, ${runningId} running.`);
  record('squeue-jobs-only-unknown', ['squeue', '-h', '--states=all', '-o', FORMAT_SQUEUE, `--jobs=${UNKNOWN_ID},${Number(UNKNOWN_ID) + 1}`],
    'Several ids squeue does not know (never submitted, or finished longer ago than MinJobAge): no output, exit 0.');
  record('squeue-job-one-unknown', ['squeue', '-h', '--states=all', '-o', FORMAT_SQUEUE, `--jobs=${UNKNOWN_ID}`],
    'A single id squeue does not know: unlike several unknown ids (squeue-jobs-only-unknown), this is an error.');
  record('squeue-names', ['squeue', '-h', '--states=all', '-o', '%i|%j|%T|%r', '--name=hv-testid-w2,hv-testid-w3,hv-testid-w404'],
    `By job name: w2 completed (${okId}), w3 failed (${failedId}), w404 never submitted.`);
  record('squeue-user', ['squeue', '-h', '--states=all', '-o', '%i|%j|%T|%r', `--user=${user}`], `Every job of ${user} still known to slurmctld (includes the hv-timing jobs).`);
  record('squeue-noaccounting-config', ['squeue', '-h', '--states=all', '-o', FORMAT_SQUEUE, `--jobs=${allIds}`],
    `Same as squeue-jobs-all-states with the client configuration that has no accounting: squeue does not use accounting. Jobs: ${legend}.`,
    { SLURM_CONF: slurm.noAccountingConfFile });

  record('sacct-jobs-all-states', ['sacct', '-X', '-n', '-P', '-o', FORMAT_SACCT, '-j', allIds], `Jobs: ${legend}. The pending job has Start=Unknown.`);
  for (const [state, id] of Object.entries(states)) {
    record(`sacct-job-${state}`, ['sacct', '-X', '-n', '-P', '-o', FORMAT_SACCT, '-j', id], `One ${state} job (${id}).`);
  }
  record('sacct-jobs-unknown-mixed', ['sacct', '-X', '-n', '-P', '-o', FORMAT_SACCT, '-j', `${okId},${UNKNOWN_ID}`], `${UNKNOWN_ID} was never a job.`);
  record('sacct-jobs-only-unknown', ['sacct', '-X', '-n', '-P', '-o', FORMAT_SACCT, '-j', UNKNOWN_ID], `${UNKNOWN_ID} was never a job.`);
  record('sacct-names', ['sacct', '-X', '-n', '-P', '-o', FORMAT_SACCT, '--name=hv-testid-w2,hv-testid-w3,hv-testid-w404'],
    `By job name (sacct's default window: since midnight, this user): w2 completed (${okId}), w3 failed (${failedId}), w404 never submitted.`);
  record('sacct-with-comment', ['sacct', '-X', '-n', '-P', '-o', 'JobID,JobName,Comment,State', '-j', `${okId},${failedId}`],
    'The --comment of sbatch, stored because slurm.conf has AccountingStoreFlags=job_comment.');
  record('sacct-noaccounting-config', ['sacct', '-X', '-n', '-P', '-o', FORMAT_SACCT, '-j', allIds],
    'A site without slurmdbd (AccountingStorageType=accounting_storage/none): sacct refuses; use squeue only.', { SLURM_CONF: slurm.noAccountingConfFile });

  await recordTransientAllocationName(scripts.quick);

  console.log('recording with slurmctld stopped');
  testbed('slurmctld-stop');
  record('sbatch-slurmctld-down', sbatchArgv(92, scripts.ok), 'slurmctld stopped: sbatch retries for about 9 s, then gives up.');
  record('squeue-jobs-slurmctld-down', ['squeue', '-h', '--states=all', '-o', FORMAT_SQUEUE, `--jobs=${allIds}`], 'slurmctld stopped: squeue retries for about 9 s, then gives up.');
  record('sacct-jobs-slurmctld-down', ['sacct', '-X', '-n', '-P', '-o', FORMAT_SACCT, '-j', allIds], 'slurmctld stopped, slurmdbd up: sacct reads slurmdbd only and still answers.');
  record('scancel-slurmctld-down', ['scancel', runningId], 'slurmctld stopped.');
  testbed('slurmctld-start');
  record('squeue-jobs-after-slurmctld-restart', ['squeue', '-h', '--states=all', '-o', FORMAT_SQUEUE, `--jobs=${allIds}`],
    `After slurmctld-start: jobs recovered from StateSaveLocation; the running job kept running under slurmd. Jobs: ${legend}.`);

  console.log('recording with slurmdbd stopped');
  testbed('slurmdbd-stop');
  record('sacct-jobs-slurmdbd-down', ['sacct', '-X', '-n', '-P', '-o', FORMAT_SACCT, '-j', allIds], 'slurmdbd stopped: sacct fails at once.');
  const acceptedWithoutDbd = record('sbatch-slurmdbd-down', sbatchArgv(93, scripts.ok), 'slurmdbd stopped: slurmctld still accepts jobs and sends their records later.');
  testbed('slurmdbd-start');
  const lateId = acceptedWithoutDbd.stdout.trim();
  await waitFor(`accounting of job ${lateId} submitted while slurmdbd was down`, 60, () => sacctState(lateId) === 'COMPLETED');

  console.log('recording scancel');
  record('scancel-running-finished-unknown', ['scancel', runningId, okId, UNKNOWN_ID],
    `${runningId} running (cancelled), ${okId} already completed, ${UNKNOWN_ID} never a job: scancel hides both errors unless -v and exits 0.`);
  const verboseId = submit(9, scripts.sleep);
  await waitFor(`job ${verboseId} RUNNING`, 60, () => jobState(verboseId) === 'RUNNING');
  record('scancel-verbose-running-finished-unknown', ['scancel', '-v', verboseId, okId, UNKNOWN_ID],
    `With -v: ${verboseId} running (cancelled), ${okId} already completed, ${UNKNOWN_ID} never a job. Without -v scancel hides both errors and exits 0 (scancel-running-finished-unknown).`);
  record('scancel-unknown', ['scancel', UNKNOWN_ID], `${UNKNOWN_ID} was never a job: scancel says nothing and exits 0.`);
  record('scancel-name', ['scancel', '--name=hv-testid-w6'], `Cancels the pending job ${pendingId} by name; prints nothing.`);
  record('scancel-name-unknown', ['scancel', '--name=hv-testid-w404'], 'No job has this name.');
  await waitFor(`job ${runningId} and ${pendingId} CANCELLED`, 60, () => jobState(runningId) === 'CANCELLED' && jobState(pendingId) === 'CANCELLED');
  await waitFor(`accounting of the cancelled jobs`, 60, () => sacctState(runningId).startsWith('CANCELLED') && sacctState(pendingId).startsWith('CANCELLED'));
  record('squeue-jobs-after-scancel', ['squeue', '-h', '--states=all', '-o', FORMAT_SQUEUE, `--jobs=${runningId},${pendingId}`],
    `${runningId} was running and ${pendingId} pending when cancelled.`);
  record('sacct-jobs-after-scancel', ['sacct', '-X', '-n', '-P', '-o', FORMAT_SACCT, '-j', `${runningId},${pendingId}`],
    `${runningId} was running and ${pendingId} pending when cancelled ("CANCELLED by <uid>").`);

  writeIndex();
  writeMeasurements(timings, timedOutAfter);
  if (copyDir !== undefined) {
    for (const { scenario } of recorded) copyFileSync(join(outDir, `${scenario}.json`), join(copyDir, `${scenario}.json`));
  }
  asUser(['rm', '-rf', workDir]);
  console.log(`recorded ${recorded.length} fixtures in ${outDir}`);
}

function writeIndex() {
  const lines = [
    '# SLURM fixtures (real outputs of slurm-wlm 22.05 on the testbed host hpc)',
    '',
    `Recorded by scripts/record-slurm-fixtures.mjs on ${new Date().toISOString()}; every command ran as ${user} inside hv-hpc.`,
    'Each <scenario>.json is {argv, exitCode, stdout, stderr, note} (+ env when SLURM_CONF was set). Job ids differ per run.',
    '',
    '| scenario | exit | argv | note |',
    '|---|---|---|---|',
    ...recorded.map((r) => `| ${r.scenario} | ${r.exitCode} | \`${r.argv.join(' ').replaceAll('|', '\\|')}\` | ${r.note.replaceAll('|', '\\|')} |`),
    '',
  ];
  writeFileSync(join(outDir, 'INDEX.md'), lines.join('\n'));
}

function writeMeasurements(timings, timedOutAfter) {
  const lines = [
    '# SLURM command timings on the testbed',
    '',
    `Each call ran as ${user} inside hv-hpc, from one bash process (no runuser/ip-netns overhead per call), on a`,
    `machine with ${spawnSync('nproc', { encoding: 'utf8' }).stdout.trim()} cores shared with other work: compare runs, and mind the load average of each.`,
    '',
    `A job with --time=1 running sleep 120 reached TIMEOUT in squeue ${timedOutAfter} s after submission (KillWait=5).`,
    'With slurmctld stopped, sbatch, squeue and scancel give up only after about 9 s of retries (see the *-slurmctld-down fixtures).',
    '',
  ];
  writeFileSync(join(outDir, 'MEASUREMENTS.md'), lines.join('\n') + '\n' + timingsSection(timings));
}

function timingsSection({ load, sbatch, squeue }) {
  const ms = (values) => `${Math.round(median(values))} ms`;
  const sum = (values) => values.reduce((a, b) => a + b, 0);
  return [
    `## Run of ${new Date().toISOString()} (load average before: ${load})`,
    '',
    '| what | median per call | total |',
    '|---|---|---|',
    `| 20 serial sbatch | ${ms(sbatch.serial)} | ${sum(sbatch.serial)} ms |`,
    `| 20 sbatch in batches of 4 at once | ${ms(sbatch.parallel4)} | ${sum(sbatch.wall4)} ms (batches ${sbatch.wall4.join(', ')} ms) |`,
    `| 20 sbatch in batches of 8 at once | ${ms(sbatch.parallel8)} | ${sum(sbatch.wall8)} ms (batches ${sbatch.wall8.join(', ')} ms) |`,
    `| one squeue --jobs=<200 ids> (5 runs) | ${ms(squeue.squeue200)} | runs ${squeue.squeue200.join(', ')} ms |`,
    `| 200 single-id squeue calls | ${ms(squeue.squeue1)} | ${squeue.squeue1x200[0]} ms |`,
    `| one sacct -j <200 ids> (5 runs) | ${ms(squeue.sacct200)} | runs ${squeue.sacct200.join(', ')} ms |`,
    '',
    '',
  ].join('\n');
}

await main();
