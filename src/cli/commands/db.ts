// `harvester db copy --from <home, file or URL> [--to <URL>]`: moves an existing SQLite database to a
// PostgreSQL or MariaDB server (see store/copy.ts). --to defaults to the server the master configuration's
// [db] section names; a URL names another (postgresql://user@host:port/schema, mariadb://...). The password
// of a URL comes from $HARVESTER_DB_PASSWORD, else from the master configuration when it names the same
// server and user; one written in the URL works but is never shown.
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadMasterConfig, type MasterConfig } from '../../config/index.js';
import { dbEngineOf, dbDefaults, type ServerDbSettings } from '../../config/agent-settings.js';
import { registerSecret } from '../../logging/index.js';
import { describeServer } from '../../store/server/settings.js';
import { CliContext } from '../context.js';
import { UsageError } from '../exit-codes.js';
import { requireStoreSupport, serverConnectionSettings } from '../open-store.js';

interface CopyOptions {
  readonly from: string;
  readonly to?: string;
  readonly json?: boolean;
}

export function registerDbCommands(program: Command): void {
  const db = program.command('db').description('the database: move a SQLite database to a server engine');
  db.command('copy')
    .description('copy a SQLite database (jobs, workers, files, relations, the embedded job queue) into an empty PostgreSQL or MariaDB database')
    .requiredOption('--from <home|file|url>', 'a harvester home (its [db] database_filename), a SQLite file, or sqlite:///path')
    .option('--to <url>', "postgresql://user@host:port/schema or mariadb://user@host:port/schema (default: the master configuration's [db])")
    .option('--json', 'print the rows copied per table as JSON')
    .action(async (opts: CopyOptions, command: Command) => {
      requireStoreSupport();
      const ctx = CliContext.fromCommand(command);
      const file = sourceFile(opts.from, process.env);
      const target = opts.to === undefined ? configuredServer(ctx.master) : serverFromUrl(opts.to, ctx.master);
      // A server that asks for a password we do not have answers with a driver message that does not say so
      // (PostgreSQL: "SASL: ... client password must be a string"): name the places a password comes from first.
      if (opts.to !== undefined && target.password === undefined) process.stderr.write(`${noPasswordNote(target)}\n`);
      const { copySqliteToServer } = await import('../../store/copy.js');
      const settings = serverConnectionSettings(target, { reconnectTimeoutSec: 0 });
      const counts = await copySqliteToServer(file, settings, (line) => process.stderr.write(`db copy: ${line}\n`));
      if (opts.json === true) {
        process.stdout.write(`${JSON.stringify({ from: file, to: describeServer(settings), rows: counts }, null, 2)}\n`);
        return;
      }
      const total = Object.values(counts).reduce((a, b) => a + b, 0);
      process.stdout.write(`copied ${total} rows from ${file} to ${describeServer(settings)}; every table's count checked\n`);
    });
}

/** The SQLite file of a home (its master configuration's database_filename), a file, or a sqlite: URL. */
function sourceFile(from: string, env: Readonly<Record<string, string | undefined>>): string {
  const path = from.startsWith('sqlite://') ? decodeURIComponent(new URL(from).pathname) : resolve(from);
  if (!existsSync(path)) throw new UsageError(`db copy: --from ${from}: no such file or directory`);
  if (statSync(path).isDirectory()) {
    const home = loadMasterConfig({ home: path, env });
    const file = home.db.databaseFile;
    if (!existsSync(file)) throw new UsageError(`db copy: the home ${path} has no SQLite database (${file} does not exist)`);
    return file;
  }
  return path;
}

function configuredServer(master: MasterConfig): ServerDbSettings {
  if (master.db.server === undefined) {
    throw new UsageError(`db copy: give --to <url>, or set [db] engine to mariadb or postgresql in ${master.configFile ?? join(master.home, 'harvester.json')}`);
  }
  return master.db.server;
}

/** One line for a --to URL that got no password from anywhere: the copy goes on (a server may need none). */
function noPasswordNote(target: ServerDbSettings): string {
  return (
    `db copy: no password for ${target.user}@${target.host}:${target.port}: the --to URL has none, $HARVESTER_DB_PASSWORD is unset, ` +
    `and [db] does not name this ${target.engine} server and user; connecting without one`
  );
}

function serverFromUrl(text: string, master: MasterConfig): ServerDbSettings {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`db copy: --to is not a URL (expected postgresql://user@host:port/schema or mariadb://user@host:port/schema)`);
  }
  const scheme = url.protocol.replace(/:$/, '');
  const engine = dbEngineOf(scheme);
  if (engine === 'sqlite') throw new UsageError(`db copy: --to must name a PostgreSQL or MariaDB server (postgresql:// or mariadb://), not ${scheme}:`);
  const schema = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (schema === '') throw new UsageError('db copy: --to names no database (the path of the URL: postgresql://user@host:port/schema)');
  const host = url.hostname.replace(/^\[|\]$/g, '') || dbDefaults.host;
  const port = url.port === '' ? dbDefaults.port[engine] : Number(url.port);
  const user = url.username === '' ? dbDefaults.user : decodeURIComponent(url.username);
  let password: ServerDbSettings['password'];
  if (url.password !== '') {
    const value = decodeURIComponent(url.password);
    registerSecret(value);
    password = { source: 'inline', value };
  } else if (process.env.HARVESTER_DB_PASSWORD !== undefined && process.env.HARVESTER_DB_PASSWORD !== '') {
    registerSecret(process.env.HARVESTER_DB_PASSWORD);
    password = { source: 'env', ref: 'HARVESTER_DB_PASSWORD', value: process.env.HARVESTER_DB_PASSWORD };
  } else {
    const configured = master.db.server;
    if (configured !== undefined && configured.engine === engine && configured.host === host && configured.port === port && configured.user === user) password = configured.password;
  }
  const base = master.db.server;
  return {
    engine,
    host,
    port,
    user,
    ...(password === undefined ? {} : { password }),
    schema,
    nConnections: 2,
    reconnectTimeout: 0,
    ...(base?.tls === undefined || base.host !== host ? {} : { tls: base.tls }),
  };
}
