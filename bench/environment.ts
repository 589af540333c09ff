// Where the benchmark runs: the SSH cases need root and the testbed (network namespaces), and must run
// inside hv-core; the loopback-SSH case runs in a child inside hv-hpc. This module brings the testbed up
// when it is down (and says so, so the caller takes it down again) and starts those child processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { inCoreNamespace, loadTestbed, testbedProblem, type Testbed, type TestbedNamespace } from '../test/support/testbed.js';

/** A testbed command or a child run of the benchmark failed. */
export class BenchEnvironmentError extends Error {
  constructor(
    message: string,
    readonly step: string,
  ) {
    super(`${message} (step ${step})`);
    this.name = 'BenchEnvironmentError';
  }
}

export const isRoot = (): boolean => process.getuid?.() === 0;
export { inCoreNamespace, loadTestbed, testbedProblem, type Testbed };

/** This compiled script, to run again in a namespace. */
export const benchScript = fileURLToPath(new URL('./middleware.js', import.meta.url));

function waitForExit(child: ChildProcess, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    child.once('error', (error) => reject(new BenchEnvironmentError(`cannot start ${what}: ${error.message}`, what)));
    child.once('close', (code, signal) => resolve(code ?? (signal !== null ? 128 : 1)));
  });
}

/** Runs scripts/testbed with `args`; its output goes to our stderr (the table owns stdout). */
export async function runTestbedScript(script: string, args: string[]): Promise<void> {
  const child = spawn('bash', [script, ...args], { stdio: ['ignore', 2, 2] });
  const code = await waitForExit(child, `scripts/testbed ${args.join(' ')}`);
  if (code !== 0) throw new BenchEnvironmentError(`scripts/testbed ${args.join(' ')} exited with ${code}`, `testbed ${args[0] ?? ''}`);
}

/** The repository's scripts/testbed, found from this file (dist/bench/ -> repository root). */
export const testbedScript = fileURLToPath(new URL('../../scripts/testbed', import.meta.url));

/**
 * Makes sure the testbed is up. Returns true when this call brought it up (the caller then takes it down),
 * false when it was already up (others may be using it: leave it).
 */
export async function ensureTestbed(progress: (line: string) => void): Promise<boolean> {
  if (testbedProblem({ inCore: false }) === undefined) return false;
  progress('testbed is not up: bringing it up with scripts/testbed up (and down again at the end)');
  await runTestbedScript(testbedScript, ['up']);
  const problem = testbedProblem({ inCore: false });
  if (problem !== undefined) throw new BenchEnvironmentError(`the testbed is still not usable after scripts/testbed up: ${problem}`, 'testbed up');
  return true;
}

/** Runs this script again inside `namespace` with `args`; stdout and stderr are ours. Resolves to its exit code. */
export function rerunIn(namespace: TestbedNamespace, args: string[]): { child: ChildProcess; exit: Promise<number> } {
  const child = spawn('ip', ['netns', 'exec', namespace, process.execPath, '--enable-source-maps', benchScript, ...args], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return { child, exit: waitForExit(child, `the benchmark in ${namespace}`) };
}

/** Runs this script in `namespace` and returns what it printed on stdout (its stderr is ours). */
export async function runForOutput(namespace: TestbedNamespace, args: string[]): Promise<string> {
  const child = spawn('ip', ['netns', 'exec', namespace, process.execPath, '--enable-source-maps', benchScript, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const code = await waitForExit(child, `the benchmark in ${namespace}`);
  if (code !== 0) throw new BenchEnvironmentError(`the benchmark child in ${namespace} exited with ${code}`, `child ${args.join(' ')}`);
  return out;
}
