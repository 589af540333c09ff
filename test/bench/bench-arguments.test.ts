// Every bench program's command line: an unknown option or a bad value is one line naming the problem and the
// program's usage, exit 2 — never a Node stack trace. Each program stops before it measures anything.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/bench, next to this file's dist/test/bench. */
const benchDir = fileURLToPath(new URL('../../bench/', import.meta.url));

function runBench(program: string, args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [join(benchDir, `${program}.js`), ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function assertUsageLine(program: string, result: ReturnType<typeof runBench>, problem: RegExp): void {
  assert.equal(result.status, 2, result.stderr);
  const lines = result.stderr.split('\n').filter((line) => line !== '');
  assert.equal(lines.length, 1, `one line:\n${result.stderr}`);
  assert.match(lines[0]!, problem);
  assert.ok(lines[0]!.includes(`; usage: node dist/bench/${program}.js `), lines[0]);
  assert.ok(!result.stderr.includes('ERR_PARSE_ARGS') && !/\n\s+at /.test(result.stderr), 'no stack trace');
}

describe('bench programs given bad arguments', () => {
  for (const program of ['core', 'core-trace', 'hpc', 'install', 'middleware', 'scale-out']) {
    test(`${program}: an unknown option prints one usage line and exits 2`, () => {
      assertUsageLine(program, runBench(program, ['--no-such-option']), /Unknown option '--no-such-option'/);
    });
  }

  test('an option missing its value prints one usage line and exits 2', () => {
    assertUsageLine('core', runBench('core', ['--engine']), /--engine/);
  });

  test('a bad option value prints one usage line and exits 2', () => {
    assertUsageLine('core', runBench('core', ['--metrics', 'sometimes']), /--metrics takes off, on or both, not 'sometimes'/);
    assertUsageLine('core-trace', runBench('core-trace', ['--engine', 'sqlite']), /--engine must be postgresql or mariadb/);
    assertUsageLine('middleware', runBench('middleware', ['--role', 'nobody']), /unknown --role nobody/);
  });
});
