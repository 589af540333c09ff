// A SLURM site for the end-to-end tests of `harvester run`: the core in hv-core, a queue whose submitter,
// monitor, sweeper and messenger run in a bot on hpc (started on demand) reached through the jump host, jobs
// from the embedded queue whose payload records each run, and what the tests count afterwards: the SLURM jobs
// carrying this run's harvester id (sacct, with squeue for jobs accounting has not recorded yet), the workers
// and jobs in the store, and the payload runs.
import { readFileSync } from 'node:fs';
import { chown, mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { TempDirs, runCli, writeJson } from '../cli/support.js';
import { countByFirstWord, fastAgentSettings, makeRunHome, queryDatabase, type RunHome } from '../run/support.js';
import { installedExample } from '../support/bot-install.js';
import { remoteBot, type RemoteBot } from '../support/remote-bot.js';
import { pollFor, slurmOk } from '../support/slurm.js';
import type { Testbed } from '../support/testbed.js';


export interface SlurmSiteOptions {
  /** Bot port on hpc; distinct per test file so bots of different files never meet. */
  readonly botPort: number;
  /** Queue-level keys over the defaults (maxNewWorkersPerCycle, nQueueLimitWorker, ...). */
  readonly queue?: Record<string, unknown>;
  /** SlurmSubmitter options over the defaults. */
  readonly submitter?: Record<string, unknown>;
  /** SlurmBulkMonitor options over the defaults. */
  readonly monitor?: Record<string, unknown>;
  /** harvester.json keys over the fast agent settings. */
  readonly master?: Record<string, unknown>;
  /** More queues in the same queue configuration (e.g. a second remote host). */
  readonly moreQueues?: (site: { root: string }) => Record<string, Record<string, unknown>>;
}

export interface SlurmJob {
  readonly jobID: string;
  readonly name: string;
  readonly state: string;
  readonly exitCode: string;
}

export interface StoredWorker {
  readonly workerID: number;
  readonly status: string;
  readonly batchID: string | null;
  readonly diagMessage: string | null;
}

export class SlurmSite {
  readonly harvesterID = `e2e-${randomBytes(3).toString('hex')}`;
  readonly queueName = 'slurm_hpc';
  readonly bot: RemoteBot;
  readonly run: RunHome;
  /** Access points live under it (owned by the bot's user, on hpc's file system). */
  readonly root: string;
  /** One line "<PandaID>" per payload run. */
  readonly outputs: string;
  readonly queueConfigFile: string;

  private constructor(
    readonly testbed: Testbed,
    dirs: TempDirs,
    root: string,
    bot: RemoteBot,
    opts: SlurmSiteOptions,
  ) {
    this.root = root;
    this.outputs = join(root, 'payload-runs.log');
    this.bot = bot;
    const shared = dirs.make('slurm-site');
    this.queueConfigFile = writeJson(join(shared, 'queues.json'), {
      [this.queueName]: this.queueSection(opts),
      ...opts.moreQueues?.({ root }),
    });
    this.run = makeRunHome(dirs, 'slurm-run', {
      queueConfigFile: this.queueConfigFile,
      extra: { master: { harvester_id: this.harvesterID }, ...opts.master },
    });
  }

  static async create(testbed: Testbed, dirs: TempDirs, opts: SlurmSiteOptions): Promise<SlurmSite> {
    const bot = await remoteBot(testbed, `slurm-${opts.botPort}`, opts.botPort);
    const root = await bot.makeRoot('slurm-e2e');
    return new SlurmSite(testbed, dirs, root, bot, opts);
  }

  private queueSection(opts: SlurmSiteOptions): Record<string, unknown> {
    const remote = { middleware: 'rpc' };
    return {
      queueStatus: 'online',
      prodSourceLabel: 'managed',
      mapType: 'OneToOne',
      nQueueLimitJob: 300,
      nQueueLimitWorker: 300,
      maxWorkers: 300,
      maxNewWorkersPerCycle: 300,
      rpc: this.bot.rpc({ launchBot: true, callTimeout: 120 }),
      submitter: {
        name: 'SlurmSubmitter',
        module: 'pandaharvester.harvestersubmitter.slurm_submitter',
        // The copy remote-install put on hpc: the bot there cannot read the repository.
        templateFile: installedExample(this.testbed, 'slurm/harvester_slurm_submit.sh'),
        localQueueName: this.testbed.slurm.partition,
        nCorePerNode: 1,
        commandTimeout: 30,
        ...remote,
        ...opts.submitter,
      },
      monitor: {
        name: 'SlurmBulkMonitor',
        module: 'pandaharvester.harvestermonitor.slurm_bulk_monitor',
        // Longer than any sbatch of these tests can take (commandTimeout), short enough for a test.
        submissionGracePeriod: 45,
        ...remote,
        ...opts.monitor,
      },
      sweeper: { name: 'SlurmSweeper', module: 'pandaharvester.harvestersweeper.slurm_sweeper', ...remote },
      messenger: {
        name: 'SharedFileMessenger',
        module: 'pandaharvester.harvestermessenger.shared_file_messenger',
        accessPoint: join(this.root, '${workerID}'),
        ...remote,
      },
      preparator: { name: 'DummyPreparator', module: 'pandaharvester.harvesterpreparator.dummy_preparator' },
      stager: { name: 'DummyStager', module: 'pandaharvester.harvesterstager.dummy_stager' },
      workerMaker: { name: 'SimpleWorkerMaker', module: 'pandaharvester.harvesterworkermaker.simple_worker_maker' },
      ...opts.queue,
    };
  }

  /** The last warn/error lines of harvester.log, for assertion messages. */
  logTail(n = 15): string {
    try {
      const lines = readFileSync(this.run.logFile, 'utf8').split('\n').filter((l) => /"level":(40|50|60)/.test(l));
      return lines.slice(-n).join('\n');
    } catch (error) {
      return `(no log: ${(error as Error).message})`;
    }
  }

  /** A payload command that records its run, then does `then` (e.g. `sleep 2`, `exit 3`). */
  recordingCommand(then = 'true'): string {
    return `echo "$HARVESTER_PANDA_ID $HARVESTER_WORKER_ID" >> '${this.outputs}'; ${then}`;
  }

  async addJobs(count: number, then = 'true', queue = this.queueName): Promise<void> {
    const added = await runCli(['jobs', 'add', '--queue', queue, '--count', String(count), '--command', this.recordingCommand(then)], { home: this.run.home });
    if (added.status !== 0) throw new Error(`jobs add failed: ${added.stderr}`);
  }

  /** Payload runs per PandaID. */
  async payloadRuns(): Promise<Map<string, number>> {
    try {
      await readFile(this.outputs);
    } catch {
      return new Map();
    }
    return countByFirstWord(this.outputs);
  }

  workers(queue = this.queueName): StoredWorker[] {
    return queryDatabase<StoredWorker>(this.run.database, `SELECT "workerID", status, "batchID", "diagMessage" FROM work_table WHERE "computingSite" = ? ORDER BY "workerID"`, queue);
  }

  jobStates(queue = this.queueName): Record<string, number> {
    const rows = queryDatabase<{ state: string; n: number }>(
      this.run.database,
      `SELECT status || '/' || "subStatus" AS state, count(*) AS n FROM job_table WHERE "computingSite" = ? GROUP BY state`,
      queue,
    );
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }

  /** The job-name prefix of this run's SLURM jobs (SlurmSubmitter's identity: hv-<harvesterID>-w<workerID>). */
  get jobNamePrefix(): string {
    return `hv-${this.harvesterID}-w`;
  }

  /** SLURM jobs of this run that squeue knows (any state, within MinJobAge). */
  async squeueJobs(): Promise<SlurmJob[]> {
    const out = await slurmOk(this.testbed, ['squeue', '-h', '--states=all', `--user=${this.testbed.user.name}`, '-o', '%i|%j|%T']);
    return out
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => line.trim().split('|'))
      .filter(([, name]) => name?.startsWith(this.jobNamePrefix))
      .map(([jobID, name, state]) => ({ jobID: jobID!, name: name!, state: state!, exitCode: '' }));
  }

  /** SLURM jobs of this run in the accounting (sacct), by job id. */
  async sacctJobs(): Promise<SlurmJob[]> {
    const out = await slurmOk(this.testbed, ['sacct', '-X', '-n', '-P', '-S', 'now-2hours', `--user=${this.testbed.user.name}`, '-o', 'JobID,JobName,State,ExitCode']);
    const byID = new Map<string, SlurmJob>();
    for (const line of out.split('\n')) {
      const [jobID, name, state, exitCode] = line.trim().split('|');
      if (jobID === undefined || jobID === '' || name === undefined) continue;
      byID.set(jobID, { jobID, name, state: state ?? '', exitCode: exitCode ?? '' });
    }
    return [...byID.values()];
  }

  /**
   * Every SLURM job of this run, once accounting has recorded them all: squeue's jobs of this run are all in
   * sacct (sacct may briefly show a quick job under the name "allocation": matched by id, named from squeue).
   */
  async allSlurmJobs(timeoutMs = 60_000): Promise<SlurmJob[]> {
    return pollFor(
      `sacct to record every SLURM job of ${this.harvesterID}`,
      async () => {
        const queued = await this.squeueJobs();
        const accounted = new Map((await this.sacctJobs()).map((j) => [j.jobID, j]));
        if (queued.some((j) => !accounted.has(j.jobID))) return undefined;
        const names = new Map(queued.map((j) => [j.jobID, j.name]));
        const ours = [...accounted.values()]
          .map((j) => ({ ...j, name: names.get(j.jobID) ?? j.name }))
          .filter((j) => j.name.startsWith(this.jobNamePrefix));
        return ours;
      },
      timeoutMs,
      500,
    );
  }

  /** Cancels whatever this run left in SLURM and removes the bot home and the access points. */
  async cleanup(): Promise<void> {
    const left = await this.squeueJobs().catch(() => []);
    const live = left.filter((j) => !['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT'].includes(j.state)).map((j) => j.jobID);
    if (live.length > 0) await slurmOk(this.testbed, ['scancel', ...live]).catch(() => undefined);
    await this.bot.stop().catch(() => undefined);
    await this.bot.cleanup();
    await rm(this.root, { recursive: true, force: true });
  }
}

/**
 * What every fault test checks once the run is over: one SLURM job per worker that reached SLURM and no worker
 * without its job (the batchIDs in the store are exactly this run's SLURM jobs), no two jobs for one worker, every
 * job finished, every payload ran exactly once.
 */
export interface SiteAccount {
  readonly slurmJobs: readonly SlurmJob[];
  readonly workers: readonly StoredWorker[];
  readonly runs: ReadonlyMap<string, number>;
}

export async function accountFor(site: SlurmSite): Promise<SiteAccount> {
  return { slurmJobs: await site.allSlurmJobs(), workers: site.workers(), runs: await site.payloadRuns() };
}

/** A directory on hpc the bot's user owns (for files a second queue's bot writes). */
export async function userDirectory(testbed: Testbed, parent: string, name: string): Promise<string> {
  const dir = join(parent, name);
  await mkdir(dir, { recursive: true });
  await chown(dir, testbed.user.uid, -1);
  return dir;
}

export { fastAgentSettings };
