import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { WorkSpec } from '../spec/index.js';
import {
  AccessPointError,
  accessPointOwnerOf,
  accessPointTemplateOf,
  createLocalAccessPoints,
  defaultAccessPointTemplate,
  expandAccessPoint,
  resolveAccessPointsUnder,
  workerAccessPoint,
} from './access-point.js';
import { section, testQueue, withTempDir } from '../../test/support/plugins/plugin-fixtures.js';

test('${workerID} and $workerID expand to the worker ID, every occurrence', () => {
  const w = new WorkSpec({ workerID: 42 });
  assert.equal(expandAccessPoint('/data/harvester/${workerID}', w), '/data/harvester/42');
  assert.equal(expandAccessPoint('/data/$workerID/x_${workerID}', w), '/data/42/x_42');
});

test('relative access points are resolved under home; absolute ones are kept', () => {
  const w = new WorkSpec({ workerID: 7 });
  assert.equal(expandAccessPoint('workdir/${workerID}', w, '/home/harvester'), '/home/harvester/workdir/7');
  assert.equal(expandAccessPoint('/abs/${workerID}', w, '/home/harvester'), '/abs/7');
  assert.equal(expandAccessPoint('workdir/${workerID}', w), 'workdir/7');
});

test('a template without the placeholder is the same directory for every worker', () => {
  assert.equal(expandAccessPoint('/shared', new WorkSpec({ workerID: 1 })), '/shared');
});

test('a template needing a workerID the worker lacks, or an empty one, is an AccessPointError', () => {
  assert.throws(() => expandAccessPoint('/x/${workerID}', new WorkSpec({})), AccessPointError);
  assert.throws(() => expandAccessPoint('  ', new WorkSpec({ workerID: 1 })), AccessPointError);
});

test('the access point template comes from the messenger, else the submitter, else the queue, else the default', () => {
  const messenger = section('SharedFileMessenger', 'shared_file_messenger', { accessPoint: '/m/${workerID}' });
  const submitter = section('DummySubmitter', 'dummy_submitter', { accessPoint: '/s/${workerID}' });
  assert.equal(accessPointTemplateOf(testQueue({ messenger, submitter, extra: { accessPoint: '/q/${workerID}' } })), '/m/${workerID}');
  assert.equal(accessPointTemplateOf(testQueue({ submitter, extra: { accessPoint: '/q/${workerID}' } })), '/s/${workerID}');
  assert.equal(accessPointTemplateOf(testQueue({ extra: { accessPoint: '/q/${workerID}' } })), '/q/${workerID}');
  assert.equal(accessPointTemplateOf(testQueue()), defaultAccessPointTemplate);
});

test('access points are created here only without a messenger and for a local submitter', async () => {
  await withTempDir(async (dir) => {
    const w = new WorkSpec({ workerID: 3, accessPoint: join(dir, 'a', '3') });
    assert.equal(await createLocalAccessPoints(testQueue({ submitter: section('DummySubmitter', 'dummy_submitter', {}, 'rpc') }), [w]), false);
    await assert.rejects(stat(w.accessPoint!), { code: 'ENOENT' });
    assert.equal(await createLocalAccessPoints(testQueue({ messenger: section('SharedFileMessenger', 'shared_file_messenger') }), [w]), false);
    assert.equal(await createLocalAccessPoints(testQueue({ submitter: section('DummySubmitter', 'dummy_submitter') }), [w]), true);
    assert.ok((await stat(w.accessPoint!)).isDirectory());
    await assert.rejects(createLocalAccessPoints(testQueue(), [new WorkSpec({ workerID: 4 })]), AccessPointError);
  });
});

const coreHome = '/home/core/.harvester';
const botHome = '/home/atlas/.harvester';
const remote = (name: string, module: string, options: Record<string, unknown> = {}) => section(name, module, options, 'rpc');

test("the access point's owner is the messenger when there is one, else the submitter", () => {
  const messenger = section('SharedFileMessenger', 'shared_file_messenger');
  const submitter = remote('DummySubmitter', 'dummy_submitter');
  assert.equal(accessPointOwnerOf(testQueue({ messenger, submitter }))?.kind, 'messenger');
  assert.equal(accessPointOwnerOf(testQueue({ submitter }))?.kind, 'submitter');
  assert.equal(accessPointOwnerOf(testQueue()), undefined);
});

test("a remote owner's relative access point stays relative on the core and resolves under the bot's home, not the core's", () => {
  for (const queue of [
    testQueue({ submitter: remote('DummySubmitter', 'dummy_submitter') }),
    testQueue({ submitter: remote('DummySubmitter', 'dummy_submitter'), messenger: remote('SharedFileMessenger', 'shared_file_messenger', { accessPoint: 'aps/${workerID}' }) }),
  ]) {
    const w = new WorkSpec({ workerID: 9 });
    w.accessPoint = workerAccessPoint(queue, w, coreHome);
    assert.ok(!w.accessPoint.startsWith(coreHome), w.accessPoint);
    resolveAccessPointsUnder(botHome, [w]);
    assert.equal(w.accessPoint, join(botHome, expandAccessPoint(accessPointTemplateOf(queue), w)));
  }
});

test("a local owner's relative access point is under the core's home, as before; an absolute one is used as given on both sides", () => {
  const local = testQueue({ submitter: section('DummySubmitter', 'dummy_submitter') });
  const w = new WorkSpec({ workerID: 9 });
  assert.equal(workerAccessPoint(local, w, coreHome), join(coreHome, 'workdir', '9'));
  // A local messenger owns it even when the submitter is remote (queues check warns about that queue).
  assert.equal(workerAccessPoint(testQueue({ messenger: section('SharedFileMessenger', 'shared_file_messenger'), submitter: remote('DummySubmitter', 'dummy_submitter') }), w, coreHome), join(coreHome, 'workdir', '9'));
  const absolute = testQueue({ submitter: remote('DummySubmitter', 'dummy_submitter', { accessPoint: '/scratch/${workerID}' }) });
  w.accessPoint = workerAccessPoint(absolute, w, coreHome);
  assert.equal(w.accessPoint, '/scratch/9');
  resolveAccessPointsUnder(botHome, [w, 'not a spec', new WorkSpec({ workerID: 10 })]);
  assert.equal(w.accessPoint, '/scratch/9');
});
