// harvester's DummySingletonSubmitter: one DummySubmitter per queue in the whole process, however many times
// the section is instantiated (harvester keys its instances by the queueName the factory passes in).
import type { WorkSpec } from '../../spec/index.js';
import type { PluginContext, Submitter } from '../contracts.js';
import { OptionReader, type PluginOptions } from '../options.js';
import type { Outcome } from '../outcome.js';
import { DummySubmitter } from './dummy-submitter.js';

const instances = new Map<string, DummySubmitter>();

export class DummySingletonSubmitter implements Submitter {
  private readonly shared: DummySubmitter;

  constructor(options: PluginOptions = {}) {
    const key = new OptionReader('DummySingletonSubmitter', options).string('queueName', '');
    let instance = instances.get(key);
    if (instance === undefined) {
      instance = new DummySubmitter(options);
      instances.set(key, instance);
    }
    this.shared = instance;
  }

  /** Whether two singleton submitters share one DummySubmitter (they do when made for the same queue). */
  sharesInstanceWith(other: DummySingletonSubmitter): boolean {
    return this.shared === other.shared;
  }

  submitWorkers(ctx: PluginContext, workSpecs: WorkSpec[]): Promise<Outcome[]> {
    return this.shared.submitWorkers(ctx, workSpecs);
  }
}
