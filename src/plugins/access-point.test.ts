import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkSpec } from '../spec/index.js';
import { AccessPointError, expandAccessPoint } from './access-point.js';

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
