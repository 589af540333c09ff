import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { WorkSpec } from '../../../spec/index.js';
import { PluginOptionError } from '../../errors.js';
import { OptionReader } from '../../options.js';
import { placeholderMap, placeholderNames, readPlaceholderSettings } from './slurm-placeholders.js';

// Expected values were produced by running harvester's own SlurmSubmitter.make_placeholder_map (HEAD of
// HSF/harvester) on the same options and worker shapes, with harvester_id "cern_central_a" and
// naive_utcnow 2024-05-01 13:07 (harvester needs a logDir for any map: "/logs" was given).
const arithmetic = [
  'nCorePerNode', 'nCoreTotal', 'nCoreFactor', 'nNode', 'requestRam', 'requestRamBytes', 'requestRamPerCore', 'requestRamBytesPerCore',
  'requestDisk', 'requestWalltime', 'requestWalltimeMinute', 'requestCputime', 'requestCputimeMinute', 'gtag', 'localQueueName',
] as const;

const now = new Date(Date.UTC(2024, 4, 1, 13, 7, 0));

function mapFor(options: Record<string, unknown>, worker: Record<string, unknown>): Record<string, unknown> {
  const settings = readPlaceholderSettings('SlurmSubmitter', new OptionReader('SlurmSubmitter', { logDir: '/logs', ...options }));
  const workSpec = new WorkSpec({ workerID: 7, accessPoint: '/w/7', computingSite: 'SITE', jobType: 'managed', resourceType: 'SCORE', ...worker });
  if (settings.nCore > 0) workSpec.nCore = settings.nCore;
  const accessPoint = workSpec.accessPoint!;
  const map = placeholderMap(settings, workSpec, { harvesterID: 'cern_central_a', queueName: 'Q', accessPoint, workerID: 7, payloadScript: `${accessPoint}/harvester_payload.sh`, now });
  return Object.fromEntries(arithmetic.map((k) => [k, map[k]]));
}

describe("SLURM template placeholders: harvester's make_placeholder_map", () => {
  test('a worker with nothing set: one core, 1 MB, one node, partition "grid"', () => {
    assert.deepEqual(mapFor({}, {}), {
      nCorePerNode: 1, nCoreTotal: 1, nCoreFactor: 1, nNode: 1, requestRam: 1, requestRamBytes: 1048576, requestRamPerCore: 1,
      requestRamBytesPerCore: 1048576, requestDisk: 1, requestWalltime: 0, requestWalltimeMinute: 0, requestCputime: 0,
      requestCputimeMinute: 0, gtag: 'unknown', localQueueName: 'grid',
    });
  });

  test('a 48-core worker on 24-core nodes: two nodes, MB and bytes per core, disk in MB x 1024, cpu time', () => {
    assert.deepEqual(mapFor({ nCorePerNode: 24 }, { nCore: 48, minRamCount: 96000, maxDiskCount: 500, maxWalltime: 3600 }), {
      nCorePerNode: 24, nCoreTotal: 48, nCoreFactor: 1, nNode: 2, requestRam: 96000, requestRamBytes: 100663296000, requestRamPerCore: 2000,
      requestRamBytesPerCore: 2097152000, requestDisk: 512000, requestWalltime: 3600, requestWalltimeMinute: 60, requestCputime: 172800,
      requestCputimeMinute: 2880, gtag: 'unknown', localQueueName: 'grid',
    });
  });

  test('memory below one MB per core is raised to it; minutes are rounded up', () => {
    assert.deepEqual(mapFor({ nCorePerNode: 8 }, { nCore: 8, minRamCount: 4, maxWalltime: 125 }), {
      nCorePerNode: 8, nCoreTotal: 8, nCoreFactor: 1, nNode: 1, requestRam: 8, requestRamBytes: 8388608, requestRamPerCore: 1,
      requestRamBytesPerCore: 1048576, requestDisk: 1, requestWalltime: 125, requestWalltimeMinute: 3, requestCputime: 1000,
      requestCputimeMinute: 17, gtag: 'unknown', localQueueName: 'grid',
    });
  });

  test('an integer nCoreFactor multiplies cores and memory only; nNode and localQueueName options; gtag under logBaseURL', () => {
    const options = { nCorePerNode: 4, nCoreFactor: 2, nNode: 3, logBaseURL: 'https://h/logs', localQueueName: 'debug' };
    assert.deepEqual(mapFor(options, { nCore: 6, minRamCount: 2000, maxWalltime: 59, accessPoint: '/logs/ap/7' }), {
      nCorePerNode: 4, nCoreTotal: 12, nCoreFactor: 2, nNode: 3, requestRam: 4000, requestRamBytes: 4194304000, requestRamPerCore: 334,
      requestRamBytesPerCore: 349525334, requestDisk: 1, requestWalltime: 59, requestWalltimeMinute: 1, requestCputime: 354,
      requestCputimeMinute: 6, gtag: 'https://h/logs/ap/7/7.out', localQueueName: 'debug',
    });
  });

  test('an nCoreFactor map applies per jobType and resourceType, 1 where it names neither', () => {
    const options = { nCorePerNode: 8, nCoreFactor: { managed: { MCORE: 3 } } };
    const worker = { nCore: 8, minRamCount: 16000, maxWalltime: 7201 };
    assert.deepEqual(mapFor(options, { ...worker, resourceType: 'MCORE' }), {
      nCorePerNode: 8, nCoreTotal: 24, nCoreFactor: 3, nNode: 1, requestRam: 48000, requestRamBytes: 50331648000, requestRamPerCore: 2000,
      requestRamBytesPerCore: 2097152000, requestDisk: 1, requestWalltime: 7201, requestWalltimeMinute: 121, requestCputime: 57608,
      requestCputimeMinute: 961, gtag: 'unknown', localQueueName: 'grid',
    });
    assert.deepEqual(mapFor(options, { ...worker, resourceType: 'SCORE' }), {
      nCorePerNode: 8, nCoreTotal: 8, nCoreFactor: 1, nNode: 1, requestRam: 16000, requestRamBytes: 16777216000, requestRamPerCore: 2000,
      requestRamBytesPerCore: 2097152000, requestDisk: 1, requestWalltime: 7201, requestWalltimeMinute: 121, requestCputime: 57608,
      requestCputimeMinute: 961, gtag: 'unknown', localQueueName: 'grid',
    });
  });

  test('the nCore option sets every worker\'s cores; nCorePerNode 0 means nCore', () => {
    assert.deepEqual(
      [mapFor({ nCore: 24, nCorePerNode: 0 }, { nCore: 1 })].map((m) => [m['nCorePerNode'], m['nCoreTotal'], m['nNode']]),
      [[24, 24, 1]],
    );
  });

  test('identity and paths: harvesterID, queue names, logSubDir per UTC hour, payloadScript, optional token names', () => {
    const settings = readPlaceholderSettings('SlurmSubmitter', new OptionReader('SlurmSubmitter', { logDir: '/logs', partition: 'short', tokenDir: '/tok' }));
    const map = placeholderMap(settings, new WorkSpec({ workerID: 7, computingSite: 'SITE', jobType: 'managed' }), {
      harvesterID: 'cern_central_a', queueName: 'Q', accessPoint: '/w/7', workerID: 7, payloadScript: '/w/7/harvester_payload.sh', now,
    });
    assert.equal(map['harvesterID'], 'cern_central_a');
    assert.equal(map['pandaQueueName'], 'Q');
    assert.equal(map['localQueueName'], 'short');
    assert.equal(map['logSubDir'], '/logs/24-05-01_13');
    assert.equal(map['payloadScript'], '/w/7/harvester_payload.sh');
    assert.equal(map['tokenDir'], '/tok');
    assert.equal(map['computingSite'], 'SITE');
  });

  test('logDir, logSubDir and token names are placeholders only when their option is set', () => {
    const bare = placeholderNames(readPlaceholderSettings('S', new OptionReader('S', {})));
    assert.equal(bare.known.has('logDir'), false);
    assert.match(bare.unavailable['logSubDir'] ?? '', /no logDir option/);
    assert.match(bare.unavailable['tokenName'] ?? '', /no tokenName option/);
    const full = placeholderNames(readPlaceholderSettings('S', new OptionReader('S', { logDir: '/l', tokenName: 't' })));
    assert.ok(full.known.has('logSubDir') && full.known.has('tokenName') && full.known.has('payloadScript'));
  });

  test('bad values are refused at construction: nCoreFactor below 1 or not a map of maps, partition disagreeing with localQueueName', () => {
    const read = (options: Record<string, unknown>) => () => readPlaceholderSettings('SlurmSubmitter', new OptionReader('SlurmSubmitter', options));
    assert.throws(read({ nCoreFactor: 0 }), PluginOptionError);
    assert.throws(read({ nCoreFactor: { managed: 2 } }), /must map jobType to \{resourceType: factor\}/);
    assert.throws(read({ nCoreFactor: { managed: { MCORE: 1.5 } } }), /nCoreFactor\.managed\.MCORE/);
    assert.throws(read({ partition: 'a', localQueueName: 'b' }), /disagrees with localQueueName/);
    assert.throws(read({ nCorePerNode: 0 }), /nCorePerNode/);
  });
});
