// `harvester run` with jobs from a PanDA server: "communicator": {"className": "PandaCommunicator"} and a
// "pandacon" section in harvester.json, against the fake PanDA server of the test suite (real HTTP on loopback).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { FakePandaServer } from '../support/panda/fake-panda-server.js';
import { pandaJobDict } from '../support/panda/panda-job.js';
import { runCli, TempDirs, writeJson } from '../cli/support.js';
import { localProcessQueue, makeRunHome, type ListedJob } from './support.js';

const dirs = new TempDirs();
let server: FakePandaServer;
before(async () => {
  server = await FakePandaServer.start();
});
after(async () => {
  await server.close();
  dirs.cleanup();
});

describe('harvester run with the PanDA communicator', () => {
  test("fetches the site's jobs from the server, runs them, and reports their final states and the workers back", async () => {
    const configDir = dirs.make('panda-config');
    const queueConfigFile = writeJson(join(configDir, 'queues.json'), { PANDA_SITE: localProcessQueue() });
    const { home } = makeRunHome(dirs, 'panda', {
      queueConfigFile,
      extra: { communicator: { className: 'PandaCommunicator' }, pandacon: { pandaURLSSL: server.url, maxRetries: 0 } },
    });
    server.addJobs(
      'PANDA_SITE',
      pandaJobDict({ PandaID: 7001, transformation: 'echo', jobPars: 'hello from 7001' }),
      pandaJobDict({ PandaID: 7002, transformation: '/bin/sh', jobPars: '-c "exit 4"' }),
    );

    const run = await runCli(['run', '--until-done', '--timeout', '60'], { home, timeoutMs: 90_000 });
    assert.equal(run.status, 0, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
    assert.equal(server.queuedJobs('PANDA_SITE'), 0, 'every job was fetched');

    const jobs = JSON.parse((await runCli(['jobs', 'list', '--json'], { home })).stdout) as ListedJob[];
    assert.deepEqual(jobs.map((j) => [j.PandaID, j.status]), [[7001, 'finished'], [7002, 'failed']]);
    const lastReport = (id: number): Record<string, unknown> | undefined => server.jobUpdates.get(id)?.at(-1);
    assert.equal(lastReport(7001)?.state, 'finished', JSON.stringify(server.jobUpdates.get(7001)));
    assert.equal(lastReport(7002)?.state, 'failed', JSON.stringify(server.jobUpdates.get(7002)));
    assert.equal(server.workers.size, 2, 'both workers were reported');
    assert.deepEqual([...server.workers.values()].map((w) => w.status).sort(), ['failed', 'finished']);
  });
});
