// The local-process plugins with real processes on a temporary directory: submit, monitor, kill, sweep.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { access, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { JobSpec, WorkSpec } from '../../spec/index.js';
import { testContext, withTempDir } from '../../../test/support/plugins/plugin-fixtures.js';
import { LocalProcessSubmitter } from './local-process-submitter.js';
import { LocalProcessMonitor } from './local-process-monitor.js';
import { LocalProcessSweeper } from './local-process-sweeper.js';
import type { WorkerCheck } from '../contracts.js';

function worker(dir: string, workerID: number, command?: string): WorkSpec {
  const w = new WorkSpec({ workerID, accessPoint: join(dir, `worker_${workerID}`) });
  if (command !== undefined) w.jobSpecs = [new JobSpec({ PandaID: 1000 + workerID, jobParams: { command } })];
  return w;
}

/** The same worker as the store would give it back after losing the submission's update. */
function sameWorkerAgain(w: WorkSpec): WorkSpec {
  const again = new WorkSpec({ workerID: w.workerID, accessPoint: w.accessPoint });
  again.jobSpecs = w.jobSpecs;
  return again;
}

/** Processes of a process group that have not ended, from ps (independent of the plugin's own /proc reading). */
function liveMembersOf(pgid: number): number[] {
  const out = execFileSync('ps', ['-e', '-o', 'pid=,pgid=,stat='], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([, group, stat]) => Number(group) === pgid && stat !== undefined && !stat.startsWith('Z'))
    .map(([pid]) => Number(pid));
}

/** Waits until a process running `command` is in the group (e.g. the payload got past its trap). */
async function waitForCommandInGroup(pgid: number, command: string): Promise<void> {
  for (const deadline = Date.now() + 3000; ; await sleep(20)) {
    const out = execFileSync('ps', ['-e', '-o', 'pgid=,comm='], { encoding: 'utf8' });
    if (out.split('\n').some((line) => line.trim().split(/\s+/).join(' ') === `${pgid} ${command}`)) return;
    if (Date.now() > deadline) assert.fail(`no '${command}' in process group ${pgid} after 3 s`);
  }
}

function psField(pid: number, field: string): string {
  return execFileSync('ps', ['-o', `${field}=`, '-p', String(pid)], { encoding: 'utf8' }).trim();
}

async function checkOf(w: WorkSpec): Promise<WorkerCheck> {
  const outcome = await new LocalProcessMonitor().checkWorkers(testContext(), [w]);
  if (outcome.kind !== 'succeeded') assert.fail(`monitor answered ${outcome.kind}: ${outcome.diag}`);
  return outcome.value[0]!;
}

/** Checks until the worker leaves submitted/running (payloads here end within a second). */
async function finalCheckOf(w: WorkSpec): Promise<WorkerCheck> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const check = await checkOf(w);
    if (check.status !== 'running' && check.status !== 'submitted') return check;
    if (Date.now() > deadline) assert.fail(`worker ${w.workerID} still ${check.status} after 5 s`);
    await sleep(20);
  }
}

async function submittedLines(path: string): Promise<string[]> {
  return (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '');
}

describe('LocalProcessSubmitter and LocalProcessMonitor', () => {
  test('a payload exiting 3 is failed with code 3, its stdout kept and its last stderr line in the diag', async () => {
    await withTempDir(async (dir) => {
      const w = worker(dir, 1, 'echo hello; echo "it broke" >&2; exit 3');
      const [outcome] = await new LocalProcessSubmitter().submitWorkers(testContext(), [w]);
      assert.equal(outcome!.kind, 'succeeded', outcome!.diag);
      assert.match(w.batchID ?? '', /^\d+$/);
      assert.equal(w.getWorkAttribute('stdOut'), join(w.accessPoint!, 'payload.stdout'));

      const check = await finalCheckOf(w);
      assert.equal(check.status, 'failed');
      assert.match(check.diag, /exited with code 3; last line of stderr: it broke/);
      assert.equal(w.nativeExitCode, 3);
      assert.equal(w.nativeStatus, 'failed');
      assert.ok(w.startTime !== null && w.endTime !== null && w.startTime <= w.endTime);
      assert.equal(await readFile(join(w.accessPoint!, 'payload.stdout'), 'utf8'), 'hello\n');
      assert.equal((await readFile(join(w.accessPoint!, 'payload.exit_code'), 'utf8')).trim(), '3');
    });
  });

  test('a payload exiting 0 is finished; a worker without jobs runs the section command; PanDA transformation + jobPars run too', async () => {
    await withTempDir(async (dir) => {
      const withJob = worker(dir, 1, 'echo "$HARVESTER_WORKER_ID $HARVESTER_PANDA_ID"');
      const noJob = worker(dir, 2);
      const panda = worker(dir, 3);
      panda.jobSpecs = [new JobSpec({ PandaID: 7, jobParams: { transformation: 'printf', jobPars: "'%s-%s' a 'b c'" } })];
      const submitter = new LocalProcessSubmitter({ command: 'pwd' });
      const outcomes = await submitter.submitWorkers(testContext(), [withJob, noJob, panda]);
      assert.deepEqual(outcomes.map((o) => o.kind), ['succeeded', 'succeeded', 'succeeded']);
      for (const w of [withJob, noJob, panda]) {
        const check = await finalCheckOf(w);
        assert.equal(check.status, 'finished', check.diag);
        assert.equal(w.nativeExitCode, 0);
        assert.equal(w.nativeStatus, 'done');
      }
      const stdout = (w: WorkSpec): Promise<string> => readFile(join(w.accessPoint!, 'payload.stdout'), 'utf8');
      assert.equal(await stdout(withJob), '1 1001\n');
      assert.equal(await stdout(noJob), `${noJob.accessPoint}\n`, 'runs in the access point');
      assert.equal(await stdout(panda), 'a-b c');
    });
  });

  test('a command full of quotes reaches the shell unchanged (it travels in the environment)', async () => {
    await withTempDir(async (dir) => {
      const command = `printf '%s\\n' "it's" '"quoted"' '$HOME' \`echo back\``;
      const w = worker(dir, 1, command);
      await new LocalProcessSubmitter().submitWorkers(testContext(), [w]);
      assert.equal((await finalCheckOf(w)).status, 'finished');
      assert.equal(await readFile(join(w.accessPoint!, 'payload.stdout'), 'utf8'), `it's\n"quoted"\n$HOME\nback\n`);
    });
  });

  test('a worker with no command, no accessPoint or no workerID fails for good without starting anything', async () => {
    await withTempDir(async (dir) => {
      const noCommand = worker(dir, 1);
      const noAccessPoint = new WorkSpec({ workerID: 2 });
      const outcomes = await new LocalProcessSubmitter().submitWorkers(testContext(), [noCommand, noAccessPoint]);
      assert.deepEqual(outcomes.map((o) => o.kind), ['failed', 'failed']);
      assert.match(outcomes[0]!.diag, /no command to run/);
      assert.equal(noCommand.batchID, null);
      await assert.rejects(access(noCommand.accessPoint!));
    });
  });

  test('submitting the same worker twice starts one payload and answers both times with its batchID', async () => {
    await withTempDir(async (dir) => {
      const w = worker(dir, 1, 'sleep 0.3');
      const submitter = new LocalProcessSubmitter();
      await submitter.submitWorkers(testContext(), [w]);
      const again = sameWorkerAgain(w);
      const [second] = await submitter.submitWorkers(testContext(), [again]);
      assert.equal(second!.kind, 'succeeded');
      assert.match(second!.diag, /already started/);
      assert.equal(again.batchID, w.batchID);
      // Also after it ended: the store's lost update must not make it run again.
      await finalCheckOf(w);
      const third = sameWorkerAgain(w);
      await submitter.submitWorkers(testContext(), [third]);
      assert.equal(third.batchID, w.batchID);
      assert.deepEqual(await submittedLines(join(w.accessPoint!, 'submitted.log')), [`1 ${w.batchID}`]);
    });
  });

  test('two submitters racing on one worker start one payload: the access point is claimed once', async () => {
    await withTempDir(async (dir) => {
      const log = join(dir, 'all-submitted.log');
      const w = worker(dir, 1, 'echo ran >> ran.txt');
      const twin = sameWorkerAgain(w);
      const [a, b] = await Promise.all([
        new LocalProcessSubmitter({ submittedLog: log }).submitWorkers(testContext(), [w]),
        new LocalProcessSubmitter({ submittedLog: log }).submitWorkers(testContext(), [twin]),
      ]);
      assert.equal(a![0]!.kind, 'succeeded', a![0]!.diag);
      assert.equal(b![0]!.kind, 'succeeded', b![0]!.diag);
      assert.equal(twin.batchID, w.batchID);
      await finalCheckOf(w);
      assert.deepEqual(await submittedLines(log), [`1 ${w.batchID}`]);
      assert.equal(await readFile(join(w.accessPoint!, 'ran.txt'), 'utf8'), 'ran\n');
    });
  });

  test('a record written before a crash that happened before the spawn does not block the retry', async () => {
    await withTempDir(async (dir) => {
      const w = worker(dir, 1, 'true');
      const record = { workerID: 1, queueName: 'TEST_QUEUE', host: 'h', attemptedAt: new Date().toISOString(), attempts: 1 };
      execFileSync('mkdir', ['-p', w.accessPoint!]);
      await writeFile(join(w.accessPoint!, 'local_process_submission.json'), JSON.stringify(record));
      const [outcome] = await new LocalProcessSubmitter().submitWorkers(testContext(), [w]);
      assert.equal(outcome!.kind, 'succeeded', outcome!.diag);
      assert.equal((await finalCheckOf(w)).status, 'finished');
      assert.equal((await submittedLines(join(w.accessPoint!, 'submitted.log'))).length, 1);
      const written = JSON.parse(await readFile(join(w.accessPoint!, 'local_process_submission.json'), 'utf8')) as { attempts: number };
      assert.equal(written.attempts, 2);
    });
  });

  test("an access point recorded for another worker is refused", async () => {
    await withTempDir(async (dir) => {
      const first = worker(dir, 1, 'true');
      await new LocalProcessSubmitter().submitWorkers(testContext(), [first]);
      const intruder = new WorkSpec({ workerID: 2, accessPoint: first.accessPoint });
      intruder.jobSpecs = first.jobSpecs;
      const [outcome] = await new LocalProcessSubmitter().submitWorkers(testContext(), [intruder]);
      assert.equal(outcome!.kind, 'failed');
      assert.match(outcome!.diag, /belongs to worker 1/);
      await finalCheckOf(first);
    });
  });

  test('the payload is detached: its own session and process group, not ours, and not our child', async () => {
    await withTempDir(async (dir) => {
      const w = worker(dir, 1, 'sleep 5');
      await new LocalProcessSubmitter().submitWorkers(testContext(), [w]);
      const pid = Number(w.batchID);
      try {
        assert.equal(Number(psField(pid, 'pgid')), pid, 'leads its process group');
        assert.equal(Number(psField(pid, 'sid')), pid, 'leads its session');
        assert.notEqual(Number(psField(process.pid, 'pgid')), pid);
        assert.equal((await checkOf(w)).status, 'running');
        assert.equal(w.nativeStatus, 'running');
      } finally {
        process.kill(-pid, 'SIGKILL');
      }
    });
  });

  test('a payload killed without a chance to write its exit code has vanished (failed)', async () => {
    await withTempDir(async (dir) => {
      const w = worker(dir, 1, 'sleep 5');
      await new LocalProcessSubmitter().submitWorkers(testContext(), [w]);
      process.kill(-Number(w.batchID), 'SIGKILL');
      const check = await finalCheckOf(w);
      assert.equal(check.status, 'failed');
      assert.match(check.diag, /payload vanished/);
      assert.equal(w.nativeStatus, 'vanished');
    });
  });

  test('a worker whose access point directory was removed is failed with a diag naming the directory', async () => {
    await withTempDir(async (dir) => {
      const w = worker(dir, 1, 'sleep 5');
      await new LocalProcessSubmitter().submitWorkers(testContext(), [w]);
      process.kill(-Number(w.batchID), 'SIGKILL');
      await rm(w.accessPoint!, { recursive: true, force: true });
      const check = await checkOf(w);
      assert.equal(check.status, 'failed');
      assert.match(check.diag, new RegExp(`access point ${w.accessPoint!.replace(/[/.]/g, '\\$&')} does not exist`));
    });
  });

  test('an aborted submission starts nothing and asks to retry', async () => {
    await withTempDir(async (dir) => {
      const controller = new AbortController();
      controller.abort(new Error('shutdown'));
      const w = worker(dir, 1, 'true');
      const [outcome] = await new LocalProcessSubmitter().submitWorkers(testContext(undefined, controller.signal), [w]);
      assert.equal(outcome!.kind, 'retry');
      assert.match(outcome!.diag, /shutdown/);
      await assert.rejects(access(w.accessPoint!));
    });
  });

  test('a spawn attempted but not yet claimed is submitted until startTimeout, then failed', async () => {
    await withTempDir(async (dir) => {
      const w = worker(dir, 1);
      execFileSync('mkdir', ['-p', w.accessPoint!]);
      const record = (at: Date): string => JSON.stringify({ workerID: 1, queueName: 'Q', host: 'h', attemptedAt: at.toISOString(), attempts: 1 });
      await writeFile(join(w.accessPoint!, 'local_process_submission.json'), record(new Date()));
      assert.equal((await checkOf(w)).status, 'submitted');
      await writeFile(join(w.accessPoint!, 'local_process_submission.json'), record(new Date(Date.now() - 120_000)));
      const late = await checkOf(w);
      assert.equal(late.status, 'failed');
      assert.match(late.diag, /never claimed/);
    });
  });

  test('a live process with the recorded pid but another start time is not taken for the payload', async () => {
    await withTempDir(async (dir) => {
      const w = worker(dir, 1);
      execFileSync('mkdir', ['-p', w.accessPoint!]);
      // Our own pid is alive; the start time recorded is not ours: a reused pid.
      await writeFile(join(w.accessPoint!, 'payload.pid'), `${process.pid} 1 -\n`);
      const check = await checkOf(w);
      assert.equal(check.status, 'failed');
      assert.match(check.diag, /vanished/);
      assert.equal(w.batchID, String(process.pid), 'the monitor reconciles a missing batchID from the claim');
    });
  });
});

describe('LocalProcessSweeper', () => {
  test('kills a running payload with its whole process group, then sweeping removes the access point', async () => {
    await withTempDir(async (dir) => {
      const w = worker(dir, 1, 'sleep 30 & sleep 30; wait');
      await new LocalProcessSubmitter().submitWorkers(testContext(), [w]);
      const pgid = Number(w.batchID);
      assert.equal((await checkOf(w)).status, 'running');
      // Wait until the payload has forked its sleepers: wrapper, shell and both sleeps share the group.
      for (const deadline = Date.now() + 3000; liveMembersOf(pgid).length < 4; await sleep(20)) {
        if (Date.now() > deadline) assert.fail(`the group holds only ${liveMembersOf(pgid).join(', ')}`);
      }

      const sweeper = new LocalProcessSweeper({ killGracePeriod: 2 });
      const killed = await sweeper.killWorker(testContext(), w);
      assert.equal(killed.kind, 'succeeded', killed.diag);
      assert.deepEqual(liveMembersOf(pgid), [], 'no process of the group is left');
      const check = await finalCheckOf(w);
      assert.equal(check.status, 'failed');
      assert.match(check.diag, /killed by SIGTERM \(exit code 143\)/);

      const again = await sweeper.killWorker(testContext(), w);
      assert.equal(again.kind, 'succeeded', 'killing a dead worker succeeds');
      assert.match(again.diag, /already ended/);

      assert.equal((await sweeper.sweepWorker(testContext(), w)).kind, 'succeeded');
      await assert.rejects(access(w.accessPoint!));
      assert.equal((await sweeper.sweepWorker(testContext(), w)).kind, 'succeeded', 'sweeping twice succeeds');
    });
  });

  test('a payload ignoring SIGTERM is killed with SIGKILL after the grace period; many are killed together', async () => {
    await withTempDir(async (dir) => {
      const stubborn = worker(dir, 1, "trap '' TERM; sleep 30");
      const polite = worker(dir, 2, 'sleep 30');
      await new LocalProcessSubmitter().submitWorkers(testContext(), [stubborn, polite]);
      await waitForCommandInGroup(Number(stubborn.batchID), 'sleep'); // its trap is in place
      const outcomes = await new LocalProcessSweeper({ killGracePeriod: 0.3 }).killWorkers(testContext(), [stubborn, polite]);
      assert.deepEqual(outcomes.map((o) => o.kind), ['succeeded', 'succeeded']);
      assert.match(outcomes[0]!.diag, /SIGKILL/);
      assert.match(outcomes[1]!.diag, /after SIGTERM/);
      assert.deepEqual(liveMembersOf(Number(stubborn.batchID)), []);
      assert.deepEqual(liveMembersOf(Number(polite.batchID)), []);
    });
  });

  test('an abort during the grace period stops waiting and asks to retry; the payload got SIGTERM', async () => {
    await withTempDir(async (dir) => {
      const w = worker(dir, 1, "trap '' TERM; sleep 30");
      await new LocalProcessSubmitter().submitWorkers(testContext(), [w]);
      await waitForCommandInGroup(Number(w.batchID), 'sleep');
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error('shutdown')), 200);
      try {
        const [outcome] = await new LocalProcessSweeper({ killGracePeriod: 20 }).killWorkers(testContext(undefined, controller.signal), [w]);
        assert.equal(outcome!.kind, 'retry');
        assert.match(outcome!.diag, /aborted/);
        assert.notDeepEqual(liveMembersOf(Number(w.batchID)), [], 'not SIGKILLed by an aborted call');
      } finally {
        process.kill(-Number(w.batchID), 'SIGKILL');
      }
    });
  });

  test('sweeping a still running payload kills it first; a worker never started is nothing to kill', async () => {
    await withTempDir(async (dir) => {
      const w = worker(dir, 1, 'sleep 30');
      await new LocalProcessSubmitter().submitWorkers(testContext(), [w]);
      const sweeper = new LocalProcessSweeper({ killGracePeriod: 1 });
      assert.equal((await sweeper.sweepWorker(testContext(), w)).kind, 'succeeded');
      assert.deepEqual(liveMembersOf(Number(w.batchID)), []);
      await assert.rejects(access(w.accessPoint!));

      const never = worker(dir, 2);
      const outcome = await sweeper.killWorker(testContext(), never);
      assert.equal(outcome.kind, 'succeeded');
      assert.match(outcome.diag, /nothing to kill/);
    });
  });

  test('refuses to remove an access point that is the root or the home directory', async () => {
    const sweeper = new LocalProcessSweeper();
    const root = await sweeper.sweepWorker(testContext(), new WorkSpec({ workerID: 1, accessPoint: '/' }));
    assert.equal(root.kind, 'failed');
    assert.match(root.diag, /root directory/);
    const home = await sweeper.sweepWorker(testContext(), new WorkSpec({ workerID: 2, accessPoint: homedir() }));
    assert.equal(home.kind, 'failed');
    assert.match(home.diag, /home directory/);
  });
});
