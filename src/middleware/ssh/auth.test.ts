import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AnyAuthMethod, KeyboardInteractiveAuthMethod, ParsedKey, Prompt } from 'ssh2';
import { availableMethods, planAuth, runOtpCommand, type AuthInputs } from './auth.js';
import { RedactedSecret } from './route.js';

const hop = { host: 'hpc', port: 22, user: 'alice' };
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
    const inputs: AuthInputs = { hop, auth: { useAgent: false, password }, key: fakeKey };
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
    const plan = planAuth({ hop, auth: { useAgent: false, password } });
    next(plan, null);
    // The server does not accept 'password', so keyboard-interactive comes next.
    const kbd = next(plan, ['keyboard-interactive']);
    assert.deepEqual(await answers(kbd, [{ prompt: 'Login: ', echo: true }, { prompt: 'Password: ', echo: false }]), ['alice', 'pw']);
  });

  test('with an otpCommand, runs it afresh for every prompt', async () => {
    let runs = 0;
    const plan = planAuth({ hop, auth: { useAgent: false, otpCommand: 'otp' }, runOtp: () => Promise.resolve(`code${++runs}`) });
    next(plan, null);
    const kbd = next(plan, ['keyboard-interactive']);
    assert.deepEqual(await answers(kbd, [{ prompt: 'Password: ', echo: false }, { prompt: 'OTP: ', echo: false }]), ['code1', 'code2']);
    assert.equal(plan.otpFailure(), undefined);
  });

  test('a failing otpCommand answers empty and is remembered as the cause', async () => {
    const plan = planAuth({ hop, auth: { useAgent: false, otpCommand: 'otp' }, runOtp: () => Promise.reject(new Error('exit 3')) });
    next(plan, null);
    const kbd = next(plan, ['keyboard-interactive']);
    assert.deepEqual(await answers(kbd, [{ prompt: 'OTP: ', echo: false }]), ['']);
    assert.match(plan.otpFailure()?.message ?? '', /exit 3/);
  });
});

describe('runOtpCommand', () => {
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
