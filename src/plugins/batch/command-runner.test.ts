import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import {
  BatchCommandError,
  CommandAbortedError,
  CommandKilledError,
  CommandNotFoundError,
  CommandTimedOutError,
  commandLine,
  runCommand,
} from './command-runner.js';
import { callEffectOf } from '../call-effect.js';

describe('runCommand', () => {
  test('answers with the exit code and both outputs, whatever the code, and runs no shell around the argv', async () => {
    const result = await runCommand({ argv: ['/bin/sh', '-c', 'echo out "$1"; echo err >&2; exit 3', 'sh', 'a;b $HOME'], timeoutMs: 30_000 });
    assert.equal(result.exitCode, 3);
    assert.equal(result.stdout, 'out a;b $HOME\n');
    assert.equal(result.stderr, 'err\n');
  });

  test('sets the given variables on top of our environment', async () => {
    const result = await runCommand({ argv: ['/bin/sh', '-c', 'echo "$SLURM_CONF:${PATH:+path}"'], timeoutMs: 30_000, env: { SLURM_CONF: '/etc/slurm/client.conf' } });
    assert.equal(result.stdout, '/etc/slurm/client.conf:path\n');
  });

  test('a missing program is a CommandNotFoundError that did not run, naming the command line and the host', async () => {
    await assert.rejects(runCommand({ argv: ['/nonexistent/sbatch', '--parsable'], timeoutMs: 30_000 }), (error: unknown) => {
      assert.ok(error instanceof CommandNotFoundError);
      assert.equal(error.mayHaveRun, false);
      assert.equal(callEffectOf(error), 'not-run', 'the call effect agents read says the same');
      assert.equal(error.host, hostname());
      assert.match(error.message, /\/nonexistent\/sbatch --parsable on .*ENOENT/);
      return true;
    });
  });

  test('a command past its deadline is killed and is a CommandTimedOutError that may have run', async () => {
    await assert.rejects(runCommand({ argv: ['sleep', '30'], timeoutMs: 50 }), (error: unknown) => {
      assert.ok(error instanceof CommandTimedOutError);
      assert.equal(error.mayHaveRun, true);
      assert.equal(callEffectOf(error), 'may-have-run', 'the call effect agents read says the same');
      return true;
    });
  });

  test("aborting the call's signal kills the command: CommandAbortedError; an aborted signal runs nothing", async () => {
    const controller = new AbortController();
    const running = runCommand({ argv: ['sleep', '30'], timeoutMs: 60_000, signal: controller.signal });
    controller.abort(new Error('shutting down'));
    await assert.rejects(running, (error: unknown) => error instanceof CommandAbortedError && /shutting down/.test(error.message));
    await assert.rejects(runCommand({ argv: ['true'], timeoutMs: 1000, signal: controller.signal }), CommandAbortedError);
  });

  test('a command killed by a signal we did not send is a CommandKilledError naming the signal', async () => {
    await assert.rejects(runCommand({ argv: ['/bin/sh', '-c', 'kill -KILL $$'], timeoutMs: 30_000 }), (error: unknown) => {
      assert.ok(error instanceof CommandKilledError && error instanceof BatchCommandError);
      assert.equal(error.signal, 'SIGKILL');
      return true;
    });
  });

  test('command lines in messages quote the words a shell would split', () => {
    assert.equal(commandLine(['squeue', '-o', '%i|%j', '--name=hv-a-1,hv-a-2']), "squeue -o '%i|%j' --name=hv-a-1,hv-a-2");
  });
});
