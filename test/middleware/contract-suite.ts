// One contract suite for every transport (Kysely-style conformance): for every method of every plugin
// contract, the same call on the same inputs is made on the local (bare) plugin and through the RPC herder,
// and both must give the same result and leave the caller's specs with the same changes. Inputs are built
// twice, under two roots, so the two runs never touch each other's files; paths, random batch IDs and clocks
// are normalized before comparing.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseQueueConfig, type QueueConfig } from '../../src/config/index.js';
import { contractMethods, pluginKinds, type AnyPlugin, type PluginContext, type PluginKind } from '../../src/plugins/contracts.js';
import type { PluginFactory } from '../../src/plugins/index.js';
import { collectSpecs, encodeValue, EventSpec, FileSpec, JobSpec, WorkSpec, type WorkerStatus } from '../../src/spec/index.js';
import { createLogger } from '../../src/logging/index.js';

/** What a transport provides to the suite. */
export interface ContractTransport {
  /** Builds plugins: local ones for the local queue, herder proxies for the remote one. */
  readonly factory: PluginFactory;
  /** A fresh directory both this process and the bot can write (on SSH: owned by the bot's user). */
  makeRoot(name: string): Promise<string>;
  /** How many plugin calls the bot has recorded, to prove the remote runs really crossed the wire. */
  callsServed(): Promise<number>;
  close(): Promise<void>;
}

const sections = {
  submitter: { name: 'DummySubmitter', module: 'pandaharvester.harvestersubmitter.dummy_submitter' },
  monitor: { name: 'DummyMonitor', module: 'pandaharvester.harvestermonitor.dummy_monitor' },
  sweeper: { name: 'DummySweeper', module: 'pandaharvester.harvestersweeper.dummy_sweeper' },
  stager: { name: 'DummyStager', module: 'pandaharvester.harvesterstager.dummy_stager' },
  preparator: { name: 'DummyPreparator', module: 'pandaharvester.harvesterpreparator.dummy_preparator' },
  messenger: { name: 'SharedFileMessenger', module: 'pandaharvester.harvestermessenger.shared_file_messenger' },
  workerMaker: { name: 'SimpleWorkerMaker', module: 'pandaharvester.harvesterworkermaker.simple_worker_maker' },
  throttler: { name: 'SimpleThrottler', module: 'pandaharvester.harvesterthrottler.simple_throttler' },
};

/** The pair of queues compared: identical sections, one with "middleware": "rpc". */
export function contractQueues(rpc: Record<string, unknown>): { local: QueueConfig; remote: QueueConfig } {
  const base = { queueStatus: 'online', mapType: 'OneToOne', maxWorkers: 10, nQueueLimitWorker: 10 };
  const text = JSON.stringify({
    contract_local: { ...base, ...sections },
    contract_remote: {
      ...base,
      rpc: { name: 'RpcHerder', module: 'pandaharvester.harvestermiddleware.rpc_herder', ...rpc },
      ...Object.fromEntries(Object.entries(sections).map(([k, v]) => [k, { ...v, middleware: 'rpc' }])),
    },
  });
  const load = parseQueueConfig(text, 'contract-suite.json');
  assert.deepEqual(load.problems, [], 'the suite queues load');
  return { local: load.queues.get('contract_local')!, remote: load.queues.get('contract_remote')! };
}

interface Scenario {
  readonly kind: PluginKind;
  readonly method: string;
  /** Builds the arguments under root (and any files a worker would have written). */
  readonly args: (root: string) => Promise<unknown[]>;
}

let nextID = 1000;
function worker(root: string, status: WorkerStatus = 'submitted'): WorkSpec {
  const workerID = nextID++;
  const w = new WorkSpec({ workerID, queueName: 'contract', status, mapType: 'OneToOne', nCore: 1 });
  w.accessPoint = join(root, String(workerID));
  return w;
}

function job(root: string, PandaID: number): JobSpec {
  const j = new JobSpec({ PandaID, taskID: 7, status: 'starting', subStatus: 'prepared', jobParams: { transformation: 'echo', jobPars: 'hi' } });
  const inFile = new FileSpec({ PandaID, lfn: `in_${PandaID}.root`, fileType: 'input', status: 'preparing', scope: 'mc' });
  const outFile = new FileSpec({ PandaID, lfn: `out_${PandaID}.root`, fileType: 'output', status: 'defined' });
  outFile.path = join(root, `out_${PandaID}.root`);
  j.addInFile(inFile);
  j.addOutFile(outFile);
  return j;
}

async function accessPoint(w: WorkSpec, files: Record<string, string> = {}): Promise<WorkSpec> {
  await mkdir(w.accessPoint!, { recursive: true, mode: 0o777 });
  for (const [name, content] of Object.entries(files)) await writeFile(join(w.accessPoint!, name), content, { mode: 0o666 });
  return w;
}

const scenarios: readonly Scenario[] = [
  { kind: 'submitter', method: 'submitWorkers', args: async (r) => [[await accessPoint(worker(r, 'ready')), await accessPoint(worker(r, 'ready'))]] },
  {
    kind: 'monitor',
    method: 'checkWorkers',
    args: async (r) => [[await accessPoint(worker(r), { 'status.txt': 'running' }), await accessPoint(worker(r), { 'status.txt': 'finished' }), await accessPoint(worker(r))]],
  },
  { kind: 'sweeper', method: 'killWorker', args: async (r) => [await accessPoint(worker(r), { 'status.txt': 'running' })] },
  { kind: 'sweeper', method: 'killWorkers', args: async (r) => [[await accessPoint(worker(r), { 'status.txt': 'running' }), await accessPoint(worker(r))]] },
  { kind: 'sweeper', method: 'sweepWorker', args: async (r) => [await accessPoint(worker(r, 'finished'), { 'status.txt': 'finished' })] },
  { kind: 'stager', method: 'triggerStageOut', args: async (r) => [job(r, 11)] },
  { kind: 'stager', method: 'checkStageOutStatus', args: async (r) => [job(r, 12)] },
  {
    kind: 'stager',
    method: 'zipOutput',
    args: async (r) => {
      const j = job(r, 13);
      await mkdir(r, { recursive: true });
      await writeFile(join(r, 'out_13.root'), 'payload output', { mode: 0o666 });
      const zip = new FileSpec({ PandaID: 13, lfn: 'out_13.zip', fileType: 'zip_output', status: 'defined' });
      zip.associatedFiles = [j.outFiles[0]!];
      j.outFiles = [zip];
      return [j];
    },
  },
  { kind: 'preparator', method: 'triggerPreparation', args: async (r) => [job(r, 21)] },
  { kind: 'preparator', method: 'checkStageInStatus', args: async (r) => [job(r, 22)] },
  { kind: 'preparator', method: 'resolveInputPaths', args: async (r) => [job(r, 23)] },
  { kind: 'messenger', method: 'setupAccessPoints', args: async (r) => [[worker(r), worker(r)]] },
  {
    kind: 'messenger',
    method: 'feedJobs',
    // The same job both inside the worker (jobSpecs) and as an argument: it must travel once and stay one object.
    args: async (r) => {
      const w = await accessPoint(worker(r), { 'worker_requestjob.json': '{"nJobs": 1}' });
      const j = job(r, 31);
      w.jobSpecs = [j];
      return [w, [j]];
    },
  },
  { kind: 'messenger', method: 'jobRequested', args: async (r) => [await accessPoint(worker(r), { 'worker_requestjob.json': '{"nJobs": 2}' })] },
  { kind: 'messenger', method: 'killRequested', args: async (r) => [await accessPoint(worker(r), { 'kill_worker.json': '{}' })] },
  { kind: 'messenger', method: 'isAlive', args: async (r) => [await accessPoint(worker(r), { 'worker_heartbeat.json': '{}' }), 3600] },
  {
    kind: 'messenger',
    method: 'getWorkAttributes',
    args: async (r) => [await accessPoint(worker(r), { 'worker_attributes.json': '{"jobStatus": "finished", "exitCode": 0}', 'jobReport.json': '{"exitMsg": "OK"}' })],
  },
  {
    kind: 'messenger',
    method: 'getFilesToStageOut',
    args: async (r) => {
      const w = await accessPoint(worker(r));
      await writeFile(join(w.accessPoint!, 'out.root'), 'data', { mode: 0o666 });
      await writeFile(join(w.accessPoint!, 'event_status.dump.json'), JSON.stringify({ 41: [{ path: join(w.accessPoint!, 'out.root'), type: 'output', fsize: 4 }] }), { mode: 0o666 });
      return [w];
    },
  },
  { kind: 'messenger', method: 'feedEvents', args: async (r) => [await accessPoint(worker(r)), { 51: [{ eventRangeID: '51-1-1', startEvent: 1, lastEvent: 10 }] }] },
  {
    kind: 'messenger',
    method: 'eventsToUpdate',
    args: async (r) => [await accessPoint(worker(r), { 'worker_updateevents.json': JSON.stringify({ 52: [{ eventRangeID: '52-1-1', eventStatus: 'finished' }] }) })],
  },
  { kind: 'messenger', method: 'eventsRequested', args: async (r) => [await accessPoint(worker(r), { 'worker_requestevents.json': JSON.stringify({ 53: { nRanges: 4, pandaID: 53 } }) })] },
  { kind: 'messenger', method: 'getPandaIds', args: async (r) => [await accessPoint(worker(r), { 'worker_pandaids.json': '[61, 62]' })] },
  { kind: 'messenger', method: 'postProcessing', args: async (r) => [await accessPoint(worker(r, 'finished')), [job(r, 71)], 'OneToOne'] },
  { kind: 'messenger', method: 'acknowledgeEventsFiles', args: async (r) => [await accessPoint(worker(r), { 'worker_updateevents.json': '{}' })] },
  { kind: 'messenger', method: 'cleanUp', args: async (r) => [await accessPoint(worker(r, 'finished'), { 'status.txt': 'finished' })] },
  { kind: 'workerMaker', method: 'makeWorker', args: async (r) => [[job(r, 81)], 'managed', 'SCORE'] },
  { kind: 'workerMaker', method: 'getNumJobsPerWorker', args: async () => [3] },
  { kind: 'workerMaker', method: 'getNumWorkersPerJob', args: async () => [3] },
  { kind: 'throttler', method: 'toBeThrottled', args: async () => [] },
];

/** Paths under the root, random IDs and times differ between the two runs by construction; nothing else may. */
function normalize(value: unknown, root: string): string {
  return JSON.stringify(encodeValue(value))
    .split(root)
    .join('<ROOT>')
    .replace(/contract_(local|remote)/g, 'contract_<Q>')
    .replace(/\{"\$date":"[^"]*"\}/g, '"<DATE>"')
    .replace(/[0-9a-f]{32}/g, '<ID>')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<ID>')
    .replace(/"workerID":\d+/g, '"workerID":"<N>"')
    .replace(/\/<N>|<ROOT>\/\d+/g, '<ROOT>/<N>')
    .replace(/"(chksum|fsize|lastModified|mtime)":("[^"]*"|\d+)/g, '"$1":"<X>"');
}

interface RunOutcome {
  readonly result: string;
  readonly args: string;
  readonly changed: string[][];
}

async function run(plugin: AnyPlugin, ctx: PluginContext, method: string, args: unknown[], root: string): Promise<RunOutcome> {
  const specs = collectSpecs(args);
  for (const s of specs) s.resetChanges();
  const fn = (plugin as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[method];
  assert.equal(typeof fn, 'function', `${method} exists`);
  let result: unknown;
  try {
    result = await fn!.call(plugin, ctx, ...args);
  } catch (error) {
    result = { threw: error instanceof Error ? error.message : String(error) };
  }
  return { result: normalize(result, root), args: normalize(args, root), changed: specs.map((s) => [...s.changedFields()].sort()) };
}

/** Registers the suite under `name`; `open` is called once, in a before hook; the transport is closed in an after hook. */
export function defineContractSuite(name: string, open: (t: { skip(reason: string): void }) => Promise<ContractTransport | undefined>, rpc: () => Record<string, unknown>): void {
  describe(`contract suite over ${name}: local and remote plugins give the same results and mutations`, () => {
    let transport: ContractTransport | undefined;
    let queues: { local: QueueConfig; remote: QueueConfig };
    const log = createLogger({ level: 'warn', name: `contract-${name}` });

    // Why the transport could not be opened (outside CI: the tests skip saying so; under CI `open` throws).
    let unavailable = 'transport not available';
    before(async () => {
      transport = await open({ skip: (reason) => (unavailable = reason) });
      if (transport !== undefined) queues = contractQueues(rpc());
    });
    after(async () => {
      await transport?.close();
    });

    for (const scenario of scenarios) {
      test(`${scenario.kind}.${scenario.method}`, async (t) => {
        if (transport === undefined) return t.skip(unavailable);
        const [localPlugin, remotePlugin] = await Promise.all([
          transport.factory.forQueue(queues.local, scenario.kind),
          transport.factory.forQueue(queues.remote, scenario.kind),
        ]);
        const ctx = (queue: QueueConfig): PluginContext => ({ queue, log, signal: AbortSignal.timeout(30_000) });
        const localRoot = await transport.makeRoot(`local-${scenario.kind}-${scenario.method}`);
        const remoteRoot = await transport.makeRoot(`remote-${scenario.kind}-${scenario.method}`);
        const local = await run(localPlugin!, ctx(queues.local), scenario.method, await scenario.args(localRoot), localRoot);
        const remote = await run(remotePlugin!, ctx(queues.remote), scenario.method, await scenario.args(remoteRoot), remoteRoot);
        assert.doesNotMatch(local.result, /"threw"/, `the local call works: ${local.result}`);
        assert.equal(remote.result, local.result, 'same result');
        assert.equal(remote.args, local.args, 'same state of the arguments after the call');
        assert.deepEqual(remote.changed, local.changed, 'same changed fields on each spec');
      });
    }

    test('every contract method is covered by a scenario', () => {
      for (const kind of pluginKinds) {
        for (const m of contractMethods[kind]) {
          assert.ok(scenarios.some((s) => s.kind === kind && s.method === m.name), `${kind}.${m.name} has a scenario`);
        }
      }
    });

    test('the remote calls crossed the wire (the bot journaled each one)', async (t) => {
      if (transport === undefined) return t.skip('transport not available (see setup)');
      const remoteOnly = scenarios.filter((s) => !(queues.remote[s.kind]?.bareFunctions ?? []).includes(s.method)).length;
      assert.ok((await transport.callsServed()) >= remoteOnly, `at least ${remoteOnly} calls journaled`);
    });
  });
}

export { EventSpec };
