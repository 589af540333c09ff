// Usage of the `harvester` command itself: help everywhere, one-line reasons with exit 2 for bad usage, and
// the package's version.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { outputLines, packageRoot, runCli, TempDirs, type CliResult } from './support.js';

const dirs = new TempDirs();
after(() => dirs.cleanup());

/** Subcommand names listed under "Commands:" in a help text (commander's own `help` left out). */
function subcommandsIn(help: string): string[] {
  const lines = help.split('\n');
  const start = lines.indexOf('Commands:');
  if (start < 0) return [];
  const names: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '') break;
    const match = /^ {2}(\S+)/.exec(line);
    if (match !== null && match[1] !== 'help') names.push(match[1]!);
  }
  return names;
}

function assertOneLineUsageError(result: CliResult, reason: RegExp): void {
  assert.equal(result.status, 2, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  assert.equal(result.stdout, '');
  const lines = outputLines(result.stderr);
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, reason);
}

describe('help', () => {
  test('--help on the program and on every subcommand, found from the help texts themselves, exits 0', async () => {
    const home = dirs.make('help');
    const seen: string[] = [];
    // Breadth first over the command tree; each level's help names the next level.
    let level: string[][] = [[]];
    while (level.length > 0) {
      const results = await Promise.all(level.map((path) => runCli([...path, '--help'], { home })));
      const next: string[][] = [];
      results.forEach((result, i) => {
        const path = level[i]!;
        assert.equal(result.status, 0, `harvester ${path.join(' ')} --help: ${result.stderr}`);
        assert.ok(result.stdout.startsWith(`Usage: harvester${path.map((p) => ` ${p}`).join('')} `), result.stdout);
        seen.push(path.join(' '));
        for (const name of subcommandsIn(result.stdout)) next.push([...path, name]);
      });
      level = next;
    }
    // The tree really was walked: the commands the README promises are among those seen.
    for (const command of ['queues check', 'queues show', 'plugins list', 'plugins try', 'bot start', 'bot stop', 'bot status', 'tunnel-test']) {
      assert.ok(seen.includes(command), `'${command} --help' was not reached (seen: ${seen.join(', ')})`);
    }
  });
});

describe('bad usage exits 2 with a one-line reason on stderr', { concurrency: true }, () => {
  const cases: [string, string[], RegExp][] = [
    ['an unknown command', ['frobnicate'], /unknown command 'frobnicate'/],
    ['plugins try without --queue', ['plugins', 'try'], /required option '--queue <name>'/],
    ['tunnel-test without --queue', ['tunnel-test'], /required option '--queue <name>'/],
    ['queues show without a queue name', ['queues', 'show'], /missing required argument 'name'/],
    ['--workers 0', ['plugins', 'try', '--queue', 'local', '--workers', '0'], /'--workers <n>' argument '0' is invalid/],
    ['--workers abc', ['plugins', 'try', '--queue', 'local', '--workers', 'abc'], /'--workers <n>' argument 'abc' is invalid/],
  ];
  for (const [what, args, reason] of cases) {
    test(what, async () => {
      assertOneLineUsageError(await runCli(args, { home: dirs.make('usage') }), reason);
    });
  }
});

describe('version', () => {
  test("--version prints package.json's version", async () => {
    const { version } = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };
    const result = await runCli(['--version'], { home: dirs.make('version') });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim(), version);
  });
});
