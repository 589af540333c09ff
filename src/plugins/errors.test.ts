import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LocalProcessStateError } from './builtin/local-process-files.js';
import { callEffectOf } from './call-effect.js';
import { PluginAbortedError, PluginConstructionError, PluginOptionError, UnknownPluginError } from './errors.js';
import { PluginFactory } from './factory.js';
import { section } from '../../test/support/plugins/plugin-fixtures.js';

const factory = new PluginFactory();
// A provider for the rpc element, so a section naming it resolves as a middleware element.
factory.registerMiddleware({
  matches: (mw) => mw.module.endsWith('rpc_herder'),
  wrap: () => Promise.reject(new Error('not used')),
});

async function creationError(name: string, module: string, options: Record<string, unknown> = {}): Promise<unknown> {
  try {
    await factory.create({ queueName: 'Q1', kind: 'submitter', section: section(name, module, options) });
  } catch (error) {
    return error;
  }
  assert.fail(`${name} was built`);
}

describe('what plugin-layer errors say about the call they end', () => {
  test('an error raised before any method ran (unknown plugin, failed construction, a middleware element named as a plugin) says not-run', async () => {
    const unknown = await creationError('NoSuchSubmitter', 'nowhere');
    assert.ok(unknown instanceof UnknownPluginError);
    const construction = await creationError('SlurmSubmitter', 'slurm_submitter');
    assert.ok(construction instanceof PluginConstructionError, String(construction));
    const middleware = await creationError('RpcHerder', 'pandaharvester.harvestermiddleware.rpc_herder');
    assert.match(String(middleware), /is a middleware element/);
    for (const error of [unknown, construction, middleware]) assert.equal(callEffectOf(error), 'not-run', String(error));
  });

  test("an error a running method raises may have come half-way through its work: may-have-run, unless it says otherwise", () => {
    assert.equal(callEffectOf(new LocalProcessStateError(7, '/w/7', 'reading the payload pid file', 'EIO')), 'may-have-run');
    assert.equal(callEffectOf(new PluginAbortedError('Q1', 'jobRequested')), 'may-have-run');
    assert.equal(callEffectOf(new PluginOptionError('SlurmSubmitter', 'templateFile', 'is required')), 'may-have-run');
  });
});
