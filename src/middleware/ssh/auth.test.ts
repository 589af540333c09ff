import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { registerSecret } from '../../logging/index.js';
import type { AnyAuthMethod, KeyboardInteractiveAuthMethod, ParsedKey, Prompt } from 'ssh2';
import { availableMethods, planAuth, runOtpCommand, type AuthInputs } from './auth.js';
import { RedactedSecret, type SshAuth, type SshHop } from './route.js';

const endpoint = { host: 'hpc', port: 22, user: 'alice', pinnedHostKeys: [] };
/** The hop with these credentials. */
const hop = (auth: SshAuth): SshHop => ({ ...endpoint, auth });
const password = new RedactedSecret('pw');
// planAuth only hands the key through to ssh2; its content does not matter for these tests.
const fakeKey = {} as ParsedKey;

/** Drives the handler the way ssh2 does: first with nulls, then with the server's remaining methods. */
function next(inputs: ReturnType<typeof planAuth>, methodsLeft: string[] | null): AnyAuthMethod | false {
  let chosen: AnyAuthMethod | false | undefined;
  (inputs.handler as unknown as (m: string[] | null, p: boolean | null, cb: (a: AnyAuthMethod | false) => void) => void)(methodsLeft, null, (a) => {
    chosen = a;
  });
  assert.ok(chosen !== undefined, 'the handler must answer synchronously');
  return chosen;
}

function answers(method: AnyAuthMethod | false, prompts: Prompt[]): Promise<string[]> {
  assert.ok(method !== false && method.type === 'keyboard-interactive');
  return new Promise((resolve) => (method as KeyboardInteractiveAuthMethod).prompt('', '', '', prompts, resolve));
}

describe('authentication plan', () => {
  test('tries agent, key, password, keyboard-interactive in that order', () => {
    assert.deepEqual(availableMethods({ useAgent: true, password, otpCommand: 'x' }, true, '/run/agent.sock'), ['agent', 'publickey', 'password', 'keyboard-interactive']);
    assert.deepEqual(availableMethods({ useAgent: true }, false, undefined), []);
    assert.deepEqual(availableMethods({ useAgent: false, otpCommand: 'x' }, false, undefined), ['keyboard-interactive']);
  });

  test('preferredMethods restricts and reorders, ignoring methods the configuration cannot do', () => {
    assert.deepEqual(availableMethods({ useAgent: false, password, preferredMethods: ['keyboard-interactive', 'publickey', 'password'] }, false, undefined), [
      'keyboard-interactive',
      'password',
    ]);
  });

  test('asks with none first, then skips what the server does not accept, then gives up', () => {
    const inputs: AuthInputs = { hop: hop({ useAgent: false, password }), key: fakeKey };
    const plan = planAuth(inputs);
    assert.deepEqual(next(plan, null), { type: 'none', username: 'alice' });
    const first = next(plan, ['password', 'keyboard-interactive']);
    assert.ok(first !== false && first.type === 'password');
    const second = next(plan, ['keyboard-interactive']);
    assert.ok(second !== false && second.type === 'keyboard-interactive');
    assert.equal(next(plan, ['keyboard-interactive']), false);
    assert.deepEqual(plan.tried, ['password', 'keyboard-interactive']);
    assert.deepEqual(plan.serverMethods(), ['keyboard-interactive']);
  });

  test('answers hidden prompts with the password and echoed ones with the user name', async () => {
    const plan = planAuth({ hop: hop({ useAgent: false, password }) });
    next(plan, null);
    // The server does not accept 'password', so keyboard-interactive comes next.
    const kbd = next(plan, ['keyboard-interactive']);
    assert.deepEqual(await answers(kbd, [{ prompt: 'Login: ', echo: true }, { prompt: 'Password: ', echo: false }]), ['alice', 'pw']);
  });

  test("with an otpCommand, runs it afresh for every prompt, with the hop's password", async () => {
    let runs = 0;
    const given: (string | undefined)[] = [];
    const runOtp = (_command: string, context: { password?: RedactedSecret }) => {
      given.push(context.password?.reveal());
      return Promise.resolve(`code${++runs}`);
    };
    const plan = planAuth({ hop: hop({ useAgent: false, otpCommand: 'otp', password }), runOtp });
    next(plan, null);
    const kbd = next(plan, ['keyboard-interactive']);
    assert.deepEqual(await answers(kbd, [{ prompt: 'Password: ', echo: false }, { prompt: 'OTP: ', echo: false }]), ['code1', 'code2']);
    assert.equal(plan.otpFailure(), undefined);
    assert.deepEqual(given, ['pw', 'pw']);
  });

  test('a failing otpCommand answers empty and is remembered as the cause', async () => {
    const plan = planAuth({ hop: hop({ useAgent: false, otpCommand: 'otp' }), runOtp: () => Promise.reject(new Error('exit 3')) });
    next(plan, null);
    const kbd = next(plan, ['keyboard-interactive']);
    assert.deepEqual(await answers(kbd, [{ prompt: 'OTP: ', echo: false }]), ['']);
    assert.match(plan.otpFailure()?.message ?? '', /exit 3/);
  });
});

/** Every process's command line, NUL separators made spaces. */
function allCommandLines(): string[] {
  const lines: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      lines.push(readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' '));
    } catch {
      // The process exited between readdir and read: it shows nothing any more.
      continue;
    }
  }
  return lines;
}

describe('runOtpCommand', () => {
  test("puts neither the command's text nor the hop's password on a command line, and gives the command the password", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'hv-otp-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const pidFile = join(dir, 'pid');
    const goFile = join(dir, 'go');
    const marker = `otp-text-${randomBytes(6).toString('hex')}`;
    const secretPassword = `otp-password-${randomBytes(6).toString('hex')}`;
    // The shell writes its pid and waits, so its command line can be read while it runs.
    const command = `echo $$ > '${pidFile}'; while [ ! -e '${goFile}' ]; do sleep 0.01; done; printf '%s+%s' "$HARVESTER_SSH_PASSWORD" ${marker}`;
    const answer = runOtpCommand(command, { password: new RedactedSecret(secretPassword) });
    while (!existsSync(pidFile) || readFileSync(pidFile, 'utf8').trim() === '') await sleep(5);
    const pid = readFileSync(pidFile, 'utf8').trim();
    const shellLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    const everyLine = allCommandLines();
    writeFileSync(goFile, '');
    assert.equal(await answer, `${secretPassword}+${marker}`);
    assert.ok(shellLine.startsWith('/bin/sh -c'), shellLine);
    for (const line of everyLine) {
      assert.ok(!line.includes(marker), `the command's text is on a command line: ${line}`);
      assert.ok(!line.includes(secretPassword), 'the password is on a command line');
    }
  });

  test('refuses, without running it, a command whose text holds a registered secret', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'hv-otp-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const registered = `registered-${randomBytes(6).toString('hex')}`;
    registerSecret(registered);
    const ran = join(dir, 'ran');
    const error = await runOtpCommand(`touch '${ran}'; oathtool --totp ${registered}`).then(
      () => assert.fail('should be refused'),
      (e: unknown) => e as Error,
    );
    assert.match(error.message, /contains a configured secret/);
    assert.ok(!error.message.includes(registered));
    assert.equal(existsSync(ran), false);
  });

  test('returns stdout without the final newline', async () => {
    assert.equal(await runOtpCommand("printf 'abc 123\\n'"), 'abc 123');
  });

  test('fails with the exit status, without echoing the command or its output', async () => {
    const error = await runOtpCommand('echo seed-XYZ >&2; echo out-XYZ; exit 4').then(
      () => assert.fail('should fail'),
      (e: unknown) => e as Error,
    );
    assert.match(error.message, /exit 4/);
    assert.ok(!error.message.includes('XYZ'));
  });
});
