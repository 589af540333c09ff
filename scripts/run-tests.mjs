#!/usr/bin/env node
// Runs every compiled test file in ONE node --test run (so there is one summary). When we are root, the
// multi-host testbed (scripts/testbed) is brought up first and the whole run happens inside the hv-core
// network namespace, from where the jump and hpc hosts are reachable; it is torn down afterwards, whatever
// happened. Outside CI, without root, tests needing the testbed skip themselves and say why; under CI=true
// a missing prerequisite fails the run.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const ci = process.env.CI === 'true';
const filters = process.argv.slice(2);

function findTests(dir) {
  if (!existsSync(dir)) return [];
  const found = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) found.push(...findTests(path));
    else if (entry.endsWith('.test.js')) found.push(path);
  }
  return found.sort();
}

function fail(message) {
  console.error(`run-tests: ${message}`);
  process.exit(1);
}

if (!existsSync(join(root, 'dist'))) fail('dist/ is missing: build first (make test does)');
let files = [...findTests(join(root, 'dist', 'src')), ...findTests(join(root, 'dist', 'test'))];
if (filters.length > 0) files = files.filter((f) => filters.some((pattern) => f.includes(pattern)));
if (files.length === 0) fail('no test files found');

const isRoot = process.getuid?.() === 0;
const needsTestbed = files.some((f) => relative(root, f).startsWith(join('dist', 'test')));
let testbedUp = false;
const testbed = join(root, 'scripts', 'testbed');

if (needsTestbed) {
  if (!isRoot) {
    if (ci) fail('the testbed tests need root (network namespaces, sshd); CI runs as root, so this is a broken CI machine');
    console.error('run-tests: not root: the testbed tests (real sshd through a jump host) will skip themselves');
  } else {
    const up = spawnSync('bash', [testbed, 'up'], { stdio: 'inherit', cwd: root });
    if (up.status !== 0) {
      spawnSync('bash', [testbed, 'down'], { stdio: 'inherit', cwd: root });
      fail(`scripts/testbed up failed (exit ${up.status}); see its messages above`);
    }
    testbedUp = true;
  }
}

// One file at a time: fault tests stop sshd or kill bots on the shared testbed, and CI has 2 cores anyway.
const nodeArgs = ['--test', '--test-concurrency=1', '--enable-source-maps', '--test-reporter=spec', ...files];
const command = testbedUp ? ['ip', ['netns', 'exec', 'hv-core', process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs];
let status = 1;
try {
  const run = spawnSync(command[0], command[1], { stdio: 'inherit', cwd: root, env: { ...process.env, HARVESTER_TESTBED: testbedUp ? '1' : '' } });
  status = run.status ?? 1;
} finally {
  if (testbedUp) {
    const down = spawnSync('bash', [testbed, 'down'], { stdio: 'inherit', cwd: root });
    if (down.status !== 0) {
      console.error('run-tests: scripts/testbed down failed; namespaces or sshd may be left behind');
      status = status || 1;
    }
  }
}
process.exit(status);
