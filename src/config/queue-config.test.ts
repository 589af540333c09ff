import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, SecretRegistry } from '../logging/index.js';
import { Writable } from 'node:stream';
import { ConfigFileError, formatProblem, type ConfigProblem } from './problems.js';
import { loadQueueConfig, parseQueueConfig, type QueueConfigOptions } from './queue-config.js';
import { maskedQueueConfig } from './masked.js';
import { methodNameToCamelCase } from './method-names.js';

const FILE = '/etc/harvester/panda_queueconfig.json';

// The wiki's "Work with Middleware" seed, verbatim, inside a queue.
const seed = `{
"NERSC_Cori": {
                "prodSourceLabel": "managed",
                "rpc": {
                        "name": "RpcHerder",
                        "module": "pandaharvester.harvestermiddleware.rpc_herder",
                        "remoteHost": "cori04",
                        "remoteBindPort": 18861,
                        "numTunnels": 3,
                        "sshUserName": "your_username",
                        "sshPassword": "your_password",
                        "jumpHost": "cori.nersc.gov"
                },
                "submitter": {
                        "name": "DummySingletonSubmitter",
                        "module": "pandaharvester.harvestersubmitter.dummy_submitter",
                        "middleware": "rpc"
                },
                "messenger": {
                        "name": "SharedFileMessenger",
                        "module": "pandaharvester.harvestermessenger.shared_file_messenger",
                        "middleware": "rpc"
                },
                "stager":{
                        "name":"DummyStager",
                        "module":"pandaharvester.harvesterstager.dummy_stager",
                        "bareFunctions": ["trigger_stage_out", "check_stage_out_status"],
                        "middleware": "rpc"
                }
}
}`;

function parse(json: unknown, opts: QueueConfigOptions = {}) {
  return parseQueueConfig(JSON.stringify(json, null, 2), FILE, { env: {}, secrets: new SecretRegistry(), ...opts });
}

const section = (name: string, extra: Record<string, unknown> = {}) => ({ name, module: `mod.${name}`, ...extra });
const rpc = { name: 'RpcHerder', module: 'pandaharvester.harvestermiddleware.rpc_herder', remoteHost: 'hpc', sshUserName: 'alice' };

function only(problems: readonly ConfigProblem[], queue: string | undefined, path: string): ConfigProblem {
  const found = problems.filter((p) => p.queue === queue && p.path === path);
  assert.equal(found.length, 1, `one problem for ${queue ?? '-'} at "${path}" in ${JSON.stringify(problems, null, 1)}`);
  return found[0]!;
}

describe("the wiki's seed queue", () => {
  const secrets = new SecretRegistry();
  const load = parseQueueConfig(seed, FILE, { env: {}, secrets });
  const queue = load.queues.get('NERSC_Cori');

  test('loads without problems', () => {
    assert.deepEqual(load.problems, []);
    assert.ok(queue);
  });

  test('routes the submitter, messenger and stager through the rpc element', () => {
    assert.equal(queue?.submitter?.middleware, 'rpc');
    assert.equal(queue?.messenger?.middleware, 'rpc');
    assert.equal(queue?.stager?.middleware, 'rpc');
    assert.equal(queue?.submitter?.name, 'DummySingletonSubmitter');
    assert.equal(queue?.submitter?.module, 'pandaharvester.harvestersubmitter.dummy_submitter');
  });

  test('fills the rpc element with its values and the defaults', () => {
    const mw = queue?.middlewares.rpc;
    assert.ok(mw);
    assert.equal(mw.key, 'rpc');
    assert.equal(mw.remoteHost, 'cori04');
    assert.equal(mw.remoteBindPort, 18861);
    assert.equal(mw.numTunnels, 3);
    assert.equal(mw.sshUserName, 'your_username');
    assert.equal(mw.jumpHost, 'cori.nersc.gov');
    assert.equal(mw.remotePort, 22);
    assert.equal(mw.jumpPort, 22);
    assert.equal(mw.launchBot, false);
    assert.equal(mw.useAgent, false);
    assert.equal(mw.strictHostKeyChecking, false);
    assert.equal(mw.callTimeout, 600);
    assert.deepEqual(mw.sshPassword, { source: 'inline', value: 'your_password' });
    assert.deepEqual(mw.extra, {});
  });

  test('camelCases bareFunctions', () => {
    assert.deepEqual(queue?.stager?.bareFunctions, ['triggerStageOut', 'checkStageOutStatus']);
    assert.deepEqual(queue?.submitter?.bareFunctions, []);
  });

  test("fills harvester's queue defaults", () => {
    assert.equal(queue?.queueName, 'NERSC_Cori');
    assert.equal(queue?.siteName, 'NERSC_Cori');
    assert.equal(queue?.queueStatus, 'online');
    assert.equal(queue?.prodSourceLabel, 'managed');
    assert.equal(queue?.mapType, 'OneToOne');
    assert.equal(queue?.runMode, 'self');
    assert.equal(queue?.allowJobMixture, false);
    assert.equal(queue?.truePilot, false);
    assert.equal(queue?.useJobLateBinding, false);
    assert.equal(queue?.maxWorkers, 0);
    assert.equal(queue?.nQueueLimitWorker, 0);
    assert.equal(queue?.maxNewWorkersPerCycle, 0);
    assert.equal(queue?.nQueueLimitJob, 0);
  });

  test('warns about the sections harvester requires that the seed leaves out', () => {
    const warning = load.warnings.find((w) => w.queue === 'NERSC_Cori' && w.path === '');
    assert.ok(warning);
    for (const kind of ['monitor', 'preparator', 'sweeper', 'workerMaker']) assert.match(warning.message, new RegExp(kind));
    assert.doesNotMatch(warning.message, /submitter|messenger|stager/);
  });

  test('registers the password so it is masked', () => {
    assert.equal(secrets.mask('login with your_password'), 'login with ***');
  });

  test('is frozen all the way down', () => {
    assert.ok(queue);
    assert.ok(Object.isFrozen(queue));
    assert.ok(Object.isFrozen(queue.middlewares));
    assert.ok(Object.isFrozen(queue.middlewares.rpc));
    assert.ok(Object.isFrozen(queue.middlewares.rpc?.sshPassword));
    assert.ok(Object.isFrozen(queue.stager));
    assert.ok(Object.isFrozen(queue.stager?.bareFunctions));
    assert.ok(Object.isFrozen(queue.stager?.options));
    assert.throws(() => {
      (queue as { maxWorkers: number }).maxWorkers = 5;
    }, TypeError);
    assert.ok(Object.isFrozen(load.problems));
  });
});

describe('queue-level keys', () => {
  test('keeps unknown keys in extra and plugin options in options', () => {
    const load = parse({
      Q: { maxWorkers: 3, customKey: { a: 1 }, noHeartbeat: 'running', submitter: section('S', { templateFile: '/t.sh', nested: { x: [1] } }) },
    });
    const q = load.queues.get('Q');
    assert.deepEqual(q?.extra, { customKey: { a: 1 }, noHeartbeat: 'running' });
    assert.deepEqual(q?.submitter?.options, { templateFile: '/t.sh', nested: { x: [1] } });
  });

  test("every queue carries the instance's harvesterID (given by the master configuration, else harvester-ts-<hostname>)", () => {
    const given = parse({ A: {}, B: {} }, { harvesterID: 'cern_central_a' });
    assert.deepEqual([...given.queues.values()].map((q) => q.harvesterID), ['cern_central_a', 'cern_central_a']);
    assert.equal(parse({ A: {} }).queues.get('A')?.harvesterID, `harvester-ts-${hostname()}`);
  });

  test('accepts queueStatus in any case, as harvester lower-cases it', () => {
    assert.equal(parse({ Q: { queueStatus: 'OFFLINE' } }).queues.get('Q')?.queueStatus, 'offline');
  });

  test('takes siteName from a "SITE/resourceType" queue name, as harvester does', () => {
    assert.equal(parse({ 'CERN/SCORE': {} }).queues.get('CERN/SCORE')?.siteName, 'CERN');
    assert.equal(parse({ 'CERN/SCORE': { siteName: 'X' } }).queues.get('CERN/SCORE')?.siteName, 'X');
  });

  test("reads harvester's per-queue maxSubmissionAttempts (absent: the submitter agent's setting applies; 0 as harvester takes it) and refuses a negative one", () => {
    const load = parse({ SET: { maxSubmissionAttempts: 5 }, UNSET: {}, ZERO: { maxSubmissionAttempts: 0 }, NEGATIVE: { maxSubmissionAttempts: -1 }, TEXT: { maxSubmissionAttempts: '3' } });
    assert.equal(load.queues.get('SET')?.maxSubmissionAttempts, 5);
    assert.equal(load.queues.get('SET')?.extra.maxSubmissionAttempts, undefined, 'a known key, not an extra one');
    assert.equal(load.queues.get('UNSET')?.maxSubmissionAttempts, undefined);
    assert.equal(load.queues.get('ZERO')?.maxSubmissionAttempts, 0);
    assert.match(only(load.problems, 'NEGATIVE', 'maxSubmissionAttempts').message, />=0|>= 0/);
    assert.match(only(load.problems, 'TEXT', 'maxSubmissionAttempts').message, /expected number/);
  });

  test('reports every wrong type with its path, and leaves the queue out', () => {
    const load = parse({
      Q: {
        maxWorkers: '5',
        nQueueLimitWorker: -1,
        mapType: 'Sometimes',
        truePilot: 'yes',
        queueStatus: 'sleeping',
        submitter: { name: 'S' },
        monitor: 'DummyMonitor',
        stager: section('St', { bareFunctions: 'trigger_stage_out' }),
      },
    });
    assert.equal(load.queues.size, 0);
    assert.match(only(load.problems, 'Q', 'maxWorkers').message, /expected number, got string "5"/);
    assert.match(only(load.problems, 'Q', 'nQueueLimitWorker').message, />= 0/);
    assert.match(only(load.problems, 'Q', 'mapType').message, /"NoJob", "OneToOne"/);
    assert.match(only(load.problems, 'Q', 'truePilot').message, /expected boolean/);
    assert.match(only(load.problems, 'Q', 'queueStatus').message, /"online", "offline"/);
    assert.equal(only(load.problems, 'Q', 'submitter.module').message, 'required');
    assert.match(only(load.problems, 'Q', 'monitor').message, /must be an object/);
    assert.match(only(load.problems, 'Q', 'stager.bareFunctions').message, /expected array/);
    assert.equal(load.problems.length, 8);
  });

  test('formats a problem as "file: queue: path: message"', () => {
    const load = parse({ Q: { maxWorkers: true } });
    assert.equal(formatProblem(only(load.problems, 'Q', 'maxWorkers')), `${FILE}: Q: maxWorkers: expected number, got boolean true`);
    assert.equal(formatProblem({ file: FILE, path: '', message: 'bad' }), `${FILE}: -: bad`);
  });

  test('one bad queue does not stop the others loading', () => {
    const load = parse({ A: { maxWorkers: 1 }, BAD: { maxWorkers: 'x' }, C: { maxWorkers: 2 }, D: 7 });
    assert.deepEqual([...load.queues.keys()], ['A', 'C']);
    assert.deepEqual([...new Set(load.problems.map((p) => p.queue))].sort(), ['BAD', 'D']);
  });

  test('fills plugin sections from "common" without overriding their own keys', () => {
    const load = parse({ Q: { common: { logDir: '/l', depth: 1 }, submitter: section('S', { depth: 2 }), monitor: section('M') } });
    const q = load.queues.get('Q');
    assert.deepEqual(q?.submitter?.options, { depth: 2, logDir: '/l' });
    assert.deepEqual(q?.monitor?.options, { logDir: '/l', depth: 1 });
  });

  test('warns about a plugin-like section under a key harvester does not use', () => {
    const load = parse({ Q: { maxWorkers: 1, workMaker: section('W') } });
    assert.ok(load.queues.has('Q'));
    assert.ok(load.warnings.some((w) => w.queue === 'Q' && w.path === 'workMaker'));
  });
});

describe('middleware elements', () => {
  test('a section naming a middleware element the queue lacks is a problem with the fix', () => {
    const load = parse({ Q: { submitter: section('S', { middleware: 'rcp' }) } });
    const problem = only(load.problems, 'Q', 'submitter.middleware');
    assert.match(problem.message, /no middleware element 'rcp' in queue Q; define it as "rcp": \{/);
    assert.equal(load.queues.size, 0);
  });

  test('an element shaped like RpcHerder is a middleware even when no section uses it', () => {
    const load = parse({ Q: { remote: rpc } });
    assert.equal(load.queues.get('Q')?.middlewares.remote?.remoteHost, 'hpc');
    assert.deepEqual(load.queues.get('Q')?.extra, {});
  });

  test('remoteHost and sshUserName are required, ports checked, other keys kept', () => {
    const load = parse({
      Q: { rpc: { name: 'RpcHerder', remoteBindPort: 70000, numTunnels: 0, future: 1 }, submitter: section('S', { middleware: 'rpc' }) },
    });
    assert.equal(only(load.problems, 'Q', 'rpc.remoteHost').message, 'required');
    assert.equal(only(load.problems, 'Q', 'rpc.sshUserName').message, 'required');
    assert.match(only(load.problems, 'Q', 'rpc.remoteBindPort').message, /<= 65535/);
    assert.match(only(load.problems, 'Q', 'rpc.numTunnels').message, />= 1/);
    const ok = parse({ Q: { rpc: { ...rpc, future: 1 } } });
    assert.deepEqual(ok.queues.get('Q')?.middlewares.rpc?.extra, { future: 1 });
    assert.equal(ok.queues.get('Q')?.middlewares.rpc?.botHome, '.harvester');
    assert.equal(ok.queues.get('Q')?.middlewares.rpc?.remoteCommand, 'harvester');
  });

  test('a middleware element that is not an object is a problem', () => {
    const load = parse({ Q: { rpc: 'cori04', submitter: section('S', { middleware: 'rpc' }) } });
    assert.match(only(load.problems, 'Q', 'rpc').message, /must be an object/);
  });
});

describe('secrets', () => {
  test('reads a secret from a file, dropping the trailing newline, and registers it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hv-secret-'));
    try {
      writeFileSync(join(dir, 'pw'), 'file-password-1\n');
      const secrets = new SecretRegistry();
      const load = parseQueueConfig(
        JSON.stringify({ Q: { rpc: { ...rpc, sshPassword: { file: 'pw' }, passPhrase: { file: join(dir, 'pw') } } } }),
        join(dir, 'panda_queueconfig.json'),
        { env: {}, secrets },
      );
      const mw = load.queues.get('Q')?.middlewares.rpc;
      assert.deepEqual(mw?.sshPassword, { source: 'file', ref: join(dir, 'pw'), value: 'file-password-1' });
      assert.equal(mw?.passPhrase?.value, 'file-password-1');
      assert.equal(secrets.mask('x file-password-1 y'), 'x *** y');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a missing secret file is a problem naming the file', () => {
    const load = parse({ Q: { rpc: { ...rpc, sshPassword: { file: '/nonexistent/pw' } } } });
    const problem = only(load.problems, 'Q', 'rpc.sshPassword.file');
    assert.equal(problem.message, 'cannot read secret file /nonexistent/pw: no such file');
    assert.equal(load.queues.size, 0);
  });

  test('reads a secret from the environment, and an unset variable is a problem naming it', () => {
    const secrets = new SecretRegistry();
    const ok = parse({ Q: { rpc: { ...rpc, sshPassword: { env: 'CORI_PW' } } } }, { env: { CORI_PW: 'env-password-2' }, secrets });
    assert.deepEqual(ok.queues.get('Q')?.middlewares.rpc?.sshPassword, { source: 'env', ref: 'CORI_PW', value: 'env-password-2' });
    assert.equal(secrets.mask('env-password-2'), '***');
    const bad = parse({ Q: { rpc: { ...rpc, sshPassword: { env: 'CORI_PW' } } } }, { env: {} });
    assert.equal(only(bad.problems, 'Q', 'rpc.sshPassword.env').message, 'environment variable CORI_PW is not set');
  });

  test('a wrongly shaped secret is a problem that does not echo the value', () => {
    const load = parse({ Q: { rpc: { ...rpc, sshPassword: 123456789, passPhrase: { value: 'leaky-phrase' } } } });
    const messages = load.problems.map(formatProblem).join('\n');
    assert.ok(!messages.includes('123456789'));
    assert.ok(!messages.includes('leaky-phrase'));
    only(load.problems, 'Q', 'rpc.sshPassword');
    only(load.problems, 'Q', 'rpc.passPhrase');
  });

  test('a secret too short to mask is accepted with a warning', () => {
    const load = parse({ Q: { rpc: { ...rpc, sshPassword: 'abc' } } });
    assert.ok(load.queues.has('Q'));
    assert.ok(load.warnings.some((w) => w.path === 'rpc.sshPassword' && /cannot be masked/.test(w.message)));
  });

  test('strings under secret-named keys in plugin options are registered too', () => {
    const secrets = new SecretRegistry();
    parse({ Q: { stager: section('S', { auth: { password: 'stager-pass-3' } }) } }, { secrets });
    assert.equal(secrets.mask('stager-pass-3'), '***');
  });

  test('maskedQueueConfig shows every secret as *** with its source, and is plain JSON', () => {
    const load = parse(
      { Q: { rpc: { ...rpc, sshPassword: 'inline-pw-4', passPhrase: { env: 'PHRASE' } }, stager: section('S', { secret: 'opt-secret-5' }) } },
      { env: { PHRASE: 'env-phrase-6' } },
    );
    const queue = load.queues.get('Q');
    assert.ok(queue);
    const shown = JSON.stringify(maskedQueueConfig(queue));
    for (const value of ['inline-pw-4', 'env-phrase-6', 'opt-secret-5']) assert.ok(!shown.includes(value), shown);
    const masked = maskedQueueConfig(queue) as { middlewares: { rpc: Record<string, unknown> }; stager: { options: Record<string, unknown> } };
    assert.equal(masked.middlewares.rpc.sshPassword, '*** (inline)');
    assert.equal(masked.middlewares.rpc.passPhrase, '*** (from env PHRASE)');
    assert.equal(masked.middlewares.rpc.remoteHost, 'hpc');
    assert.equal(masked.stager.options.secret, '***');
    assert.deepEqual(JSON.parse(shown), maskedQueueConfig(queue));
  });

  test('a logger never writes a secret the loader resolved', () => {
    const secrets = new SecretRegistry();
    const load = parse({ Q: { rpc: { ...rpc, sshPassword: { env: 'PW' } } } }, { env: { PW: 'logged-secret-7' }, secrets });
    const chunks: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _e, done) {
        chunks.push(chunk.toString());
        done();
      },
    });
    const log = createLogger({ destination, secrets });
    const mw = load.queues.get('Q')?.middlewares.rpc;
    log.info({ middleware: mw }, `connecting with ${mw?.sshPassword?.value ?? ''}`);
    log.error(new Error(`refused: ${mw?.sshPassword?.value ?? ''}`));
    const text = chunks.join('');
    assert.ok(text.includes('hpc'));
    assert.ok(!text.includes('logged-secret-7'), text);
  });
});

describe('jump host credentials, host keys and otpCommand in the rpc element', () => {
  const jumpRpc = { ...rpc, jumpHost: 'gateway' };

  test('jumpSshPassword and jumpPassPhrase are secrets (inline, file, env), registered and masked', () => {
    const secrets = new SecretRegistry();
    const load = parse(
      { Q: { rpc: { ...jumpRpc, jumpSshPassword: { env: 'GW_PW' }, jumpPrivateKey: '/keys/gw', jumpPassPhrase: 'jump-phrase-8', jumpOtpCommand: 'gw-otp' } } },
      { env: { GW_PW: 'jump-password-9' }, secrets },
    );
    assert.deepEqual(load.problems, []);
    const mw = load.queues.get('Q')?.middlewares.rpc;
    assert.deepEqual(mw?.jumpSshPassword, { source: 'env', ref: 'GW_PW', value: 'jump-password-9' });
    assert.equal(mw?.jumpPassPhrase?.value, 'jump-phrase-8');
    assert.equal(mw?.jumpPrivateKey, '/keys/gw');
    assert.equal(mw?.jumpOtpCommand, 'gw-otp');
    assert.deepEqual(mw?.extra, {}, 'none of them is an unknown extra key');
    assert.equal(secrets.mask('jump-password-9 jump-phrase-8'), '*** ***');
    const shown = maskedQueueConfig(load.queues.get('Q')!) as { middlewares: { rpc: Record<string, unknown> } };
    assert.equal(shown.middlewares.rpc.jumpSshPassword, '*** (from env GW_PW)');
    assert.equal(shown.middlewares.rpc.jumpPassPhrase, '*** (inline)');
    assert.ok(!JSON.stringify(shown).includes('jump-password-9') && !JSON.stringify(shown).includes('jump-phrase-8'));
  });

  test('a wrongly shaped jump secret is a problem that does not echo it', () => {
    const load = parse({ Q: { rpc: { ...jumpRpc, jumpSshPassword: ['leaky-jump-pw'] } } });
    assert.match(only(load.problems, 'Q', 'rpc.jumpSshPassword').message, /got an array/);
    assert.ok(!load.problems.map(formatProblem).join('\n').includes('leaky-jump-pw'));
  });

  test('jump settings without a jumpHost, and jumpPassPhrase without jumpPrivateKey, are warnings', () => {
    const noJump = parse({ Q: { rpc: { ...rpc, jumpSshPassword: 'jump-password-10', shareCredentialsWithJump: true, hostKeys: { jump: [] } } } });
    assert.ok(noJump.queues.has('Q'));
    const paths = noJump.warnings.map((w) => w.path);
    for (const path of ['rpc.jumpSshPassword', 'rpc.shareCredentialsWithJump', 'rpc.hostKeys.jump']) assert.ok(paths.includes(path), `${path} in ${paths.join(', ')}`);
    const phraseOnly = parse({ Q: { rpc: { ...jumpRpc, jumpPassPhrase: 'jump-phrase-11' } } });
    assert.ok(phraseOnly.warnings.some((w) => w.path === 'rpc.jumpPassPhrase' && /without jumpPrivateKey/.test(w.message)));
  });

  test("harvester's one password for both hops is a warning: the jump host would have no credentials", () => {
    const load = parse({ Q: { rpc: { ...jumpRpc, sshPassword: 'both-hops-pw-13' } } });
    assert.ok(load.queues.has('Q'));
    const warning = load.warnings.find((w) => w.path === 'rpc.sshPassword');
    assert.match(warning?.message ?? '', /shareCredentialsWithJump/);
    for (const fix of [{ shareCredentialsWithJump: true }, { jumpSshPassword: 'jump-pw-14' }, { privateKey: '/k' }]) {
      const fixed = parse({ Q: { rpc: { ...jumpRpc, sshPassword: 'both-hops-pw-13', ...fix } } });
      assert.equal(fixed.warnings.find((w) => w.path === 'rpc.sshPassword'), undefined, JSON.stringify(fix));
    }
  });

  test('hostKeys takes SHA256 fingerprints per hop; anything else is a problem', () => {
    const fingerprint = `SHA256:${'A'.repeat(42)}k`;
    const ok = parse({ Q: { rpc: { ...jumpRpc, hostKeys: { remote: [fingerprint], jump: [fingerprint] } } } });
    assert.deepEqual(ok.problems, []);
    assert.deepEqual(ok.queues.get('Q')?.middlewares.rpc?.hostKeys, { remote: [fingerprint], jump: [fingerprint] });
    const md5 = parse({ Q: { rpc: { ...jumpRpc, hostKeys: { remote: ['MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48'] } } } });
    assert.match(only(md5.problems, 'Q', 'rpc.hostKeys.remote[0]').message, /SHA256 fingerprint/);
    const flat = parse({ Q: { rpc: { ...jumpRpc, hostKeys: [fingerprint] } } });
    assert.equal(flat.queues.size, 0);
    const typo = parse({ Q: { rpc: { ...jumpRpc, hostKeys: { remtoe: [fingerprint] } } } });
    assert.equal(typo.queues.size, 0, 'an unknown hop name is a problem, not a silently ignored pin');
  });

  test('an otpCommand holding a configured secret in its text is a problem that does not echo it', () => {
    const load = parse({ Q: { rpc: { ...jumpRpc, sshPassword: 'remote-password-12', otpCommand: 'echo remote-password-12$(oathtool --totp -b @seed)' } } });
    const problem = only(load.problems, 'Q', 'rpc.otpCommand');
    assert.match(problem.message, /process list/);
    assert.match(problem.message, /HARVESTER_SSH_PASSWORD/);
    assert.ok(!problem.message.includes('remote-password-12'));
    const fine = parse({ Q: { rpc: { ...jumpRpc, sshPassword: 'remote-password-12', jumpOtpCommand: 'printf %s "$HARVESTER_SSH_PASSWORD"' } } });
    assert.deepEqual(fine.problems, []);
  });
});

describe('the file', () => {
  test('malformed JSON is a file-level problem with line and column', () => {
    const load = parseQueueConfig('{\n  "Q": {\n    "maxWorkers": 1,\n  }\n}', FILE);
    assert.equal(load.queues.size, 0);
    const problem = only(load.problems, undefined, '');
    assert.match(problem.message, /line 4, column 3/);
    assert.match(formatProblem(problem), new RegExp(`^${FILE}: -: malformed JSON at line 4, column 3`));
  });

  test('a top level that is not an object is a problem', () => {
    assert.match(only(parseQueueConfig('[1]', FILE).problems, undefined, '').message, /JSON object of queues/);
  });

  test('a missing file is a ConfigFileError naming it', () => {
    assert.throws(
      () => loadQueueConfig('/nonexistent/dir/panda_queueconfig.json'),
      (e: unknown) => e instanceof ConfigFileError && e.file === '/nonexistent/dir/panda_queueconfig.json' && /no such file/.test(e.message),
    );
  });

  test('a directory is a ConfigFileError', () => {
    assert.throws(() => loadQueueConfig(tmpdir()), (e: unknown) => e instanceof ConfigFileError && /is a directory/.test(e.reason));
  });

  test('the shipped example loads: the local-process queue, the offline dummy queue and the offline seed queue', () => {
    const load = loadQueueConfig(new URL('../../../examples/panda_queueconfig.json', import.meta.url).pathname, { env: {}, secrets: new SecretRegistry() });
    assert.deepEqual(load.problems, []);
    assert.deepEqual([...load.queues.keys()], ['local', 'dummy', 'NERSC_Cori_rpc']);
    assert.equal(load.queues.get('local')?.queueStatus, 'online');
    assert.equal(load.queues.get('local')?.submitter?.name, 'LocalProcessSubmitter');
    assert.equal(load.queues.get('local')?.mapType, 'OneToOne');
    assert.equal(load.queues.get('dummy')?.queueStatus, 'offline');
    assert.equal(load.queues.get('local')?.messenger?.options.accessPoint, 'workdir/${workerID}');
    assert.equal(load.queues.get('NERSC_Cori_rpc')?.queueStatus, 'offline');
    assert.equal(load.queues.get('NERSC_Cori_rpc')?.middlewares.rpc?.numTunnels, 3);
    assert.deepEqual(load.warnings.filter((w) => w.queue === 'local'), []);
  });
});

describe('methodNameToCamelCase', () => {
  test('converts snake_case and leaves camelCase alone', () => {
    assert.equal(methodNameToCamelCase('check_stage_out_status'), 'checkStageOutStatus');
    assert.equal(methodNameToCamelCase('checkStageOutStatus'), 'checkStageOutStatus');
    assert.equal(methodNameToCamelCase('zip_output'), 'zipOutput');
  });
});
