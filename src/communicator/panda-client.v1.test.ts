// The PanDA client speaking API v1 (the default) to the strict fake server 1.0: each call reaches the server
// function it should, with the declared HTTP method and the server's parameter names, and every answer is read
// as harvester reads it. The fake refuses anything the server's request_validation refuses, so a test passing
// here means the server took the call.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { EventSpec, JobSpec, WorkSpec } from '../spec/index.js';
import { createLogger, SecretRegistry } from '../logging/index.js';
import { pandaConfigFrom, type PandaConfig } from './config.js';
import { PandaHttpError, PandaServerError } from './errors.js';
import { PandaClient } from './panda-client.js';
import { FakePandaServer } from '../../test/support/panda/fake-panda-server.js';
import { pandaJobDict } from '../../test/support/panda/panda-job.js';

const SITE = 'CERN-V1';
const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.v1-test-token.signature';
const VO = 'atlas.production';

function configFor(server: FakePandaServer, extra: Record<string, unknown> = {}): PandaConfig {
  const config = pandaConfigFrom(
    { pandacon: { pandaURLSSL: server.url, timeout: 5, retryBackoff: 0.001, maxRetries: 0, auth_type: 'oidc', auth_token: TOKEN, auth_origin: VO, ...extra } },
    { secrets: new SecretRegistry(), harvesterID: 'test-harvester' },
  );
  assert.ok(config !== undefined);
  return config;
}

const quiet = { logger: createLogger({ level: 'silent' }) };
const request = (nJobs: number, siteName = SITE) => ({ siteName, nodeName: 'node1', prodSourceLabel: 'managed', computingElement: 'ce1', nJobs });

describe('PandaClient with API v1, against a PanDA server 1.0', () => {
  let server: FakePandaServer;
  let client: PandaClient;

  before(async () => {
    server = await FakePandaServer.start({ requireToken: TOKEN, vo: VO });
    client = new PandaClient(configFor(server), quiet);
  });
  after(async () => {
    assert.deepEqual(server.refusals().map((r) => [r.method, r.answer]), [], 'the server refused none of the calls');
    await server.close();
  });

  test('getJobs POSTs pilot/acquire_jobs as JSON with the server\'s names, and reads the jobs from data', async () => {
    server.addJobs(SITE, pandaJobDict({ PandaID: 5001 }), pandaJobDict({ PandaID: 5002 }));
    const jobs = await client.getJobs({ ...request(2), resourceType: 'SCORE' });
    assert.deepEqual(jobs.map((j) => j.PandaID), [5001, 5002]);
    const sent = server.requestsTo('pilot/acquire_jobs').at(-1);
    assert.equal(sent?.httpMethod, 'POST');
    assert.equal(sent?.path, '/api/v1/pilot/acquire_jobs');
    assert.equal(sent?.headers['content-type'], 'application/json');
    assert.deepEqual(sent?.params, {
      site_name: SITE, node: 'node1', prod_source_label: 'managed', computing_element: 'ce1', n_jobs: 2,
      scheduler_id: 'harvester-test-harvester', resource_type: 'SCORE',
    });
    assert.equal(sent?.headers.authorization, `Bearer ${TOKEN}`);
    assert.equal(sent?.headers.origin, VO);
  });

  test('an answer other than success is no jobs, not an error; a reason other than an empty queue is a warning', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer | string, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logged = new PandaClient(configFor(server), { logger: createLogger({ level: 'debug', destination }) });
    assert.deepEqual(await logged.getJobs(request(3, 'EMPTY-QUEUE')), []);
    server.failNext('pilot/acquire_jobs', { kind: 'answer', value: { success: false, message: 'no production/pilot role in VOMS FQANs or non pilot owner', data: null } });
    assert.deepEqual(await logged.getJobs(request(1)), []);
    const entries = lines.map((l) => JSON.parse(l) as { level: number; msg: string; reason?: string });
    assert.deepEqual(entries.filter((e) => e.reason !== undefined).map((e) => [e.level, e.reason]), [
      [20, 'No jobs in PanDA'],
      [40, 'no production/pilot role in VOMS FQANs or non pilot owner'],
    ]);
  });

  test('updateJobs sends job_list in update_job\'s names and reads each job\'s own answer', async () => {
    server.addJobs(SITE, pandaJobDict({ PandaID: 5101 }));
    const [job] = await client.getJobs(request(1));
    assert.ok(job !== undefined);
    job.status = 'finished';
    job.jobAttributes = { exeErrorCode: 0, cpuConsumptionTime: 12, token: 'not-an-update_job-argument' };
    server.killJob(5101);
    const stranger = new JobSpec({ PandaID: 999_999, status: 'running', computingSite: SITE });
    const results = await client.updateJobs([job, stranger]);
    assert.deepEqual(results.map((r) => [r.PandaID, r.StatusCode, r.ok, r.command]), [[5101, 0, true, 'tobekilled'], [999_999, 30, false, null]]);
    const sent = server.requestsTo('pilot/update_jobs_bulk').at(-1)?.params;
    assert.equal(sent?.['harvester_id'], 'test-harvester');
    const report = (sent?.['job_list'] as Record<string, unknown>[])[0];
    assert.equal(report?.['job_id'], 5101);
    assert.equal(report?.['job_status'], 'finished');
    assert.equal(report?.['exe_error_code'], 0);
    assert.equal(report?.['cpu_consumption_time'], 12);
    assert.ok(!('token' in (report ?? {})), 'keys update_job does not take are left out');
  });

  test('a job missing from the bulk answer fails alone; a refused job carries the server\'s message', async () => {
    const jobs = [new JobSpec({ PandaID: 1, status: 'running' }), new JobSpec({ PandaID: 2, status: 'running' })];
    server.failNext('pilot/update_jobs_bulk', { kind: 'answer', value: { success: true, message: '', data: [{ success: false, message: 'Invalid job status: sent', data: null }] } });
    const results = await client.updateJobs(jobs);
    assert.deepEqual(results.map((r) => [r.PandaID, r.ok, r.StatusCode, r.errorDiag]), [
      [1, false, 999, 'Invalid job status: sent'],
      [2, false, 999, 'no result for this job in the answer'],
    ]);
    server.failNext('pilot/update_jobs_bulk', { kind: 'answer', value: { success: false, message: 'failed with KeyError job_id', data: [] } });
    await assert.rejects(client.updateJobs(jobs), (e: unknown) => e instanceof PandaServerError && /pilot\/update_jobs_bulk .*KeyError job_id/.test(e.message));
  });

  test('updateWorkers, the heartbeat, worker statistics, service metrics and dialogs reach harvester/*', async () => {
    const worker = new WorkSpec({ workerID: 41, status: 'running', computingSite: SITE });
    assert.deepEqual(await client.updateWorkers([worker]), [{ workerID: 41, ok: true }]);
    assert.equal(server.workers.get(41)?.['status'], 'running');
    assert.equal(await client.isAlive({ startTime: new Date('2025-02-03T04:05:06.789Z') }), 'succeeded');
    assert.deepEqual(server.heartbeats.at(-1), { harvesterID: 'test-harvester', data: { startTime: 'datetime/2025-02-03 04:05:06.789000' } });
    const stats = { managed: { SCORE: { running: 1, submitted: 2 } } };
    await client.reportWorkerStats(SITE, stats);
    assert.deepEqual(server.state.workerStats.get(SITE), stats);
    const metrics = [['2025-02-03 04:05:06.000000', 'harvester-host', JSON.stringify({ cpu_pc: 3.5 })]];
    await client.updateServiceMetrics(metrics);
    assert.deepEqual(server.state.serviceMetrics, metrics);
    const dialog = { diagID: 1, moduleName: 'submitter', identifier: null, creationTime: '2025-02-03 04:05:06.000000', messageLevel: 'ERROR', diagMessage: 'sbatch failed' };
    await client.addDialogs([dialog]);
    assert.deepEqual(server.state.dialogs, [dialog]);
  });

  test('commands are acquired once and acknowledged', async () => {
    const id = server.addCommand('SET_N_WORKERS_JOBTYPE', { queue: SITE });
    const commands = await client.getCommands(5);
    assert.deepEqual(commands.map((c) => c['command_id']), [id]);
    assert.deepEqual(await client.getCommands(5), []);
    await client.ackCommands([id]);
    assert.equal(server.commands[id - 1]?.status, 'acknowledged');
  });

  test('event ranges are acquired in chunks and their updates sent with version 1', async () => {
    server.addJobs(SITE, pandaJobDict({ PandaID: 5201, taskID: 8, jobsetID: 4 }));
    const [job] = await client.getJobs(request(1));
    assert.ok(job !== undefined);
    server.addEventRanges(5201, [{ eventRangeID: '8-4-5201-1' }, { eventRangeID: '8-4-5201-2' }, { eventRangeID: '8-4-5201-3' }]);
    const [got] = await client.getEventRanges([{ pandaID: 5201, taskID: 8, jobsetID: 4, nRanges: 4 }]);
    assert.deepEqual(got?.eventRanges.map((r) => r.eventRangeID), ['8-4-5201-1', '8-4-5201-2', '8-4-5201-3']);
    assert.equal(got?.error, null);
    job.status = 'running';
    job.events = [new EventSpec({ eventRangeID: '8-4-5201-1', eventStatus: 'finished', subStatus: 'finished', PandaID: 5201 })];
    const [result] = await client.updateJobs([job]);
    assert.equal(result?.ok, true);
    assert.equal(job.events[0]?.subStatus, 'done');
    assert.deepEqual(server.requestsTo('event/update_event_ranges').at(-1)?.params['version'], 1);
  });

  test('checkJobs GETs job/get_status with job_ids in the query', async () => {
    server.addJobs(SITE, pandaJobDict({ PandaID: 5301 }));
    await client.getJobs(request(1));
    assert.deepEqual(await client.checkJobs([5301, 5302]), [
      { PandaID: 5301, status: 'sent', command: null },
      { PandaID: 5302, status: 'unknown', command: null },
    ]);
    const sent = server.requestsTo('job/get_status').at(-1);
    assert.equal(sent?.httpMethod, 'GET');
    assert.deepEqual(sent?.params['job_ids'], ['5301', '5302'], 'one job_ids per job, as requests encodes a list');
  });

  test('checkPanda GETs system/is_alive', async () => {
    assert.deepEqual(await client.checkPanda(), { alive: true, httpStatus: 200, text: '{"success":true,"message":"","data":null}' });
    assert.equal(server.requestsTo('system/is_alive').at(-1)?.httpMethod, 'GET');
  });
});

describe('the strict server refuses what server 1.0 refuses', () => {
  let server: FakePandaServer;

  before(async () => {
    server = await FakePandaServer.start({ requireToken: TOKEN, vo: VO });
  });
  after(async () => {
    await server.close();
  });

  test('the legacy API is answered "403 ERROR : getJob is forbidden": configure api "v1"', async () => {
    const legacy = new PandaClient(configFor(server, { api: 'legacy' }), quiet);
    await assert.rejects(legacy.getJobs(request(1)), (e: unknown) => e instanceof PandaHttpError && e.status === 403 && /ERROR : getJob is forbidden \(the server no longer takes the legacy API \(PanDA server 1\.0 or later\): remove pandacon\.api or set it to "v1"\)/.test(e.message));
  });

  test('a server without API v1: the 404 says to check the URL or configure api "legacy"', async () => {
    const old = await FakePandaServer.start({ api: 'legacy', requireToken: TOKEN, vo: VO });
    try {
      const client = new PandaClient(configFor(old), quiet);
      await assert.rejects(client.getJobs(request(1)), (e: unknown) => e instanceof PandaHttpError && e.status === 404 && /a server without API v1 needs pandacon\.api "legacy"/.test(e.message));
    } finally {
      await old.close();
    }
  });

  test('a token without Origin is refused as PandaRequest refuses it', async () => {
    const response = await fetch(`${server.apiUrl}/harvester/heartbeat`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ harvester_id: 'h' }),
    });
    assert.equal(response.status, 403);
    assert.equal(await response.text(), 'ERROR : Token authentication failed. Unknown vo : None');
  });

  test('the wrong HTTP method, an unexpected or missing argument, a wrong type: each refused with the server\'s message', async () => {
    const call = async (method: string, path: string, params: Record<string, unknown>): Promise<unknown> => {
      const headers = { Authorization: `Bearer ${TOKEN}`, Origin: VO };
      const response = method === 'GET'
        ? await fetch(`${server.apiUrl}/${path}?${new URLSearchParams(params as Record<string, string>)}`, { headers })
        : await fetch(`${server.apiUrl}/${path}`, { method, headers: { ...headers, 'Content-Type': 'application/json' }, body: JSON.stringify(params) });
      assert.equal(response.status, 200);
      return response.json();
    };
    assert.deepEqual(await call('GET', 'pilot/acquire_jobs', { site_name: SITE }), { success: false, message: 'expecting POST, received GET', data: null });
    assert.deepEqual(await call('POST', 'pilot/acquire_jobs', { siteName: SITE }), { success: false, message: "Argument error: got an unexpected keyword argument 'siteName'", data: null });
    assert.deepEqual(await call('POST', 'harvester/update_workers', { harvester_id: 'h' }), { success: false, message: "Argument error: missing a required argument: 'workers'", data: null });
    assert.deepEqual(await call('POST', 'harvester/update_workers', { harvester_id: 'h', workers: '[]' }), { success: false, message: "Type error: 'workers' must be of type list, got str.", data: null });
    const anonymous = await fetch(`${server.apiUrl}/harvester/heartbeat`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ harvester_id: 'h' }) });
    assert.deepEqual(await anonymous.json(), { success: false, message: 'SSL secure connection is required', data: null });
  });
});
