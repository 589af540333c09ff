// Shared by the plugin layer's unit tests (not part of the public API): a queue configuration, a plugin
// context with a silent logger, and temporary directories.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PluginSection, QueueConfig } from '../../../src/config/index.js';
import { createLogger } from '../../../src/logging/index.js';
import type { PluginContext } from '../../../src/plugins/contracts.js';

export function section(name: string, module: string, options: Record<string, unknown> = {}, middleware?: string): PluginSection {
  return { name, module, bareFunctions: [], options, ...(middleware === undefined ? {} : { middleware }) };
}

/** A fully defaulted queue, as the loader would produce it, with the given overrides. */
export function testQueue(overrides: Partial<QueueConfig> = {}): QueueConfig {
  return {
    queueName: 'TEST_QUEUE',
    harvesterID: 'test-harvester',
    siteName: 'TEST_SITE',
    queueStatus: 'online',
    prodSourceLabel: 'managed',
    nQueueLimitWorker: 10,
    maxWorkers: 10,
    maxNewWorkersPerCycle: 0,
    nQueueLimitJob: 10,
    mapType: 'OneToOne',
    allowJobMixture: false,
    truePilot: false,
    runMode: 'self',
    useJobLateBinding: false,
    middlewares: {},
    extra: {},
    ...overrides,
  };
}

export function testContext(queue: QueueConfig = testQueue(), signal: AbortSignal = new AbortController().signal): PluginContext {
  return { queue, log: createLogger({ level: 'silent' }), signal };
}

export async function withTempDir<T>(run: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'harvester-plugins-'));
  try {
    return await run(dir);
  } finally {
    // A detached payload may still be writing its last file as the test ends (ENOTEMPTY): retry briefly.
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  }
}
