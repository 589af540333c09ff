import { tmpdir } from 'node:os';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { createLogger } from '../../logging/index.js';
import { PluginFactory } from '../../plugins/index.js';
import { MethodNotFoundError, RemoteMethodError } from '../errors.js';
import type { JsonValue } from '../protocol/json.js';
import { deferred, tempDirectory } from '../../../test/support/middleware/protocol-fixtures.js';
import { BotDispatcher } from './dispatcher.js';

const log = createLogger({ level: 'silent' });

/** A throttler call payload for the section `name` from `module`, as the herder sends it. */
function callFor(name: string, module: string, options: Record<string, JsonValue> = {}): JsonValue {
  return {
    queueName: 'Q',
    kind: 'throttler',
    section: JSON.stringify({ name, module, bareFunctions: [], options }),
    queue: JSON.stringify({ queueName: 'Q' }),
    method: 'toBeThrottled',
    args: [],
  };
}

let calls = 0;
const info = (): { id: string; signal: AbortSignal } => ({ id: `call-${++calls}`, signal: new AbortController().signal });

describe('BotDispatcher: the plugin cache', () => {
  test('is bounded, least recently used out first, and never evicts a plugin a call is using', async () => {
    const builds: string[] = [];
    const hold = deferred();
    const factory = {
      create: async ({ section }: { section: { name: string } }) => {
        builds.push(section.name);
        return {
          toBeThrottled: async () => {
            if (section.name === 'A') await hold.promise;
            return { kind: 'succeeded', value: false };
          },
        };
      },
    } as unknown as PluginFactory;
    const dispatcher = new BotDispatcher(factory, [], log, tmpdir(), { pluginCacheSize: 2 });
    const module = 'pandaharvester.harvesterthrottler.simple_throttler';

    const slowA = dispatcher.handle(callFor('A', module), info());
    for (const name of ['B', 'C', 'D']) await dispatcher.handle(callFor(name, module), info());
    assert.ok(dispatcher.cachedPlugins <= 2, `${dispatcher.cachedPlugins} plugins cached`);
    // A was in use all along: the same instance serves a second call.
    const againA = dispatcher.handle(callFor('A', module), info());
    hold.resolve();
    await Promise.all([slowA, againA]);
    assert.deepEqual(builds, ['A', 'B', 'C', 'D']);
    // B, C went out to keep the bound; asked again, B is built anew.
    await dispatcher.handle(callFor('B', module), info());
    assert.deepEqual(builds, ['A', 'B', 'C', 'D', 'B']);
    assert.ok(dispatcher.cachedPlugins <= 2);
  });

  test('a section nesting too deep is refused as a malformed payload before it is parsed', async () => {
    const dispatcher = new BotDispatcher(new PluginFactory({ log }), [], log, tmpdir());
    const payload = callFor('A', 'pandaharvester.harvesterthrottler.simple_throttler') as Record<string, JsonValue>;
    payload.section = `{"name":"A","module":"m","bareFunctions":[],"options":{"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`;
    await assert.rejects(dispatcher.handle(payload, info()), (error: unknown) => {
      assert.ok(error instanceof RemoteMethodError);
      assert.match(error.message, /malformed call payload: section: nests arrays or objects deeper than 64 levels/);
      assert.equal(error.callEffect, 'not-run');
      return true;
    });
  });
});

describe('BotDispatcher: plugin files', () => {
  let dir: { path: string; cleanup: () => void };
  let pluginDir: string;
  let outside: string;
  const marker = '__harvesterTestOutsideLoaded';
  beforeEach(() => {
    dir = tempDirectory('harvester-dispatcher-');
    pluginDir = join(dir.path, 'plugins');
    outside = join(dir.path, 'elsewhere');
    mkdirSync(pluginDir);
    mkdirSync(outside);
    const plugin = (tag: string, onLoad = ''): string =>
      `${onLoad}\nexport class Throttle { async toBeThrottled() { return { kind: 'succeeded', value: false, diag: '${tag}' }; } }\n`;
    writeFileSync(join(pluginDir, 'inside.mjs'), plugin('inside'));
    writeFileSync(join(outside, 'evil.mjs'), plugin('evil', `globalThis.${marker} = true;`));
    symlinkSync(join(outside, 'evil.mjs'), join(pluginDir, 'evil.mjs'));
    symlinkSync(join(pluginDir, 'inside.mjs'), join(pluginDir, 'alias.mjs'));
  });
  afterEach(() => dir.cleanup());

  const diagOf = (reply: JsonValue): unknown => JSON.stringify(reply);

  test('a symbolic link in a plugin directory pointing outside it is refused, and the file never loaded', async () => {
    const dispatcher = new BotDispatcher(new PluginFactory({ pluginDirs: [pluginDir], log }), [pluginDir], log, tmpdir());
    await assert.rejects(dispatcher.handle(callFor('Throttle', 'evil.mjs'), info()), (error: unknown) => {
      assert.ok(error instanceof MethodNotFoundError);
      assert.match(error.message, /refusing to load plugin module 'evil\.mjs': .*resolves to .*elsewhere\/evil\.mjs, outside the plugin directories/);
      return true;
    });
    assert.equal((globalThis as Record<string, unknown>)[marker], undefined, 'the outside file was not imported');
  });

  test('paths leaving the plugin directories are refused; files inside (through a link inside too) load', async () => {
    const dispatcher = new BotDispatcher(new PluginFactory({ pluginDirs: [pluginDir], log }), [pluginDir], log, tmpdir());
    for (const module of ['../elsewhere/evil.mjs', join(outside, 'evil.mjs'), '/etc/passwd.mjs']) {
      await assert.rejects(dispatcher.handle(callFor('Throttle', module), info()), (error: unknown) => error instanceof MethodNotFoundError && /refusing to load plugin module/.test(error.message), module);
    }
    assert.match(String(diagOf(await dispatcher.handle(callFor('Throttle', 'inside.mjs'), info()))), /inside/);
    assert.match(String(diagOf(await dispatcher.handle(callFor('Throttle', 'alias.mjs'), info()))), /inside/);
    assert.equal((globalThis as Record<string, unknown>)[marker], undefined);
  });

  test('with no plugin directory a file module is refused, even one in the working directory', async () => {
    const dispatcher = new BotDispatcher(new PluginFactory({ log }), [], log, tmpdir());
    await assert.rejects(dispatcher.handle(callFor('Throttle', 'x.cjs'), info()), (error: unknown) => error instanceof MethodNotFoundError && /no plugin directory is configured/.test(error.message));
  });
});
