// `harvester run` on a PostgreSQL or MariaDB database whose server is stopped in the middle of a monitor cycle
// (the monitor has claimed its workers and is in its plugin call) and started again a while later: the agents
// wait for the server and retry, say so in the log (server host:port and operation, never the password), the
// process carries on to the end, and nothing is lost: every job's payload ran once, every worker was
// started once, every job finished.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli, TempDirs, writeJson } from '../cli/support.js';
import { createTestDatabase, describeOnServerEngines, loadDbServers, stopOrStartDbServer } from '../support/store/db-servers.js';
import { countByFirstWord, HarvesterProcess, localProcessQueue, logRecords, makeRunHome, recordingCommand, repeated, tally, waitFor, type ListedJob, type LogRecord } from './support.js';

const dirs = new TempDirs();
after(() => dirs.cleanup());

const JOBS = 12;
const gatedMonitor = fileURLToPath(new URL('../support/plugins/gated-monitor.js', import.meta.url));
const env = loadDbServers();

const isWait = (r: LogRecord): boolean => r.level === 40 && /^database server .* unreachable/.test(r.msg);
const isBack = (r: LogRecord): boolean => r.level === 30 && /^database server .* reachable again/.test(r.msg);

const restartable = process.getuid?.() === 0 ? undefined : 'restarting the database servers needs root';

describeOnServerEngines(env, 'harvester run through a database server restart', (engine) => `harvester run on ${engine} through a server restart`, (env, engine) => {
  test('the server stopped in the middle of a monitor cycle: the agents wait, retry, say so, and lose nothing', { skip: restartable, timeout: 300_000 }, async (t) => {
    const shared = dirs.make(`restart-${engine}`);
    const submittedLog = join(shared, 'submitted.log');
    const outputs = join(shared, 'outputs.log');
    const markerFile = join(shared, 'monitor-in-cycle');
    const gateFile = join(shared, 'monitor-gate');
    const passwordFile = join(shared, 'db-password');
    writeFileSync(passwordFile, `${env.password}\n`, { mode: 0o600 });
    const server = env[engine];
    const address = `${server.host}:${server.port}`;
    const schema = await createTestDatabase(env, engine);
    const db = { engine, host: server.host, port: server.port, user: server.user, password: { file: passwordFile }, schema };
    const queueConfigFile = writeJson(join(shared, 'queues.json'), {
      restartq: localProcessQueue({
        submittedLog,
        queue: {
          maxNewWorkersPerCycle: JOBS,
          nQueueLimitWorker: JOBS,
          maxWorkers: JOBS,
          nQueueLimitJob: JOBS,
          monitor: { name: 'GatedMonitor', module: gatedMonitor, markerFile, gateFile },
        },
      }),
    });
    const home = makeRunHome(dirs, `restart-${engine}-home`, { queueConfigFile, extra: { db } });
    const added = await runCli(['jobs', 'add', '--queue', 'restartq', '--count', String(JOBS), '--command', recordingCommand(outputs)], { home: home.home });
    assert.equal(added.status, 0, added.stderr);

    const run = new HarvesterProcess(['run', '--until-done', '--timeout', '240'], home.home);
    after(() => run.killIfRunning());
    await waitFor('a monitor cycle in its plugin call, its workers claimed', () => (existsSync(markerFile) ? true : undefined), 120_000, 50);
    await stopOrStartDbServer(env, engine, 'stop');
    // The monitor answers now, and its cycle goes on to write to a server that is down.
    writeFileSync(gateFile, '');
    const firstWait = await waitFor('an agent to say it waits for the server', () => logRecords(home.logFile).find(isWait), 120_000, 50);
    await stopOrStartDbServer(env, engine, 'start');
    const result = await run.exit(240_000);
    assert.equal(result.code, 0, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`);

    const records = logRecords(home.logFile);
    const waits = records.filter(isWait);
    const backs = records.filter(isBack);
    for (const r of [...waits, ...backs]) {
      assert.ok(r.msg.includes(`database server ${address} `), `names the server: ${r.msg}`);
      assert.ok(typeof r.operation === 'string' && r.msg.includes(r.operation), `names the operation: ${r.msg}`);
      assert.equal(r.database, `${engine}://${server.user}@${address}/${schema}`);
    }
    // Which waiting operation retries first once the server is back is up to the backoff: a lock renewal
    // may still be between retries when the run ends (the store's close then ends it).
    const waited = new Set(waits.map((r) => r.operation));
    assert.ok(
      backs.some((r) => waited.has(r.operation)),
      `an operation that waited (${[...waited].join(', ')}; first ${String(firstWait.operation)}) said when the server was back: ${backs.map((r) => r.msg).join(' | ')}`,
    );
    const everything = readFileSync(home.logFile, 'utf8') + run.stdout + run.stderr;
    assert.ok(!everything.includes(env.password), 'the password appears in no log line or output');
    // A COMMIT the stop cut (outcome unknown, re-judged later) is the one error a restart may cause.
    assert.deepEqual(
      records.filter((r) => Number(r.level) >= 50 && r.err?.type !== 'StoreCommitUnknownError').map((r) => `${r.msg}: ${r.err?.message ?? ''}`),
      [],
      'no other error was logged: the agents waited for the server instead of failing',
    );

    const starts = countByFirstWord(submittedLog);
    assert.deepEqual(repeated(starts), [], 'no worker was started twice');
    const payloads = countByFirstWord(outputs);
    assert.deepEqual(repeated(payloads), [], 'no job payload ran twice');
    assert.equal(payloads.size, JOBS, "every job's payload ran");
    const jobs = JSON.parse((await runCli(['jobs', 'list', '--json'], { home: home.home })).stdout) as ListedJob[];
    assert.deepEqual(tally(jobs, (j) => `${j.status}/${j.subStatus}`), { 'finished/done': JOBS });
    t.diagnostic(`waits logged: ${waits.length} (${[...new Set(waits.map((r) => r.operation))].join(', ')}); back: ${backs.length}`);
  });
});
