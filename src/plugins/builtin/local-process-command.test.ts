// Which command a local-process worker runs, and the checks on the job's command fields.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { JobSpec, WorkSpec } from '../../spec/index.js';
import { payloadCommandOf, PayloadCommandError } from './local-process-command.js';
import { shellQuote } from '../shell-quote.js';

function withJob(jobParams: Record<string, unknown> | null): WorkSpec {
  const w = new WorkSpec({ workerID: 5 });
  w.jobSpecs = [new JobSpec({ PandaID: 42, jobParams })];
  return w;
}

const useJob = { defaultCommand: undefined, useJobCommand: true };

describe('payloadCommandOf', () => {
  test("the first job's jobParams.command wins over transformation and the section command", () => {
    const w = withJob({ command: 'run-me', transformation: 'other' });
    assert.deepEqual(payloadCommandOf(w, { defaultCommand: 'pilot', useJobCommand: true }), { command: 'run-me', source: 'jobParams.command' });
  });

  test('transformation is quoted as one word and jobPars follows as shell text', () => {
    const w = withJob({ transformation: "/opt/my tool's", jobPars: '--in "a b" -n 2' });
    assert.deepEqual(payloadCommandOf(w, useJob), { command: `'/opt/my tool'\\''s' --in "a b" -n 2`, source: 'jobParams.transformation' });
    assert.equal(payloadCommandOf(withJob({ transformation: 'echo' }), useJob).command, `'echo'`);
  });

  test('the section command serves workers without jobs, jobs without a command, and every worker when useJobCommand is false', () => {
    const pilot = { defaultCommand: './pilot.sh', useJobCommand: true };
    assert.equal(payloadCommandOf(new WorkSpec({ workerID: 1 }), pilot).source, 'option command');
    assert.equal(payloadCommandOf(withJob({ jobName: 'x' }), pilot).command, './pilot.sh');
    assert.equal(payloadCommandOf(withJob({ command: 'job' }), { defaultCommand: './pilot.sh', useJobCommand: false }).command, './pilot.sh');
  });

  test('no command anywhere, or a command field of the wrong type, is a PayloadCommandError naming worker and job', () => {
    assert.throws(() => payloadCommandOf(new WorkSpec({ workerID: 1 }), useJob), (e: unknown) => e instanceof PayloadCommandError && /worker 1: no command/.test(e.message));
    assert.throws(() => payloadCommandOf(withJob(null), useJob), /worker 5 \(job 42\): no command to run/);
    assert.throws(() => payloadCommandOf(withJob({ command: ['ls'] }), useJob), /jobParams\.command must be a string/);
    assert.throws(() => payloadCommandOf(withJob({ command: '   ' }), useJob), /no command to run/);
  });

  test('shellQuote round-trips any text through /bin/sh', () => {
    for (const text of ["it's", '"$HOME" `x` \\ \n!*', '', "''"]) {
      assert.equal(execFileSync('/bin/sh', ['-c', `printf %s ${shellQuote(text)}`], { encoding: 'utf8' }), text);
    }
  });
});
