import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventSpec, JobSpec, WorkSpec } from '../spec/index.js';
import { createLogger, SecretRegistry, type Logger } from '../logging/index.js';
import { pandaConfigFrom, type PandaConfig } from './config.js';
import {
  PandaCredentialsError,
  PandaHttpError,
  PandaNetworkError,
  PandaResponseError,
  PandaServerError,
  PandaTimeoutError,
} from './errors.js';
import { PandaClient } from './panda-client.js';
import { FakePandaServer } from '../../test/support/panda/fake-panda-server.js';
import { pandaJobDict } from '../../test/support/panda/panda-job.js';

const SITE = 'CERN-TEST';

function logCollector(secrets: SecretRegistry): { logger: Logger; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { logger: createLogger({ level: 'debug', destination: stream, secrets }), text: () => chunks.join('') };
}

function configFor(server: FakePandaServer, extra: Record<string, unknown> = {}, secrets = new SecretRegistry()): PandaConfig {
  const config = pandaConfigFrom({ pandacon: { pandaURLSSL: server.url, api: 'legacy', timeout: 5, retryBackoff: 0.001, harvester_id: 'test-harvester', ...extra } }, { secrets });
  assert.ok(config !== undefined);
  return config;
}

/** A job as the agents would hold it after fetching it from the fake server. */
async function fetchedJob(server: FakePandaServer, client: PandaClient, pandaID: number): Promise<JobSpec> {
  server.addJobs(SITE, pandaJobDict({ PandaID: pandaID }));
  const [job] = await client.getJobs({ siteName: SITE, nodeName: 'node1', prodSourceLabel: 'managed', computingElement: 'ce1', nJobs: 1 });
  assert.ok(job !== undefined);
  return job;
}

describe('PandaClient with the legacy API, against a PanDA server before 1.0', () => {
  let server: FakePandaServer;
  let secrets: SecretRegistry;
  let logs: ReturnType<typeof logCollector>;
  let client: PandaClient;

  before(async () => {
    server = await FakePandaServer.start({ api: 'legacy' });
  });
  after(async () => {
    await server.close();
  });
  beforeEach(() => {
    secrets = new SecretRegistry();
    logs = logCollector(secrets);
    client = new PandaClient(configFor(server, {}, secrets), { logger: logs.logger, secrets });
  });

  test('getJobs sends harvester\'s getJob form and builds JobSpecs with input FileSpecs', async () => {
    server.addJobs(
      'CERN-GETJOBS',
      pandaJobDict({ PandaID: 1001, taskID: 9, inFiles: [{ lfn: 'in.root', fsize: 10, checksum: 'ad:01', scope: 'mc' }] }),
      pandaJobDict({ PandaID: 1002, taskID: 9 }),
      pandaJobDict({ PandaID: 1003, taskID: 9 }),
    );
    const jobs = await client.getJobs({
      siteName: 'CERN-GETJOBS', nodeName: 'harvester-node', prodSourceLabel: 'managed', computingElement: 'ce.cern.ch', nJobs: 2,
      resourceType: 'SCORE', queueName: 'CERN-TEST-QUEUE', ddmEndpointIn: 'CERN_DATADISK',
    });
    assert.deepEqual(jobs.map((j) => j.PandaID), [1001, 1002]);
    assert.equal(jobs[0]?.computingSite, 'CERN-TEST-QUEUE');
    assert.deepEqual(jobs[0]?.inFiles.map((f) => [f.lfn, f.status, f.endpoint]), [['in.root', 'to_prepare', 'CERN_DATADISK']]);
    const request = server.requestsTo('getJob').at(-1);
    assert.deepEqual(request?.form, {
      siteName: 'CERN-GETJOBS', node: 'harvester-node', prodSourceLabel: 'managed', computingElement: 'ce.cern.ch', nJobs: '2',
      schedulerID: 'harvester-test-harvester', resourceType: 'SCORE',
    });
    assert.equal(request?.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(request?.headers.accept, 'application/json');
    assert.equal(server.queuedJobs('CERN-GETJOBS'), 1);
  });

  test('no jobs in PanDA (StatusCode 20) is an empty list; another StatusCode is a PandaServerError', async () => {
    assert.deepEqual(await client.getJobs({ siteName: 'EMPTY', nodeName: 'n', prodSourceLabel: 'managed', computingElement: 'ce', nJobs: 5 }), []);
    server.failNext('getJob', { kind: 'malformed', body: '{"StatusCode": 60, "errorDialog": "no production/pilot role in VOMS FQANs"}' });
    await assert.rejects(
      client.getJobs({ siteName: SITE, nodeName: 'n', prodSourceLabel: 'managed', computingElement: 'ce', nJobs: 1 }),
      (error: unknown) => error instanceof PandaServerError && error.statusCode === 60 && /no production\/pilot role/.test(error.message),
    );
  });

  test('updateJobs sends the bulk update harvester sends and returns per-job results with commands', async () => {
    const running = await fetchedJob(server, client, 2001);
    running.status = 'running';
    running.subStatus = 'running';
    running.setOneAttribute('pilotErrorCode', 0);
    const killed = await fetchedJob(server, client, 2002);
    killed.status = 'cancelled';
    killed.subStatus = 'killed';
    server.killJob(2001);
    const stranger = new JobSpec({ PandaID: 9999, computingSite: SITE, status: 'running', subStatus: 'running' });
    const results = await client.updateJobs([running, killed, stranger]);
    assert.deepEqual(results.map((r) => [r.PandaID, r.ok, r.StatusCode, r.command]), [
      [2001, true, 0, 'tobekilled'],
      [2002, true, 0, null],
      [9999, false, 30, null],
    ]);
    const request = server.requestsTo('updateJobsInBulk').at(-1);
    assert.equal(request?.form['harvester_id'], 'test-harvester');
    const sent = JSON.parse(request?.form['jobList'] ?? '[]') as Record<string, unknown>[];
    assert.deepEqual(sent[0], { pilotErrorCode: 0, schedulerID: 'harvester-test-harvester', jobId: 2001, siteName: SITE, state: 'running', attemptNr: 1, jobSubStatus: 'running' });
    assert.equal(sent[1]?.['state'], 'failed');
    assert.equal(sent[1]?.['jobSubStatus'], 'cancelled');
  });

  test('updateJobs reports the events first and marks the final ones done', async () => {
    const job = await fetchedJob(server, client, 2101);
    const done = new EventSpec({ eventRangeID: '2101-1', eventStatus: 'finished', subStatus: 'finished', PandaID: 2101 });
    const running = new EventSpec({ eventRangeID: '2101-2', eventStatus: 'running', subStatus: 'running', PandaID: 2101 });
    job.events = [done, running];
    await client.updateJobs([job]);
    const methods = server.requests.slice(-2).map((r) => r.method);
    assert.deepEqual(methods, ['updateEventRanges', 'updateJobsInBulk']);
    assert.equal(server.requestsTo('updateEventRanges').at(-1)?.form['version'], '1');
    assert.deepEqual(server.eventUpdates.slice(-2), [{ eventRangeID: '2101-1', eventStatus: 'finished' }, { eventRangeID: '2101-2', eventStatus: 'running' }]);
    assert.equal(done.subStatus, 'done');
    assert.equal(running.subStatus, 'running');
  });

  test('updateWorkers sends WorkSpec.convertToPropagate under harvesterID', async () => {
    const worker = new WorkSpec({ workerID: 31, batchID: '5501', status: 'running', computingSite: SITE, nCore: 4, submitTime: new Date('2025-01-01T00:00:00Z') });
    const results = await client.updateWorkers([worker]);
    assert.deepEqual(results, [{ workerID: 31, ok: true }]);
    const request = server.requestsTo('updateWorkers').at(-1);
    assert.equal(request?.form['harvesterID'], 'test-harvester');
    assert.deepEqual(JSON.parse(request?.form['workers'] ?? ''), [worker.convertToPropagate()]);
    assert.equal(server.workers.get(31)?.['submitTime'], 'datetime/2025-01-01 00:00:00.000000');
  });

  test('isAlive sends the heartbeat with dates in harvester\'s datetime/ form; checkPanda reads alive=yes', async () => {
    const message = await client.isAlive({ startTime: new Date('2025-02-03T04:05:06.789Z'), sw_version: '0.1' });
    assert.equal(message, 'succeeded');
    assert.deepEqual(server.heartbeats.at(-1), { harvesterID: 'test-harvester', data: { startTime: 'datetime/2025-02-03 04:05:06.789000', sw_version: '0.1' } });
    assert.deepEqual(await client.checkPanda(), { alive: true, httpStatus: 200, text: 'alive=yes' });
  });

  test('getEventRanges asks in chunks of getEventsChunkSize and stops when PanDA has no more', async () => {
    const chunked = new PandaClient(configFor(server, { getEventsChunkSize: 2 }, secrets), { logger: logs.logger, secrets });
    server.addEventRanges(3001, [1, 2, 3].map((i) => ({ eventRangeID: `3001-${i}`, startEvent: i, lastEvent: i, LFN: 'EVNT.root' })));
    const before = server.requestsTo('getEventRanges').length;
    const [result] = await chunked.getEventRanges([{ pandaID: 3001, taskID: 8, jobsetID: 4, nRanges: 10 }], { scattered: true });
    assert.deepEqual(result?.eventRanges.map((r) => r.eventRangeID), ['3001-1', '3001-2', '3001-3']);
    assert.equal(result?.error, null);
    const requests = server.requestsTo('getEventRanges').slice(before);
    assert.deepEqual(requests.map((r) => r.form['nRanges']), ['2', '2', '2']);
    assert.deepEqual(requests[0]?.form, { pandaID: '3001', jobsetID: '4', taskID: '8', nRanges: '2', scattered: 'True' });
  });

  test('getEventRanges keeps the ranges received before a failure and gives the error with them', async () => {
    const chunked = new PandaClient(configFor(server, { getEventsChunkSize: 1 }, secrets), { logger: logs.logger, secrets });
    server.addEventRanges(3101, [{ eventRangeID: '3101-1' }, { eventRangeID: '3101-2' }]);
    // The first chunk is answered, the second fails; getEventRanges is not retried (ranges are handed out once).
    server.failNext('getEventRanges', { kind: 'status', status: 500 }, 1, 1);
    server.addEventRanges(3102, [{ eventRangeID: '3102-1' }]);
    const [failed, other] = await chunked.getEventRanges([
      { pandaID: 3101, taskID: null, jobsetID: null, nRanges: 2 },
      { pandaID: 3102, taskID: null, jobsetID: null, nRanges: 1 },
    ]);
    assert.deepEqual(failed?.eventRanges, [{ eventRangeID: '3101-1' }]);
    assert.ok(failed?.error instanceof PandaHttpError);
    assert.equal(failed.error.status, 500);
    assert.deepEqual(other, { pandaID: 3102, eventRanges: [{ eventRangeID: '3102-1' }], error: null });
    assert.match(logs.text(), /getEventRanges failed/);
  });

  test('getCommands hands out new commands once; ackCommands acknowledges them', async () => {
    const id = server.addCommand('SET_N_WORKERS_JOBTYPE', { queue: SITE });
    const commands = await client.getCommands(5);
    assert.deepEqual(commands, [{ command_id: id, command: 'SET_N_WORKERS_JOBTYPE', params: { queue: SITE } }]);
    assert.deepEqual(await client.getCommands(5), []);
    await client.ackCommands([id]);
    assert.equal(server.commands[id - 1]?.status, 'acknowledged');
  });

  test('an idempotent call answered 500 then 200 is retried and succeeds', async () => {
    server.failNext('updateWorkers', { kind: 'status', status: 500 }, 2);
    const before = server.requestsTo('updateWorkers').length;
    const results = await client.updateWorkers([new WorkSpec({ workerID: 41, status: 'submitted' })]);
    assert.deepEqual(results, [{ workerID: 41, ok: true }]);
    assert.equal(server.requestsTo('updateWorkers').length - before, 3);
    assert.match(logs.text(), /PanDA call failed, retrying/);
  });

  test('retries stop after maxRetries with the last error, counting the attempts', async () => {
    const limited = new PandaClient(configFor(server, { maxRetries: 1 }, secrets), { logger: logs.logger, secrets });
    server.failNext('harvesterIsAlive', { kind: 'status', status: 503, body: 'Service Unavailable' }, 2);
    await assert.rejects(limited.isAlive({}), (error: unknown) => {
      assert.ok(error instanceof PandaHttpError);
      assert.equal(error.status, 503);
      assert.equal(error.attempts, 2);
      assert.equal(error.method, 'harvesterIsAlive');
      assert.match(error.message, /harvesterIsAlive at http:\/\/127\.0\.0\.1:\d+\/server\/panda\/harvesterIsAlive failed after 2 attempts: HTTP 503: Service Unavailable/);
      return true;
    });
  });

  test('getJob is not retried after a 500: the server may have dispatched the jobs', async () => {
    server.failNext('getJob', { kind: 'status', status: 500 });
    const before = server.requestsTo('getJob').length;
    await assert.rejects(client.getJobs({ siteName: SITE, nodeName: 'n', prodSourceLabel: 'managed', computingElement: 'ce', nJobs: 1 }), PandaHttpError);
    assert.equal(server.requestsTo('getJob').length - before, 1);
  });

  test('a 4xx answer is not retried', async () => {
    server.failNext('updateWorkers', { kind: 'status', status: 403, body: 'forbidden' });
    const before = server.requestsTo('updateWorkers').length;
    await assert.rejects(client.updateWorkers([new WorkSpec({ workerID: 1 })]), (e: unknown) => e instanceof PandaHttpError && e.status === 403);
    assert.equal(server.requestsTo('updateWorkers').length - before, 1);
  });

  test('a reset connection on an idempotent call is retried', async () => {
    server.failNext('updateEventRanges', { kind: 'reset' });
    const result = await client.updateEventRanges([{ eventRanges: [{ eventRangeID: 'x-1', eventStatus: 'running' }] }]);
    assert.deepEqual(result.returns, [true]);
  });

  test('a timeout is a PandaTimeoutError naming the URL and the method', async () => {
    const quick = new PandaClient(configFor(server, { timeout: 0.2, maxRetries: 0 }, secrets), { logger: logs.logger, secrets });
    server.failNext('getJob', { kind: 'hang' });
    await assert.rejects(quick.getJobs({ siteName: SITE, nodeName: 'n', prodSourceLabel: 'managed', computingElement: 'ce', nJobs: 1 }), (error: unknown) => {
      assert.ok(error instanceof PandaTimeoutError);
      assert.equal(error.method, 'getJob');
      assert.equal(error.url, `${server.url}/getJob`);
      assert.equal(error.timeoutMs, 200);
      assert.match(error.message, /getJob at http:\/\/127\.0\.0\.1:\d+\/server\/panda\/getJob failed: no answer within 200 ms/);
      return true;
    });
  });

  test('malformed JSON from the server is a PandaResponseError, not retried', async () => {
    server.failNext('updateJobsInBulk', { kind: 'malformed', body: '<html>proxy error' });
    const job = new JobSpec({ PandaID: 1, status: 'running' });
    const before = server.requestsTo('updateJobsInBulk').length;
    await assert.rejects(client.updateJobs([job]), (error: unknown) => {
      assert.ok(error instanceof PandaResponseError);
      assert.equal(error.method, 'updateJobsInBulk');
      assert.match(error.message, /malformed answer: not JSON .*body starts: <html>proxy error/);
      return true;
    });
    assert.equal(server.requestsTo('updateJobsInBulk').length - before, 1);
    server.failNext('getJob', { kind: 'malformed' });
    await assert.rejects(client.getJobs({ siteName: SITE, nodeName: 'n', prodSourceLabel: 'managed', computingElement: 'ce', nJobs: 1 }), PandaResponseError);
  });

  test('a well-formed answer of the wrong shape is a PandaResponseError too; a refusal a PandaServerError', async () => {
    server.failNext('updateWorkers', { kind: 'malformed', body: '[true, {"not": "a list"}]' });
    await assert.rejects(client.updateWorkers([new WorkSpec({ workerID: 1 })]), (e: unknown) => e instanceof PandaResponseError && /not a list/.test(e.message));
    server.failNext('updateWorkers', { kind: 'malformed', body: '[false, "database error"]' });
    await assert.rejects(client.updateWorkers([new WorkSpec({ workerID: 1 })]), (e: unknown) => e instanceof PandaServerError && /database error/.test(e.message));
  });

  test('a refused connection is retried even for getJob (the request never left), then a PandaNetworkError', async () => {
    const dead = await FakePandaServer.start({ api: 'legacy' });
    const url = dead.url;
    await dead.close();
    const config = pandaConfigFrom({ pandacon: { pandaURLSSL: url, api: 'legacy', maxRetries: 2, retryBackoff: 0.001 } }, { secrets });
    assert.ok(config !== undefined);
    const refused = new PandaClient(config, { logger: logs.logger, secrets });
    await assert.rejects(refused.getJobs({ siteName: SITE, nodeName: 'n', prodSourceLabel: 'managed', computingElement: 'ce', nJobs: 1 }), (error: unknown) => {
      assert.ok(error instanceof PandaNetworkError);
      assert.equal(error.code, 'ECONNREFUSED');
      assert.equal(error.attempts, 3);
      return true;
    });
  });
});

describe('PandaClient token authentication (legacy API)', () => {
  const token = 'eyJhbGciOiJSUzI1NiJ9.test-token-body.signature';
  let server: FakePandaServer;
  let dir: string;

  before(async () => {
    server = await FakePandaServer.start({ api: 'legacy', requireToken: token });
    dir = mkdtempSync(join(tmpdir(), 'panda-token-'));
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('sends Authorization: Bearer and Origin from a token file, and the token never reaches a log or an error', async () => {
    const secrets = new SecretRegistry();
    const logs = logCollector(secrets);
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${token}\n`);
    const config = configFor(server, { auth_type: 'oidc', auth_token: `file:${tokenFile}`, auth_origin: 'atlas.pilot', verbose: true }, secrets);
    const client = new PandaClient(config, { logger: logs.logger, secrets });
    assert.equal((await client.checkPanda()).alive, true);
    const request = server.requestsTo('isAlive').at(-1);
    assert.equal(request?.headers.authorization, `Bearer ${token}`);
    assert.equal(request?.headers.origin, 'atlas.pilot');
    // A server echoing the token in an error body: the message masks it.
    server.failNext('updateWorkers', { kind: 'status', status: 400, body: `bad request with token ${token}` });
    const error = await client.updateWorkers([new WorkSpec({ workerID: 1 })]).catch((e: unknown) => e);
    assert.ok(error instanceof PandaHttpError);
    assert.ok(!error.message.includes(token), error.message);
    logs.logger.error({ err: error }, 'propagator cycle failed');
    assert.match(logs.text(), /PanDA call/);
    assert.ok(!logs.text().includes(token));
  });

  test('a renewed token file is read again; a missing one is a PandaCredentialsError naming the file only', async () => {
    const secrets = new SecretRegistry();
    const tokenFile = join(dir, 'renewed');
    writeFileSync(tokenFile, 'an-old-expired-token');
    const client = new PandaClient(configFor(server, { auth_type: 'oidc', auth_token: `file:${tokenFile}`, auth_origin: 'atlas.pilot' }, secrets), { logger: logCollector(secrets).logger, secrets });
    await assert.rejects(client.checkPanda(), (e: unknown) => e instanceof PandaHttpError && e.status === 403);
    writeFileSync(tokenFile, `${token}\n`);
    assert.equal((await client.checkPanda()).alive, true);
    rmSync(tokenFile);
    await assert.rejects(client.checkPanda(), (error: unknown) => {
      assert.ok(error instanceof PandaCredentialsError);
      assert.equal(error.source, `auth_token file ${tokenFile}`);
      assert.match(error.message, /no such file/);
      return true;
    });
  });
});
