import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { SecretRegistry } from '../logging/index.js';
import { parseQueueConfig } from './queue-config.js';

const FILE = '/q.json';
const parse = (json: unknown) => parseQueueConfig(JSON.stringify(json), FILE, { env: {}, secrets: new SecretRegistry() });
const section = (name: string, extra: Record<string, unknown> = {}) => ({ name, module: `mod.${name}`, ...extra });

const template = {
  isTemplateQueue: true,
  maxWorkers: 5,
  nQueueLimitWorker: 2,
  submitter: section('TS', { templateFile: '/t.sh', logDir: '/logs' }),
  monitor: section('TM'),
  rpc: { name: 'RpcHerder', remoteHost: 'tmpl-host', sshUserName: 'tmpl', numTunnels: 2 },
  flags: { a: 1, b: 2 },
};

describe('queue templates', () => {
  test('a template is not a queue; "isTemplateQueue": true or a _TEMPLATE name makes one', () => {
    const load = parse({ T: template, X_TEMPLATE: { maxWorkers: 1 }, Q: { templateQueueName: 'T' } });
    assert.deepEqual([...load.queues.keys()], ['Q']);
  });

  test("a queue takes its template's keys, its own values win", () => {
    const load = parse({ T: template, Q: { templateQueueName: 'T', maxWorkers: 9 } });
    const q = load.queues.get('Q');
    assert.equal(q?.maxWorkers, 9);
    assert.equal(q?.nQueueLimitWorker, 2);
    assert.equal(q?.monitor?.name, 'TM');
    assert.equal(q?.middlewares.rpc?.remoteHost, 'tmpl-host');
    assert.ok(!('templateQueueName' in (q?.extra ?? {})));
    assert.ok(!('isTemplateQueue' in (q?.extra ?? {})));
  });

  test("plugin sections merge key by key over the template's, as in harvester", () => {
    const load = parse({ T: template, Q: { templateQueueName: 'T', submitter: { templateFile: '/mine.sh' } } });
    const submitter = load.queues.get('Q')?.submitter;
    assert.equal(submitter?.name, 'TS');
    assert.deepEqual(submitter?.options, { templateFile: '/mine.sh', logDir: '/logs' });
  });

  test("other objects (a middleware element, extra keys) replace the template's whole, as in harvester", () => {
    const load = parse({ T: template, Q: { templateQueueName: 'T', flags: { c: 3 }, rpc: { name: 'RpcHerder', remoteHost: 'mine', sshUserName: 'me' } } });
    const q = load.queues.get('Q');
    assert.deepEqual(q?.extra.flags, { c: 3 });
    assert.equal(q?.middlewares.rpc?.remoteHost, 'mine');
    assert.equal(q?.middlewares.rpc?.numTunnels, 1);
  });

  test('queues of the same template do not share objects', () => {
    const load = parse({ T: template, A: { templateQueueName: 'T' }, B: { templateQueueName: 'T' } });
    assert.notEqual(load.queues.get('A')?.submitter, load.queues.get('B')?.submitter);
    assert.deepEqual(load.queues.get('A')?.submitter, load.queues.get('B')?.submitter);
  });

  test('a missing template is a problem naming it and the templates there are', () => {
    const load = parse({ T: template, Q: { templateQueueName: 'production.pull' }, OK: { templateQueueName: 'T' } });
    const problem = load.problems.find((p) => p.queue === 'Q' && p.path === 'templateQueueName');
    assert.match(problem?.message ?? '', /no template 'production.pull' in this file \(Q -> production.pull; templates: T\)/);
    assert.deepEqual([...load.queues.keys()], ['OK']);
  });

  test('naming a queue (not a template) is a problem naming the chain, cycles included', () => {
    const load = parse({ A: { templateQueueName: 'B' }, B: { templateQueueName: 'A' } });
    assert.equal(load.queues.size, 0);
    const a = load.problems.find((p) => p.queue === 'A');
    assert.match(a?.message ?? '', /'B' is a queue, not a template \(A -> B -> A\)/);
    assert.match(a?.message ?? '', /"isTemplateQueue": true/);
    const self = parse({ S: { templateQueueName: 'S' } }).problems[0];
    assert.match(self?.message ?? '', /names itself as its template \(S -> S\)/);
  });

  test("templates do not chain (harvester drops a template's templateQueueName): a warning names the chain", () => {
    const load = parse({
      A_TEMPLATE: { templateQueueName: 'B_TEMPLATE', maxWorkers: 1 },
      B_TEMPLATE: { templateQueueName: 'A_TEMPLATE', nQueueLimitWorker: 7 },
      Q: { templateQueueName: 'A_TEMPLATE' },
    });
    assert.deepEqual(load.problems, []);
    const q = load.queues.get('Q');
    assert.equal(q?.maxWorkers, 1);
    assert.equal(q?.nQueueLimitWorker, 0);
    const warning = load.warnings.find((w) => w.queue === 'A_TEMPLATE' && w.path === 'templateQueueName');
    assert.match(warning?.message ?? '', /A_TEMPLATE -> B_TEMPLATE -> A_TEMPLATE/);
  });

  test('a non-boolean isTemplateQueue is a problem', () => {
    const load = parse({ T: { isTemplateQueue: 'yes' } });
    assert.equal(load.problems[0]?.path, 'isTemplateQueue');
  });
});
