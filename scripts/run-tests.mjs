#!/usr/bin/env node
// Runs every compiled test file in ONE node --test run (so there is one summary). When we are root, the
// multi-host testbed (scripts/testbed) is brought up first and the whole run happens inside the hv-core
// network namespace, from where the jump and hpc hosts are reachable; it is torn down afterwards, whatever
// happened. The database servers of the store tests (scripts/db-servers: PostgreSQL and MariaDB) are started
// next to the tests: inside hv-core when the testbed is up (a namespace has its own loopback), else in the
// root namespace; they are stopped afterwards too. Outside CI, without root, tests needing the testbed skip themselves and say why; under CI=true
// a missing prerequisite fails the run, and so does any test that was skipped or marked todo (counted from a
// TAP copy of the run's report, so a skip nobody guarded can never leave CI green).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

const dbServers = join(root, 'scripts', 'db-servers');
const dbServersNamespace = testbedUp ? ['hv-core'] : [];
let dbServersUp = false;
if (isRoot) {
  const up = spawnSync('bash', [dbServers, 'up', ...dbServersNamespace], { stdio: 'inherit', cwd: root });
  if (up.status !== 0) {
    spawnSync('bash', [dbServers, 'down'], { stdio: 'inherit', cwd: root });
    if (testbedUp) spawnSync('bash', [testbed, 'down'], { stdio: 'inherit', cwd: root });
    fail(`scripts/db-servers up failed (exit ${up.status}); see its messages above`);
  }
  dbServersUp = true;
} else if (ci) {
  fail('the server store tests need PostgreSQL and MariaDB, which scripts/db-servers starts as root; CI runs as root, so this is a broken CI machine');
} else {
  console.error('run-tests: not root: the PostgreSQL and MariaDB store tests will skip themselves (scripts/db-servers needs root)');
}

// One file at a time: fault tests stop sshd or kill bots on the shared testbed, and CI has 2 cores anyway.
const reportDir = mkdtempSync(join(tmpdir(), 'hv-test-report-'));
const tapReport = join(reportDir, 'report.tap');
const nodeArgs = [
  '--test',
  '--test-concurrency=1',
  '--enable-source-maps',
  '--test-reporter=spec',
  '--test-reporter-destination=stdout',
  '--test-reporter=tap',
  `--test-reporter-destination=${tapReport}`,
  ...files,
];

/** The tests the TAP report marks as skipped or todo, with their reasons. */
function skippedTests(tapFile) {
  if (!existsSync(tapFile)) return [];
  const found = [];
  for (const line of readFileSync(tapFile, 'utf8').split('\n')) {
    const match = /^\s*(?:not )?ok \d+ - (.*?) # (SKIP|TODO)\b\s*(.*)$/i.exec(line);
    if (match) found.push(`${match[2].toLowerCase()}: ${match[1]}${match[3] ? ` (${match[3]})` : ''}`);
  }
  return found;
}
const command = testbedUp ? ['ip', ['netns', 'exec', 'hv-core', process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs];
let status = 1;
try {
  const run = spawnSync(command[0], command[1], { stdio: 'inherit', cwd: root, env: process.env });
  status = run.status ?? 1;
  const skipped = skippedTests(tapReport);
  if (skipped.length > 0) {
    console.error(`run-tests: ${skipped.length} test(s) skipped or todo:\n  ${skipped.join('\n  ')}`);
    if (ci) {
      console.error('run-tests: under CI=true no test may be skipped: install or start what the reasons above name');
      status = status || 1;
    }
  }
} finally {
  if (dbServersUp) {
    const down = spawnSync('bash', [dbServers, 'down'], { stdio: 'inherit', cwd: root });
    if (down.status !== 0) {
      console.error('run-tests: scripts/db-servers down failed; PostgreSQL or MariaDB may be left running');
      status = status || 1;
    }
  }
  if (testbedUp) {
    const down = spawnSync('bash', [testbed, 'down'], { stdio: 'inherit', cwd: root });
    if (down.status !== 0) {
      console.error('run-tests: scripts/testbed down failed; namespaces or sshd may be left behind');
      status = status || 1;
    }
  }
}
rmSync(reportDir, { recursive: true, force: true });
process.exit(status);
