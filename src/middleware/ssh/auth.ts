// Authentication for one hop: the methods we have, tried in a fixed order (ssh-agent, private key,
// password, keyboard-interactive), each only if the server still accepts it. We remember what we tried and
// what the server offered so that a failure can say so, without ever recording a value. Only the hop's own
// credentials are used (route.ts decides which those are): nothing configured for one host reaches the other.
//
// Keyboard-interactive answers: with an otpCommand, every prompt gets the stdout of a fresh run of that
// command (trailing newline removed), because one-time passwords must not be reused across prompts; the
// command may print "password+OTP" itself if the site wants both in one prompt (the hop's password is in
// its environment for that). Without one, hidden prompts get the password and echoed prompts (e.g.
// "Username:") get the user name.
import { execFile } from 'node:child_process';
import type { AuthHandlerMiddleware, AuthenticationType, AnyAuthMethod, ParsedKey, Prompt } from 'ssh2';
import { maskSecrets } from '../../logging/index.js';
import type { RedactedSecret, SshAuth, SshHop } from './route.js';

export type AuthMethodName = 'agent' | 'publickey' | 'password' | 'keyboard-interactive';

/** What an otpCommand may use besides its text: the password configured for the same hop. */
export interface OtpContext {
  readonly password?: RedactedSecret;
}

/** Runs the otpCommand and returns its answer; rejects when it fails. */
export type OtpRunner = (command: string, context: OtpContext) => Promise<string>;

export interface AuthAttempts {
  readonly handler: AuthHandlerMiddleware;
  /** Methods tried so far, in order; after success the last one is the method that got us in. */
  readonly tried: readonly AuthMethodName[];
  /** Methods the server last said it accepts (empty until it says). */
  serverMethods(): readonly string[];
  /** The otpCommand failure that made keyboard-interactive fail, if any. */
  otpFailure(): Error | undefined;
}

export interface AuthInputs {
  /** The hop and its own credentials (hop.auth). */
  readonly hop: SshHop;
  /** The parsed (decrypted) private key, when one is configured. */
  readonly key?: ParsedKey;
  /** $SSH_AUTH_SOCK, when an agent is available. */
  readonly agentSocket?: string;
  readonly runOtp?: OtpRunner;
}

const serverNameOf: Record<AuthMethodName, AuthenticationType> = {
  agent: 'publickey',
  publickey: 'publickey',
  password: 'password',
  'keyboard-interactive': 'keyboard-interactive',
};

/** The methods available from the configuration, in the order we try them. */
export function availableMethods(auth: SshAuth, hasKey: boolean, agentSocket: string | undefined): AuthMethodName[] {
  const methods: AuthMethodName[] = [];
  if (auth.useAgent && agentSocket !== undefined && agentSocket !== '') methods.push('agent');
  if (hasKey) methods.push('publickey');
  if (auth.password !== undefined) methods.push('password');
  if (auth.password !== undefined || auth.otpCommand !== undefined) methods.push('keyboard-interactive');
  if (auth.preferredMethods === undefined) return methods;
  return auth.preferredMethods.filter((name, i, all) => methods.includes(name) && all.indexOf(name) === i);
}

export function planAuth(inputs: AuthInputs): AuthAttempts {
  const { hop, key, agentSocket } = inputs;
  const auth = hop.auth;
  const runOtp = inputs.runOtp ?? runOtpCommand;
  const pending = availableMethods(auth, key !== undefined, agentSocket);
  const tried: AuthMethodName[] = [];
  let serverMethods: readonly string[] = [];
  let otpError: Error | undefined;

  const answerPrompts = async (prompts: Prompt[]): Promise<string[]> => {
    const answers: string[] = [];
    for (const prompt of prompts) {
      if (auth.otpCommand !== undefined) answers.push(await runOtp(auth.otpCommand, auth.password !== undefined ? { password: auth.password } : {}));
      else if (prompt.echo === true) answers.push(hop.user);
      else answers.push(auth.password?.reveal() ?? '');
    }
    return answers;
  };

  const methodFor = (name: AuthMethodName): AnyAuthMethod => {
    const username = hop.user;
    switch (name) {
      case 'agent':
        return { type: 'agent', username, agent: agentSocket ?? '' };
      case 'publickey':
        // `key` is defined whenever 'publickey' is in the plan (see availableMethods).
        return { type: 'publickey', username, key: key as ParsedKey };
      case 'password':
        return { type: 'password', username, password: auth.password?.reveal() ?? '' };
      case 'keyboard-interactive':
        return {
          type: 'keyboard-interactive',
          username,
          prompt: (_name, _instructions, _lang, prompts, finish) => {
            if (prompts.length === 0) {
              finish([]);
              return;
            }
            answerPrompts(prompts).then(finish, (error: unknown) => {
              // Answer with empty strings so the server fails this round; the caller reports otpError.
              otpError = error instanceof Error ? error : new Error(String(error));
              finish(prompts.map(() => ''));
            });
          },
        };
    }
  };

  // ssh2 calls this with null arguments first; we answer 'none' to learn which methods the server accepts.
  const handler = ((methodsLeft: AuthenticationType[] | null, _partial: boolean | null, next: (m: AnyAuthMethod | false) => void) => {
    if (methodsLeft === null) {
      next({ type: 'none', username: hop.user });
      return;
    }
    serverMethods = [...methodsLeft];
    while (pending.length > 0) {
      const name = pending.shift() as AuthMethodName;
      if (!methodsLeft.includes(serverNameOf[name])) continue;
      tried.push(name);
      next(methodFor(name));
      return;
    }
    next(false);
  }) as unknown as AuthHandlerMiddleware;

  return {
    handler,
    tried,
    serverMethods: () => serverMethods,
    otpFailure: () => otpError,
  };
}

const otpTimeoutMs = 30_000;

/** Environment variables through which runOtpCommand hands the command its text and the hop's password. */
export const OTP_COMMAND_ENV = 'HARVESTER_OTP_COMMAND';
export const OTP_PASSWORD_ENV = 'HARVESTER_SSH_PASSWORD';

/**
 * Runs `command` with /bin/sh; its stdout, minus the final newline, is the answer. Never logged.
 *
 * Nothing secret goes on a command line, where `ps` shows it to every user of the host: the command's text
 * reaches the shell in the environment (`sh -c 'eval "$HARVESTER_OTP_COMMAND"'`), and so does the hop's
 * password ($HARVESTER_SSH_PASSWORD), for commands that print "password+OTP" (printf is a shell builtin).
 * The programs the command runs get its words as their argv, so a command holding a registered secret in its
 * text is refused rather than run.
 */
export function runOtpCommand(command: string, context: OtpContext = {}): Promise<string> {
  if (maskSecrets(command) !== command) {
    return Promise.reject(new Error('refused: its text contains a configured secret, which the process list would show (use $HARVESTER_SSH_PASSWORD)'));
  }
  const env: NodeJS.ProcessEnv = { ...process.env, [OTP_COMMAND_ENV]: command };
  delete env[OTP_PASSWORD_ENV];
  if (context.password !== undefined) env[OTP_PASSWORD_ENV] = context.password.reveal();
  return new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', `eval "$${OTP_COMMAND_ENV}"`], { env, timeout: otpTimeoutMs, maxBuffer: 64 * 1024 }, (error, stdout) => {
      if (error !== null) {
        // Neither the command line (it may embed a TOTP seed) nor the output goes into the error: only how it ended.
        const code = (error as { code?: unknown }).code;
        reject(new Error(`exit ${String(code ?? 'unknown')}${error.killed ? ' (killed after timeout)' : ''}`));
        return;
      }
      resolve(stdout.replace(/\r?\n$/, ''));
    });
  });
}
