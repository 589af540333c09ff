// harvester's SimpleWorkerMaker: one WorkSpec from a chunk of jobs. harvester takes the queue's resources
// (corecount, maxrss, maxtime, maxwdir, capability, type) from CRIC; we have no CRIC, so the same keys are read
// from the section's options, then from the queue's own extra keys. Job values (coreCount, minRamCount,
// maxDiskCount, maxWalltime, ioIntensity in jobParams) are summed over the chunk, as harvester does. The
// worker gets the queue's mapType and the jobs; a chunk whose size does not fit the mapType is refused.
import { JobSpec, WorkSpec } from '../../spec/index.js';
import type { MapType, QueueConfig } from '../../config/index.js';
import type { PluginContext, WorkerMaker } from '../contracts.js';
import { jobsPerWorker, workersPerJob } from '../map-types.js';
import { OptionReader, type PluginOptions } from '../options.js';
import { failed, succeeded, type Outcome } from '../outcome.js';

const defaultJobAttributes = ['nCore', 'minRamCount', 'maxDiskCount', 'maxWalltime', 'ioIntensity'];
const resourceTypes = ['SCORE', 'SCORE_HIMEM', 'MCORE', 'MCORE_HIMEM'];

/** A queue's resources as CRIC describes them (the keys harvester reads from its queue dict). */
export interface QueueResources {
  readonly corecount?: number;
  readonly maxrss?: number;
  readonly maxtime?: number;
  readonly maxwdir?: number;
  readonly capability?: string;
  readonly type?: string;
}

function capabilityToResourceType(capability: string | undefined): string | undefined {
  switch (capability) {
    case 'score':
      return 'SCORE';
    case 'himem':
      return 'SCORE_HIMEM';
    case 'mcore':
      return 'MCORE';
    case 'mcorehimem':
      return 'MCORE_HIMEM';
    default:
      return undefined;
  }
}

/** harvester's JobSpec.get_pilot_type: the pilot flavour a prodSourceLabel asks for. */
export function pilotTypeOf(prodSourceLabel: unknown): string {
  switch (prodSourceLabel) {
    case 'rc_test':
    case 'rc_test2':
      return 'RC';
    case 'rc_alrb':
      return 'ALRB';
    case 'ptest':
      return 'PT';
    default:
      return 'PR';
  }
}

function numberParam(jobSpec: JobSpec, key: string): number {
  const value = jobSpec.jobParams?.[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

export class SimpleWorkerMaker implements WorkerMaker {
  private readonly jobAttributesToUse: readonly string[];
  private readonly nJobsPerWorker: number | undefined;
  private readonly nWorkersPerJob: number | undefined;
  private readonly options: OptionReader;

  constructor(options: PluginOptions = {}) {
    this.options = new OptionReader('SimpleWorkerMaker', options);
    this.jobAttributesToUse = this.options.stringList('jobAttributesToUse', defaultJobAttributes);
    this.nJobsPerWorker = this.options.number('nJobsPerWorker');
    this.nWorkersPerJob = this.options.number('nWorkersPerJob');
  }

  /** The queue's resources: the section's options first, then the queue's extra keys. */
  resourcesOf(queue: QueueConfig): QueueResources {
    const pick = (key: keyof QueueResources): unknown => this.options.raw(key) ?? queue.extra[key];
    const num = (key: keyof QueueResources): number | undefined => {
      const value = pick(key);
      return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
    };
    const str = (key: keyof QueueResources): string | undefined => {
      const value = pick(key);
      return typeof value === 'string' ? value : undefined;
    };
    return {
      corecount: num('corecount'),
      maxrss: num('maxrss'),
      maxtime: num('maxtime'),
      maxwdir: num('maxwdir'),
      capability: str('capability'),
      type: str('type'),
    };
  }

  private sizes(): { nJobsPerWorker?: number; nWorkersPerJob?: number } {
    return { nJobsPerWorker: this.nJobsPerWorker, nWorkersPerJob: this.nWorkersPerJob };
  }

  async getNumJobsPerWorker(ctx: PluginContext, _nWorkers: number): Promise<number> {
    return jobsPerWorker(ctx.queue.mapType, this.sizes());
  }

  async getNumWorkersPerJob(ctx: PluginContext, _nWorkers: number): Promise<number> {
    return workersPerJob(ctx.queue.mapType, this.sizes());
  }

  /** Why a chunk of n jobs cannot make one worker of this map type, or undefined when it can. */
  private chunkProblem(mapType: MapType, n: number): string | undefined {
    const most = jobsPerWorker(mapType, this.sizes());
    if (mapType === 'NoJob' && n > 0) return `mapType NoJob takes no jobs, got ${n}`;
    if ((mapType === 'OneToOne' || mapType === 'OneToMany') && n !== 1) return `mapType ${mapType} takes exactly 1 job, got ${n}`;
    if (mapType === 'ManyToOne' && (n < 1 || n > most)) return `mapType ManyToOne takes 1 to ${most} jobs, got ${n}`;
    return undefined;
  }

  async makeWorker(ctx: PluginContext, jobSpecs: JobSpec[], jobType: string, resourceType: string): Promise<Outcome<WorkSpec>> {
    const queue = ctx.queue;
    const problem = this.chunkProblem(queue.mapType, jobSpecs.length);
    if (problem !== undefined) return failed(`queue '${queue.queueName}': ${problem}`);
    const resources = this.resourcesOf(queue);
    const siteCores = resources.corecount || 1;
    const siteRam = resources.maxrss || 1;
    const isUcore = resources.capability === 'ucore';

    const workSpec = new WorkSpec({ creationTime: new Date(), mapType: queue.mapType, computingSite: queue.queueName });
    let rtype = resourceType;
    if (!isUcore) {
      workSpec.nCore = siteCores;
      workSpec.minRamCount = siteRam;
    } else {
      if (jobSpecs.length === 0 && !resourceTypes.includes(rtype)) {
        ctx.log.warn({ resourceType: rtype }, 'invalid resource type for a unified queue without jobs; using SCORE');
        rtype = 'SCORE';
      }
      // harvester's ResourceTypeMapper: single-core types get one core and a core's share of memory.
      if (rtype.startsWith('SCORE')) {
        workSpec.nCore = 1;
        workSpec.minRamCount = Math.ceil(siteRam / siteCores);
      } else {
        workSpec.nCore = siteCores;
        workSpec.minRamCount = siteRam;
      }
    }
    workSpec.maxWalltime = resources.maxtime ?? 1;
    workSpec.maxDiskCount = resources.maxwdir ?? 1;

    if (jobSpecs.length > 0) {
      let nCore = 0;
      let minRamCount = 0;
      let maxDiskCount = 0;
      let maxWalltime = 0;
      let ioIntensity = 0;
      for (const jobSpec of jobSpecs) {
        nCore += numberParam(jobSpec, 'coreCount') || 1;
        let ram = numberParam(jobSpec, 'minRamCount');
        if (ram === 0 && isUcore) ram = (numberParam(jobSpec, 'coreCount') || 1) === 1 ? Math.ceil(siteRam / siteCores) : siteRam;
        minRamCount += ram;
        maxDiskCount += numberParam(jobSpec, 'maxDiskCount');
        maxWalltime += numberParam(jobSpec, 'maxWalltime');
        ioIntensity += numberParam(jobSpec, 'ioIntensity');
      }
      const use = (name: string): boolean => this.jobAttributesToUse.includes(name);
      if ((nCore > 0 && use('nCore')) || isUcore) workSpec.nCore = nCore;
      if ((minRamCount > 0 && use('minRamCount')) || isUcore) workSpec.minRamCount = minRamCount;
      if (maxDiskCount > 0 && use('maxDiskCount')) workSpec.maxDiskCount = maxDiskCount;
      if (maxWalltime > 0 && use('maxWalltime')) workSpec.maxWalltime = maxWalltime;
      if (ioIntensity > 0 && use('ioIntensity')) workSpec.ioIntensity = ioIntensity;
      const label = jobSpecs[0]!.jobParams?.prodSourceLabel;
      workSpec.pilotType = pilotTypeOf(label);
      workSpec.jobType = typeof label === 'string' ? label : (this.jobTypeWithoutJob(jobType, resources, undefined) ?? null);
      workSpec.jobSpecs = jobSpecs;
    } else {
      const label = queue.prodSourceLabel || 'managed';
      workSpec.pilotType = pilotTypeOf(label);
      const chosen = this.jobTypeWithoutJob(jobType, resources, label);
      if (chosen !== undefined) workSpec.jobType = chosen;
    }

    const queueResourceType = capabilityToResourceType(resources.capability);
    if (rtype && rtype !== 'ANY') workSpec.resourceType = rtype;
    else if (queueResourceType !== undefined) workSpec.resourceType = queueResourceType;
    else workSpec.resourceType = workSpec.nCore === 1 ? 'SCORE' : 'MCORE';
    return succeeded(workSpec);
  }

  /** harvester's get_job_type when there is no job to take the label from. */
  private jobTypeWithoutJob(jobType: string, resources: QueueResources, label: string | undefined): string | undefined {
    if (jobType) {
      if (label !== undefined && resources.type !== 'analysis' && !['user', 'panda', 'managed'].includes(label)) return 'managed';
      return jobType;
    }
    if (resources.type === 'analysis') return 'user';
    if (resources.type === 'production') return 'managed';
    return undefined;
  }
}
