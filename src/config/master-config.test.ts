import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMasterConfig, shippedExampleQueueConfig } from './master-config.js';
import { defaultAgentSettings } from './agent-settings.js';
import { ConfigFileError, ConfigInvalidError } from './problems.js';

function withDir(body: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'hv-master-'));
  try {
    body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('loadMasterConfig', () => {
  test('needs nothing: an empty home gives every default and the shipped example queue configuration', () => {
    withDir((home) => {
      const master = loadMasterConfig({ home, env: {} });
      assert.equal(master.home, home);
      assert.equal(master.configFile, undefined);
      assert.equal(master.logLevel, 'info');
      assert.equal(master.logDir, join(home, 'logs'));
      assert.equal(master.knownHostsFile, join(home, 'known_hosts'));
      assert.deepEqual(master.pluginDirs, []);
      assert.equal(master.queueConfigFile, shippedExampleQueueConfig);
      assert.equal(master.queueConfigOrigin, 'shipped-example');
      assert.ok(existsSync(master.queueConfigFile), master.queueConfigFile);
      assert.ok(Object.isFrozen(master) && Object.isFrozen(master.pluginDirs));
    });
  });

  test('home is --home, else $HARVESTER_HOME, else ~/.harvester', () => {
    assert.equal(loadMasterConfig({ home: '/opt/h', env: { HARVESTER_HOME: '/srv/h', HOME: '/home/u' } }).home, '/opt/h');
    assert.equal(loadMasterConfig({ env: { HARVESTER_HOME: '/srv/h', HOME: '/home/u' } }).home, '/srv/h');
    assert.equal(loadMasterConfig({ env: { HOME: '/home/u' } }).home, '/home/u/.harvester');
  });

  test('uses panda_queueconfig.json in the home when there is one', () => {
    withDir((home) => {
      writeFileSync(join(home, 'panda_queueconfig.json'), '{}');
      const master = loadMasterConfig({ home, env: {} });
      assert.equal(master.queueConfigFile, join(home, 'panda_queueconfig.json'));
      assert.equal(master.queueConfigOrigin, 'home');
    });
  });

  test('reads harvester.json from the home, resolving relative paths under the home and keeping unknown keys', () => {
    withDir((home) => {
      writeFileSync(
        join(home, 'harvester.json'),
        JSON.stringify({ queueConfigFile: 'queues.json', logLevel: 'debug', logDir: '/var/log/hv', pluginDirs: ['plugins', '/abs'], agents: { monitor: { interval: 60 } } }),
      );
      const master = loadMasterConfig({ home, env: {} });
      assert.equal(master.configFile, join(home, 'harvester.json'));
      assert.equal(master.queueConfigFile, join(home, 'queues.json'));
      assert.equal(master.queueConfigOrigin, 'master-config');
      assert.equal(master.logLevel, 'debug');
      assert.equal(master.logDir, '/var/log/hv');
      assert.deepEqual(master.pluginDirs, [join(home, 'plugins'), '/abs']);
      assert.deepEqual(master.extra, { agents: { monitor: { interval: 60 } } });
    });
  });

  test('--log-level wins over the file, and an unknown level is refused', () => {
    withDir((home) => {
      writeFileSync(join(home, 'harvester.json'), '{"logLevel": "debug"}');
      assert.equal(loadMasterConfig({ home, logLevel: 'warn', env: {} }).logLevel, 'warn');
      assert.throws(() => loadMasterConfig({ home, logLevel: 'loud', env: {} }), ConfigInvalidError);
    });
  });

  test('a --config file that does not exist is a ConfigFileError naming it', () => {
    withDir((home) => {
      const file = join(home, 'nope.json');
      assert.throws(() => loadMasterConfig({ home, configFile: file, env: {} }), (e: unknown) => e instanceof ConfigFileError && e.file === file);
    });
  });

  test('wrong types and malformed JSON in harvester.json are ConfigInvalidErrors listing every problem', () => {
    withDir((home) => {
      mkdirSync(join(home, 'a'));
      writeFileSync(join(home, 'a', 'harvester.json'), '{"logLevel": "loud", "pluginDirs": "x", "logDir": 3}');
      assert.throws(
        () => loadMasterConfig({ home: join(home, 'a'), env: {} }),
        (e: unknown) =>
          e instanceof ConfigInvalidError && e.problems.map((p) => p.path).sort().join(',') === 'logDir,logLevel,pluginDirs',
      );
      const bad = join(home, 'bad.json');
      writeFileSync(bad, '{\n  "logLevel": "info",\n}');
      assert.throws(() => loadMasterConfig({ home, configFile: bad, env: {} }), (e: unknown) => e instanceof ConfigInvalidError && /line 3, column 1/.test(e.message));
    });
  });
});

describe('loadMasterConfig: the agents, the database and the job source', () => {
  test('without a file every agent has the defaults, the database is <home>/harvester.db and jobs come from the embedded queue', () => {
    withDir((home) => {
      const master = loadMasterConfig({ home, env: {} });
      assert.deepEqual(master.agents, defaultAgentSettings);
      assert.equal(master.db.databaseFile, join(home, 'harvester.db'));
      assert.equal(master.jobSource, 'embedded');
    });
  });

  test("harvester's section and key names override single values and keep the other defaults", () => {
    withDir((home) => {
      writeFileSync(
        join(home, 'harvester.json'),
        JSON.stringify({
          monitor: { sleepTime: 0.5, maxWorkers: 20 },
          sweeper: { keepFinished: 2 },
          db: { database_filename: 'state/h.db' },
          communicator: { className: 'PandaCommunicator' },
        }),
      );
      const master = loadMasterConfig({ home, env: {} });
      assert.deepEqual(master.agents.monitor, { ...defaultAgentSettings.monitor, sleepTime: 0.5, maxWorkers: 20 });
      assert.equal(master.agents.sweeper.keepFinished, 2);
      assert.deepEqual(master.agents.submitter, defaultAgentSettings.submitter);
      assert.equal(master.db.databaseFile, join(home, 'state', 'h.db'));
      assert.equal(master.jobSource, 'panda');
    });
  });

  test('an unknown key or a bad value in an agent section is reported with its path, all at once', () => {
    withDir((home) => {
      const file = join(home, 'harvester.json');
      writeFileSync(file, JSON.stringify({ monitor: { sleepTime: -1, checkIntervall: 5 }, submitter: { maxNewWorkers: 1.5 } }));
      assert.throws(
        () => loadMasterConfig({ home, env: {} }),
        (error: unknown) => {
          assert.ok(error instanceof ConfigInvalidError);
          const text = error.problems.map((p) => `${p.path}: ${p.message}`).join('\n');
          assert.match(text, /monitor\.sleepTime/);
          assert.match(text, /checkIntervall/);
          assert.match(text, /submitter\.maxNewWorkers/);
          return true;
        },
      );
    });
  });
});

describe('loadMasterConfig: the harvester id', () => {
  test('is harvester-ts-<hostname> when the file sets none', () => {
    withDir((home) => assert.equal(loadMasterConfig({ home, env: {} }).harvesterID, `harvester-ts-${hostname()}`));
  });

  test("is read from harvester's master section, the top-level key or the pandacon section, and is not an extra key", () => {
    for (const document of [{ master: { harvester_id: 'cern_a' } }, { harvester_id: 'cern_a' }, { pandacon: { harvester_id: 'cern_a' } }]) {
      withDir((home) => {
        writeFileSync(join(home, 'harvester.json'), JSON.stringify(document));
        const master = loadMasterConfig({ home, env: {} });
        assert.equal(master.harvesterID, 'cern_a', JSON.stringify(document));
        assert.equal(master.extra['harvester_id'], undefined);
        assert.equal(master.extra['master'], undefined);
      });
    }
  });

  test('spellings that disagree, or an id that is not a string, are problems naming the key', () => {
    withDir((home) => {
      writeFileSync(join(home, 'harvester.json'), JSON.stringify({ master: { harvester_id: 'a' }, pandacon: { harvester_id: 'b' } }));
      assert.throws(() => loadMasterConfig({ home, env: {} }), (e: unknown) => e instanceof ConfigInvalidError && /pandacon\.harvester_id.*disagrees with master\.harvester_id/.test(e.message));
      writeFileSync(join(home, 'harvester.json'), JSON.stringify({ harvester_id: 7 }));
      assert.throws(() => loadMasterConfig({ home, env: {} }), (e: unknown) => e instanceof ConfigInvalidError && e.problems[0]?.path === 'harvester_id');
    });
  });
});

describe('loadMasterConfig: the metrics listener', () => {
  test('off without a "metrics" key; with one, host defaults to 127.0.0.1; a bad port or an unknown key is refused', () => {
    withDir((home) => {
      assert.equal(loadMasterConfig({ home, env: {} }).metrics, undefined);
      writeFileSync(join(home, 'harvester.json'), JSON.stringify({ metrics: { port: 9464 } }));
      assert.deepEqual(loadMasterConfig({ home, env: {} }).metrics, { host: '127.0.0.1', port: 9464 });
      writeFileSync(join(home, 'harvester.json'), JSON.stringify({ metrics: { host: '0.0.0.0', port: 0 } }));
      assert.deepEqual(loadMasterConfig({ home, env: {} }).metrics, { host: '0.0.0.0', port: 0 });
      for (const bad of [{ port: 70000 }, { host: '127.0.0.1' }, { port: 9464, path: '/metrics' }]) {
        writeFileSync(join(home, 'harvester.json'), JSON.stringify({ metrics: bad }));
        assert.throws(() => loadMasterConfig({ home, env: {} }), (error: unknown) => error instanceof ConfigInvalidError && error.problems.some((p) => p.path.startsWith('metrics')), JSON.stringify(bad));
      }
    });
  });
});
