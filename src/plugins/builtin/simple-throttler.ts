// harvester's SimpleThrottler: throttles submission to a queue when too many of its workers went missing
// recently. Options as harvester's: "logicType" (OR: throttled when any rule is met; AND: when all are) and
// "rulesForMissed": [{"level": "site"|"pq"|"ce", "timeWindow": minutes, "maxMissed": n}]. harvester counts
// missed workers in its database; this layer has none, so the counts come from a MissedWorkerCounter the
// caller gives (the agents give the store's). Without one, no rule can be evaluated and nothing is throttled.
import type { PluginContext, Throttler } from '../contracts.js';
import { PluginOptionError } from '../errors.js';
import { OptionReader, type PluginOptions } from '../options.js';
import { retryLater, succeeded, type Outcome } from '../outcome.js';
import { isPlainObject } from './json-files.js';
import { errorText } from './worker-fields.js';

export interface MissedRule {
  readonly level: 'site' | 'pq' | 'ce';
  /** Minutes back from now. */
  readonly timeWindow: number;
  readonly maxMissed: number;
}

/** Which missed workers to count (harvester's criteria dict of get_num_missed_workers). */
export interface MissedWorkerCriteria {
  readonly siteName?: string;
  readonly computingSite?: string;
  readonly computingElement?: string;
  /** Only workers that went missing after this instant. */
  readonly since: Date;
}

export interface MissedWorkerCounter {
  countMissedWorkers(queueName: string, criteria: MissedWorkerCriteria): Promise<number>;
}

function parseRules(raw: unknown): MissedRule[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw new PluginOptionError('SimpleThrottler', 'rulesForMissed', 'must be a list of rules');
  return raw.map((rule, i) => {
    const where = `rulesForMissed[${i}]`;
    if (!isPlainObject(rule)) throw new PluginOptionError('SimpleThrottler', where, 'must be an object');
    const { level, timeWindow, maxMissed } = rule;
    if (level !== 'site' && level !== 'pq' && level !== 'ce') {
      throw new PluginOptionError('SimpleThrottler', `${where}.level`, `must be site, pq or ce, got ${JSON.stringify(level)}`);
    }
    if (typeof timeWindow !== 'number' || timeWindow <= 0) {
      throw new PluginOptionError('SimpleThrottler', `${where}.timeWindow`, 'must be a positive number of minutes');
    }
    if (typeof maxMissed !== 'number' || maxMissed < 0) {
      throw new PluginOptionError('SimpleThrottler', `${where}.maxMissed`, 'must be a number >= 0');
    }
    return { level, timeWindow, maxMissed };
  });
}

export class SimpleThrottler implements Throttler {
  readonly logicType: 'OR' | 'AND';
  readonly rulesForMissed: readonly MissedRule[];
  private counter: MissedWorkerCounter | undefined;

  constructor(options: PluginOptions = {}) {
    const read = new OptionReader('SimpleThrottler', options);
    this.logicType = read.oneOf('logicType', ['OR', 'AND'], 'OR');
    this.rulesForMissed = parseRules(read.raw('rulesForMissed'));
  }

  /** Where missed-worker counts come from (the store, given by the agents that own it). */
  useMissedWorkerCounter(counter: MissedWorkerCounter): void {
    this.counter = counter;
  }

  private criteriaOf(ctx: PluginContext, now: number): { criteria: MissedWorkerCriteria; maxMissed: number }[] {
    const list: { criteria: MissedWorkerCriteria; maxMissed: number }[] = [];
    for (const rule of this.rulesForMissed) {
      const since = new Date(now - rule.timeWindow * 60_000);
      if (rule.level === 'site') list.push({ criteria: { siteName: ctx.queue.siteName, since }, maxMissed: rule.maxMissed });
      else if (rule.level === 'pq') list.push({ criteria: { computingSite: ctx.queue.queueName, since }, maxMissed: rule.maxMissed });
      else {
        const ces = ctx.queue.submitter?.options.computingElements;
        if (!Array.isArray(ces)) {
          ctx.log.debug('rule level ce skipped: computingElements is undefined in the submitter section');
          continue;
        }
        for (const ce of ces) list.push({ criteria: { computingElement: String(ce), since }, maxMissed: rule.maxMissed });
      }
    }
    return list;
  }

  async toBeThrottled(ctx: PluginContext): Promise<Outcome<boolean>> {
    // harvester's AND over no rules would throttle forever; no rules means nothing to throttle on.
    if (this.rulesForMissed.length === 0) return succeeded(false, 'no rules');
    if (this.counter === undefined) {
      return succeeded(false, 'no missed-worker counts available: rules not evaluated');
    }
    let verdict: Outcome<boolean> =
      this.logicType === 'OR' ? succeeded(false, 'no rule was satisfied') : succeeded(true, 'all rules were satisfied');
    for (const { criteria, maxMissed } of this.criteriaOf(ctx, Date.now())) {
      let nMissed: number;
      try {
        nMissed = await this.counter!.countMissedWorkers(ctx.queue.queueName, criteria);
      } catch (error) {
        return retryLater(`cannot count missed workers: ${errorText(error)}`);
      }
      const what = JSON.stringify(criteria);
      if (nMissed > maxMissed && this.logicType === 'OR') {
        verdict = succeeded(true, `logic=OR and nMissed=${nMissed} > maxMissed=${maxMissed} for ${what}`);
        break;
      }
      if (nMissed <= maxMissed && this.logicType === 'AND') {
        verdict = succeeded(false, `logic=AND and nMissed=${nMissed} <= maxMissed=${maxMissed} for ${what}`);
        break;
      }
    }
    ctx.log.debug({ throttled: verdict.kind === 'succeeded' && verdict.value, diag: verdict.diag }, 'toBeThrottled');
    return verdict;
  }
}
