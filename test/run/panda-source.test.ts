// `harvester run` with jobs from a PanDA server: "communicator": {"className": "PandaCommunicator"} and a
// "pandacon" section in harvester.json, against the strict fake PanDA server 1.0 of the test suite (real HTTPS
// on loopback, API v1 checked against the server's function signatures): once with a token, once with an
// X.509 client certificate. The server must refuse none of the calls (beyond the one fault it is told to
// answer, whose warning must reach it as a dialog message).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakePandaServer } from '../support/panda/fake-panda-server.js';
import { pandaJobDict } from '../support/panda/panda-job.js';
import { makeTestPki, opensslAvailable, type TestPki } from '../support/panda/test-pki.js';
import { runCli, TempDirs, writeJson } from '../cli/support.js';
import { fastAgentSettings, localProcessQueue, makeRunHome, type ListedJob } from './support.js';

const skip = opensslAvailable() ? false : 'the openssl command is not installed (apt-get install openssl)';
if (skip !== false && process.env.CI === 'true') throw new Error(`PanDA run tests cannot run: ${skip}`);

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.harvester-run-token.signature';
const VO = 'atlas.production';

const dirs = new TempDirs();
let pki: TestPki;
let server: FakePandaServer;
before(async () => {
  if (skip !== false) return;
  pki = makeTestPki(dirs.make('panda-pki'));
  server = await FakePandaServer.start({
    tls: { cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey), ca: readFileSync(pki.caCert) },
    requireToken: TOKEN,
    vo: VO,
  });
});
after(async () => {
  await server?.close();
  dirs.cleanup();
});

/** A home for one site whose harvester.json points at the fake server with these credentials. */
function pandaHome(site: string, credentials: Record<string, unknown>, pandacon: Record<string, unknown> = {}): string {
  const configDir = dirs.make(`panda-config-${site}`);
  const queueConfigFile = writeJson(join(configDir, 'queues.json'), { [site]: localProcessQueue() });
  const { home } = makeRunHome(dirs, `panda-${site}`, {
    queueConfigFile,
    extra: {
      communicator: { className: 'PandaCommunicator' },
      pandacon: { pandaURLSSL: server.url, ca_cert: pki.caCert, maxRetries: 0, ...credentials, ...pandacon },
      // Worker statistics and service metrics at every other cycle, so a short run sends them several times.
      propagator: { ...fastAgentSettings.propagator, statsInterval: 0.4 },
    },
  });
  return home;
}

/** Runs the home until its jobs are done and checks what the server received for them. */
async function runSite(home: string, site: string, firstID: number): Promise<void> {
  server.addJobs(
    site,
    pandaJobDict({ PandaID: firstID, transformation: 'echo', jobPars: `hello from ${firstID}` }),
    pandaJobDict({ PandaID: firstID + 1, transformation: '/bin/sh', jobPars: '-c "exit 4"' }),
  );
  // One refused statistics report: a warning of the propagator, which it sends to PanDA as a dialog message.
  server.failNext('harvester/report_worker_statistics', { kind: 'status', status: 503 });
  const dialogsBefore = server.state.dialogs.length;
  const run = await runCli(['run', '--until-done', '--timeout', '60'], { home, timeoutMs: 90_000 });
  assert.equal(run.status, 0, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  assert.equal(server.queuedJobs(site), 0, 'every job was fetched');

  const jobs = JSON.parse((await runCli(['jobs', 'list', '--json'], { home })).stdout) as ListedJob[];
  assert.deepEqual(jobs.map((j) => [j.PandaID, j.status]), [[firstID, 'finished'], [firstID + 1, 'failed']]);
  const lastReport = (id: number): Record<string, unknown> | undefined => server.jobUpdates.get(id)?.at(-1);
  assert.equal(lastReport(firstID)?.['job_status'], 'finished', JSON.stringify(server.jobUpdates.get(firstID)));
  assert.equal(lastReport(firstID + 1)?.['job_status'], 'failed', JSON.stringify(server.jobUpdates.get(firstID + 1)));
  const workers = [...server.workers.values()].filter((w) => w['computingSite'] === site);
  assert.deepEqual(workers.map((w) => w['status']).sort(), ['failed', 'finished'], 'both workers were reported');
  assert.ok(server.state.workerStats.has(site), `worker statistics of ${site} were reported`);
  assert.ok(server.state.serviceMetrics.length > 0, 'service metrics were reported');
  // The propagator's warning about the refused statistics (below) reached PanDA as a dialog message.
  const dialogs = (server.state.dialogs as Record<string, unknown>[]).slice(dialogsBefore);
  const warning = dialogs.find((d) => d['moduleName'] === 'propagator' && String(d['diagMessage']).startsWith('reporting to the source failed'));
  assert.ok(warning !== undefined, `the propagator's warning was sent as a dialog message: ${JSON.stringify(dialogs)}`);
  assert.equal(warning['messageLevel'], 'WARNING');
  assert.match(String(warning['creationTime']), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
  assert.ok(!String(warning['diagMessage']).includes(TOKEN), 'no secret in a dialog');
  assert.deepEqual(server.refusals().map((r) => [r.method, r.status, r.answer]), [], 'the server refused none of the calls');
}

describe('harvester run with the PanDA communicator (API v1, server 1.0)', { skip }, () => {
  test('with a token: fetches the jobs, runs them, reports their states, the workers, worker statistics, service metrics and dialog messages over HTTPS; heartbeat and commands', async () => {
    const tokenFile = join(dirs.make('panda-token'), 'token');
    writeFileSync(tokenFile, `${TOKEN}\n`);
    const before = server.requests.length;
    const command = server.addCommand('SET_N_WORKERS_JOBTYPE', { queue: 'PANDA_TOKEN_SITE' });
    await runSite(pandaHome('PANDA_TOKEN_SITE', { auth_type: 'oidc', auth_token: `file:${tokenFile}`, auth_origin: VO }), 'PANDA_TOKEN_SITE', 7001);
    const sent = server.requests.slice(before);
    assert.ok(sent.every((r) => r.headers.authorization === `Bearer ${TOKEN}` && r.headers.origin === VO), 'every call carries the token and the VO');
    assert.ok(sent.every((r) => r.path.startsWith('/api/v1/')), 'every call goes to API v1');
    assert.ok(server.heartbeats.length > 0, 'the heartbeat was sent');
    assert.equal(server.commands[command - 1]?.status, 'acknowledged', 'the command was fetched and acknowledged');
  });

  test('with an X.509 certificate: the same, each call authenticated by the client certificate', async () => {
    const before = server.requests.length;
    await runSite(pandaHome('PANDA_X509_SITE', { cert_file: pki.clientCert, key_file: pki.clientKey }), 'PANDA_X509_SITE', 7101);
    const sent = server.requests.slice(before);
    assert.ok(sent.every((r) => r.clientCertSubject === 'harvester-ts test client' && r.headers.authorization === undefined));
  });

  test('configured for the legacy API, harvester run gets "403 getJob is forbidden" from server 1.0 and takes no job', async () => {
    const site = 'PANDA_LEGACY_SITE';
    server.addJobs(site, pandaJobDict({ PandaID: 7201 }));
    const home = pandaHome(site, { cert_file: pki.clientCert, key_file: pki.clientKey }, { api: 'legacy' });
    const run = await runCli(['run', '--once'], { home, timeoutMs: 60_000 });
    assert.equal(run.status, 0, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
    assert.equal(server.queuedJobs(site), 1, 'the job is still in PanDA');
    const refused = server.requestsTo('getJob');
    assert.ok(refused.length > 0 && refused.every((r) => r.status === 403 && r.answer === 'ERROR : getJob is forbidden'));
  });
});
