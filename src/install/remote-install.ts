// `harvester remote-install`: puts the bot on a remote host through a queue's own "rpc" route (jump host,
// auth, OTP: one connection for the whole run), with nothing built or downloaded there.
//
// Layout in the install directory (relative to the SSH user's home unless absolute):
//   versions/<id>/       one unpacked bundle each; `.complete` is written once it is verified and ran
//   current -> versions/<id>, previous -> versions/<id>   symlinks, switched by rename (atomic)
//   .incoming/           uploads and unpacking in progress; never where `current` points
//   .install.lock        flock'ed by a running install, so two installs cannot interleave
// A failure at any step leaves `current` as it was; the next run starts the step again cleanly.
import type { MiddlewareConfig } from '../config/index.js';
import type { Logger } from '../logging/index.js';
import { botPidPath } from '../middleware/bot/paths.js';
import { BotLauncher } from '../middleware/herder/bot-launcher.js';
import { connectRoute, routeFromMiddleware, type SshLink, type StepReport } from '../middleware/ssh/index.js';
import { shellQuote } from '../plugins/shell-quote.js';
import { RemoteInstallError, type InstallTarget } from './install-errors.js';
import { probeRemote, type RemoteFacts } from './remote-probe.js';
import type { RuntimeChoice } from './bundle.js';
import { chooseRuntime, type NodeChoice } from './runtime-choice.js';
import type { UploadProgress } from './upload-progress.js';

export interface InstallableBundle {
  readonly path: string;
  readonly id: string;
  readonly sha256: string;
  readonly bytes: number;
  readonly unpackedBytes: number;
  /** The version `bin/harvester --version` prints. */
  readonly version: string;
}

export interface InstallReporter {
  line(text: string): void;
  progress(label: string, total: number): UploadProgress;
}

export interface RemoteInstallOptions {
  readonly mw: MiddlewareConfig;
  readonly knownHostsFile: string;
  /** Relative to the SSH user's home unless absolute. */
  readonly remoteDir: string;
  /** Overrides the rpc element's remoteSetup. */
  readonly remoteSetup?: string;
  readonly node: NodeChoice;
  readonly startBot: boolean;
  readonly dryRun: boolean;
  readonly rollback: boolean;
  readonly makeBundle: (runtime: RuntimeChoice) => Promise<InstallableBundle>;
  readonly log: Logger;
  readonly report: InstallReporter;
  readonly signal?: AbortSignal;
}

export type InstallOutcome = 'installed' | 'switched' | 'already-installed' | 'rolled-back' | 'planned';

export interface RemoteInstallResult {
  readonly outcome: InstallOutcome;
  readonly id?: string;
  /** Bytes sent over SFTP (0 when nothing was uploaded). */
  readonly bytesSent: number;
  /** What to put in the "rpc" element's remoteCommand. */
  readonly remoteCommand: string;
  readonly facts: RemoteFacts;
}

/** Room asked for beyond the archive and its unpacked size (logs, the unpack's own directories). */
const SPACE_MARGIN_BYTES = 16 * 1024 * 1024;
const MB = 1024 * 1024;

export async function remoteInstall(opts: RemoteInstallOptions): Promise<RemoteInstallResult> {
  const { mw, report } = opts;
  const target: InstallTarget = { host: mw.remoteHost, user: mw.sshUserName, dir: normalizeDir(opts.remoteDir) };
  const remoteSetup = opts.remoteSetup ?? mw.remoteSetup;
  report.line(`remote-install ${target.user}@${target.host}${mw.jumpHost ? ` (through ${mw.jumpHost})` : ''}, directory ${target.dir}${opts.dryRun ? ' (dry run: nothing changes there)' : ''}`);
  let link: SshLink;
  try {
    link = await connectRoute(routeFromMiddleware(mw, { knownHostsFile: opts.knownHostsFile }), {
      log: opts.log,
      ...(opts.signal ? { signal: opts.signal } : {}),
      onStep: (s: StepReport) => report.line(`  ${s.ok ? 'ok  ' : 'FAIL'} ${s.step.padEnd(12)} ${s.user}@${s.host}:${s.port} ${s.ms.toFixed(0)} ms${s.method ? ` (${s.method})` : ''}`),
    });
  } catch (error) {
    throw new RemoteInstallError(target, 'connect', (error as Error).message, { cause: error });
  }
  let lock: { release(): void } | undefined;
  try {
    if (!opts.dryRun) lock = await takeLock(link, target, report);
    const facts = await probeRemote(link, target, remoteSetup);
    const located: InstallTarget = { ...target, dir: facts.dir };
    const remoteCommand = `${facts.dir}/current/bin/harvester`;
    report.line(`  host         ${describeHost(facts)}`);
    if (facts.missingTools.length > 0) {
      throw new RemoteInstallError(located, 'probe', `the host lacks ${facts.missingTools.join(', ')}, which the install needs`);
    }
    const step = new Steps(link, located, remoteSetup, opts);
    if (opts.rollback) {
      const id = await step.rollback(facts);
      if (opts.startBot) await step.startBot(remoteCommand, id);
      return { outcome: 'rolled-back', id, bytesSent: 0, remoteCommand, facts };
    }
    const decision = chooseRuntime(facts, opts.node, located);
    report.line(`  runtime      ${decision.runtime.kind}: ${decision.reason}`);
    const started = Date.now();
    let bundle: InstallableBundle;
    try {
      bundle = await opts.makeBundle(decision.runtime);
    } catch (error) {
      throw new RemoteInstallError(located, 'bundle', (error as Error).message, { cause: error });
    }
    report.line(`  bundle       ${bundle.id}: ${(bundle.bytes / MB).toFixed(1)} MB, ${(bundle.unpackedBytes / MB).toFixed(1)} MB unpacked (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    const installed = facts.complete.includes(bundle.id);
    let outcome: InstallOutcome;
    let bytesSent = 0;
    if (facts.current === bundle.id && installed) {
      report.line(`  state        already installed: current -> versions/${bundle.id}; nothing to send`);
      outcome = 'already-installed';
    } else if (installed) {
      report.line(`  state        versions/${bundle.id} is there (verified earlier); switching to it without an upload`);
      if (opts.dryRun) return planned(report, remoteCommand, facts, bundle, 'switch current to it');
      await step.switchTo(bundle.id);
      outcome = 'switched';
    } else {
      report.line(`  state        ${facts.current ? `upgrade from ${facts.current}` : 'fresh install'}`);
      const needed = bundle.bytes + bundle.unpackedBytes + SPACE_MARGIN_BYTES;
      if (facts.freeBytes < needed) {
        throw new RemoteInstallError(
          located,
          'disk-space',
          `${(facts.freeBytes / MB).toFixed(1)} MB free there; this install needs ${(needed / MB).toFixed(1)} MB (upload ${(bundle.bytes / MB).toFixed(1)} MB + unpacked ${(bundle.unpackedBytes / MB).toFixed(1)} MB + margin); free some space or choose another --remote-dir. Nothing was changed${facts.current ? `; current is still ${facts.current}` : ''}`,
        );
      }
      if (opts.dryRun) return planned(report, remoteCommand, facts, bundle, `upload ${(bundle.bytes / MB).toFixed(1)} MB, verify sha256 ${bundle.sha256.slice(0, 12)}…, unpack into versions/${bundle.id}, run its --version, switch current`);
      bytesSent = await step.upload(bundle, facts);
      await step.verifyAndUnpack(bundle, facts);
      await step.switchTo(bundle.id);
      outcome = 'installed';
    }
    if (opts.dryRun) return planned(report, remoteCommand, facts, bundle, 'nothing');
    if (opts.startBot) await step.startBot(remoteCommand, bundle.id);
    report.line('');
    report.line(`Put this in the queue's "rpc" element (the command the core runs there to start the bot):`);
    report.line(`  "remoteCommand": ${JSON.stringify(remoteCommand)}`);
    if (!opts.startBot) report.line(`Start the bot there with: ${new BotLauncher({ ...mw, remoteCommand }, opts.log).command()}`);
    return { outcome, id: bundle.id, bytesSent, remoteCommand, facts };
  } finally {
    lock?.release();
    link.close();
  }
}

function planned(report: InstallReporter, remoteCommand: string, facts: RemoteFacts, bundle: InstallableBundle, what: string): RemoteInstallResult {
  report.line(`  plan         ${what}`);
  report.line(`  remoteCommand would be ${JSON.stringify(remoteCommand)}`);
  return { outcome: 'planned', id: bundle.id, bytesSent: 0, remoteCommand, facts };
}

/** `~/x` and `$HOME/x` mean the same as `x`: paths are relative to the SSH user's home. */
function normalizeDir(dir: string): string {
  const stripped = dir.replace(/^(~|\$HOME)\/+/, '');
  if (stripped === '' || stripped === '~' || stripped.includes('\0')) throw new Error(`--remote-dir ${JSON.stringify(dir)} is not a usable directory`);
  return stripped.replace(/\/+$/, '');
}

function describeHost(f: RemoteFacts): string {
  const libc = f.libc.kind === 'unknown' ? 'C library unknown' : `${f.libc.kind}${f.libc.version ? ` ${f.libc.version}` : ''}`;
  const node = f.systemNode ? `node ${f.systemNode.version} at ${f.systemNode.path}` : 'no node on PATH';
  return `${f.os} ${f.machine}, ${libc}, ${node}; ${(f.freeBytes / MB).toFixed(0)} MB free for ${f.dir}${f.current ? `; current ${f.current}` : ''}${f.previous ? `, previous ${f.previous}` : ''}`;
}

/**
 * Holds flock on <dir>/.install.lock in a session of its own for the whole run: released when the session
 * ends, so a killed install never leaves a stale lock. Hosts without flock install unlocked (warned).
 */
async function takeLock(link: SshLink, target: InstallTarget, report: InstallReporter): Promise<{ release(): void }> {
  const dir = shellQuote(target.dir);
  const script = `mkdir -p ${dir} && cd ${dir} || exit 2; if command -v flock >/dev/null 2>&1; then exec flock -n .install.lock sh -c 'echo locked; exec cat'; else echo unlocked; exec cat; fi`;
  const channel = await link.spawn(`/bin/sh -c ${shellQuote(script)}`).catch((error: unknown) => {
    throw new RemoteInstallError(target, 'lock', (error as Error).message, { cause: error });
  });
  const answer = await new Promise<string>((resolve) => {
    let text = '';
    let stderr = '';
    channel.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    channel.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (text.includes('\n')) resolve(text.split('\n')[0] ?? '');
    });
    channel.on('exit', (code: number | null) => resolve(`exit ${code}${stderr.trim() ? `: ${stderr.trim()}` : ''}`));
    channel.on('close', () => resolve(`closed${stderr.trim() ? `: ${stderr.trim()}` : ''}`));
  });
  if (answer === 'unlocked') report.line('  lock         flock is missing there: installing without a lock (do not run two installs at once)');
  else if (answer !== 'locked') {
    channel.close();
    throw new RemoteInstallError(
      target,
      'lock',
      answer === 'exit 1' ? `another remote-install into this directory is running (it holds ${target.dir}/.install.lock); wait for it to finish` : `cannot create or lock ${target.dir} (${answer})`,
    );
  }
  return {
    release() {
      channel.end();
      channel.close();
    },
  };
}

/** The steps that change the remote host, each one shell session, each failure a RemoteInstallError. */
class Steps {
  constructor(
    private readonly link: SshLink,
    private readonly target: InstallTarget,
    private readonly remoteSetup: string | undefined,
    private readonly opts: RemoteInstallOptions,
  ) {}

  /** Runs a script with /bin/sh in the install directory (after remoteSetup when asked); exit code and output. */
  private async sh(script: string, withSetup: boolean): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const shell = withSetup && this.remoteSetup ? `${this.remoteSetup} && exec /bin/sh -s` : 'exec /bin/sh -s';
    const prelude = `set -u\ncd ${shellQuote(this.target.dir)} || exit 20\n`;
    return this.link.exec(shell, { input: prelude + script, timeoutMs: 300_000, ...(this.opts.signal ? { signal: this.opts.signal } : {}) });
  }

  async upload(bundle: InstallableBundle, facts: RemoteFacts): Promise<number> {
    const prepared = await this.sh('rm -rf .incoming && mkdir -p .incoming versions\n', false);
    if (prepared.code !== 0) throw new RemoteInstallError(this.target, 'upload', `cannot prepare ${facts.dir}/.incoming: ${lastLine(prepared.stderr)}`);
    const remotePath = `${facts.dir}/.incoming/${bundle.id}.tar.gz.part`;
    const progress = this.opts.report.progress('  upload      ', bundle.bytes);
    try {
      await this.link.upload(bundle.path, remotePath, { onProgress: (sent) => progress.update(sent), ...(this.opts.signal ? { signal: this.opts.signal } : {}) });
      progress.stop(true);
    } catch (error) {
      progress.stop(false);
      const space = await this.freeBytes().catch(() => undefined);
      const full = space !== undefined && space < 1024 * 1024;
      await this.sh(`rm -f ${shellQuote(`.incoming/${bundle.id}.tar.gz.part`)}\n`, false).catch(() => undefined);
      throw new RemoteInstallError(
        this.target,
        'upload',
        `${(error as Error).message}${full ? ` — the disk there is full (${space} bytes free)` : ''}; the partial upload was removed and current is unchanged${facts.current ? ` (${facts.current})` : ''}`,
        { cause: error },
      );
    }
    return bundle.bytes;
  }

  private async freeBytes(): Promise<number> {
    const r = await this.sh(`df -Pk . | awk 'NR==2 {print $4}'\n`, false);
    return Number(r.stdout.trim()) * 1024;
  }

  async verifyAndUnpack(bundle: InstallableBundle, facts: RemoteFacts): Promise<void> {
    const id = shellQuote(bundle.id);
    // The probe found the tool (and refused a host without one).
    const sha = facts.sha256Command ?? 'sha256sum';
    const script = `id=${id}
part=".incoming/$id.tar.gz.part"
unpack=".incoming/$id.unpack"
sum=$(${sha} "$part" | awk '{print $1}')
if [ "$sum" != ${shellQuote(bundle.sha256)} ]; then echo "sha256 of the upload is $sum, expected ${bundle.sha256}" >&2; rm -f "$part"; exit 10; fi
rm -rf "$unpack" "versions/$id" && mkdir -p "$unpack" || exit 11
if ! tar -xzf "$part" -C "$unpack" 2>.incoming/tar.err; then tail -n 3 .incoming/tar.err >&2; rm -rf "$unpack" "$part"; exit 11; fi
[ -f "$unpack/$id/MANIFEST.json" ] || { echo "the archive holds no $id/MANIFEST.json" >&2; rm -rf "$unpack" "$part"; exit 11; }
rm -f "$part"
`;
    const unpacked = await this.sh(script, false);
    if (unpacked.code === 10) throw new RemoteInstallError(this.target, 'verify', `${lastLine(unpacked.stderr)}; the upload was removed: run remote-install again`);
    if (unpacked.code !== 0) {
      const detail = lastLine(unpacked.stderr) || `exit ${unpacked.code}`;
      const full = /No space left/i.test(unpacked.stderr);
      throw new RemoteInstallError(this.target, 'unpack', `${detail}${full ? ' — the disk there is full' : ''}; the partial unpack was removed and current is unchanged`);
    }
    // The new version must start on that host (runtime, C library, its own files) before it becomes current.
    const smoke = await this.sh(`out=$(".incoming/"${id}".unpack/"${id}"/bin/harvester" --version 2>&1); code=$?; printf '%s\\n' "$out"; exit $code\n`, true);
    const printed = smoke.stdout.trim();
    if (smoke.code !== 0 || printed !== bundle.version) {
      await this.sh(`rm -rf ".incoming/"${id}".unpack"\n`, false).catch(() => undefined);
      throw new RemoteInstallError(this.target, 'smoke-test', `the new version does not run there: \`bin/harvester --version\` ${smoke.code !== 0 ? `failed (exit ${smoke.code})` : 'printed something else'}: ${lastLine(printed) || lastLine(smoke.stderr)} (expected ${bundle.version}); current is unchanged`);
    }
    const placed = await this.sh(`mv ".incoming/"${id}".unpack/"${id} "versions/"${id} && touch "versions/"${id}"/.complete" && rm -rf .incoming\n`, false);
    if (placed.code !== 0) throw new RemoteInstallError(this.target, 'unpack', `cannot move the new version into versions/: ${lastLine(placed.stderr)}`);
    this.opts.report.line(`  verify       sha256 ok; unpacked into versions/${bundle.id}; its --version: ${printed}`);
  }

  /** Points current at versions/<id> and previous at what current was; prunes every other version. */
  async switchTo(id: string): Promise<void> {
    const script = `new=${shellQuote(`versions/${id}`)}
[ -f "$new/.complete" ] || { echo "$new is not a complete install" >&2; exit 13; }
old=$(readlink current 2>/dev/null || true)
if [ "$old" != "$new" ]; then
  ln -sfn "$new" .current.tmp && mv -Tf .current.tmp current || exit 13
  if [ -n "$old" ]; then ln -sfn "$old" .previous.tmp && mv -Tf .previous.tmp previous || exit 14; fi
fi
prev=$(readlink previous 2>/dev/null || true)
for v in versions/*; do [ "$v" = "$new" ] || [ "$v" = "$prev" ] || rm -rf "$v"; done
echo "$old"
`;
    const r = await this.sh(script, false);
    if (r.code !== 0) throw new RemoteInstallError(this.target, 'switch', `${lastLine(r.stderr) || `exit ${r.code}`}${r.code === 14 ? ' (current was switched; previous could not be recorded)' : '; current is unchanged'}`);
    const old = r.stdout.trim().replace(/^versions\//, '');
    this.opts.report.line(`  switch       current -> versions/${id}${old && old !== id ? ` (previous: ${old})` : ''}`);
  }

  async rollback(facts: RemoteFacts): Promise<string> {
    const previous = facts.previous;
    if (previous === undefined || !facts.complete.includes(previous)) {
      throw new RemoteInstallError(this.target, 'rollback', `there is no previous version to roll back to${facts.current ? ` (current is ${facts.current})` : ''}`);
    }
    if (this.opts.dryRun) {
      this.opts.report.line(`  plan         switch current back to ${previous} (from ${facts.current ?? 'nothing'})`);
      return previous;
    }
    await this.switchTo(previous);
    return previous;
  }

  /**
   * Starts the bot with the same command the herder's on-demand launch runs. A bot already running from
   * another version (its command line names another versions/<id>) is stopped first, gracefully.
   */
  async startBot(remoteCommand: string, id: string): Promise<void> {
    const mw = this.opts.mw;
    if (this.opts.dryRun) return;
    const launcher = new BotLauncher({ ...mw, remoteCommand }, this.opts.log);
    const home = shellQuote(mw.botHome);
    const pidFile = shellQuote(botPidPath(mw.botHome));
    const check = await this.link.exec(
      `/bin/sh -c ${shellQuote(`cd && pid=$(cat ${pidFile} 2>/dev/null) && kill -0 "$pid" 2>/dev/null && tr '\\0' ' ' < /proc/$pid/cmdline`)}`,
    );
    const running = check.code === 0 ? check.stdout : undefined;
    if (running !== undefined && !running.includes(`/versions/${id}/`)) {
      this.opts.report.line('  bot          a bot of another version runs there: stopping it (it finishes its calls in flight)');
      const stop = await this.link.exec(`${shellQuote(remoteCommand)} --home ${home} bot stop --pid ${pidFile}`);
      if (stop.code !== 0) throw new RemoteInstallError(this.target, 'start-bot', `stopping the old bot failed (exit ${stop.code}): ${lastLine(stop.stderr) || lastLine(stop.stdout)}`);
    }
    const command = launcher.command();
    const r = await this.link.exec(command, { timeoutMs: 120_000 });
    if (r.code !== 0) throw new RemoteInstallError(this.target, 'start-bot', `\`${command}\` failed (exit ${r.code}): ${lastLine(r.stderr) || lastLine(r.stdout)}`);
    this.opts.report.line(`  bot          ${running !== undefined && running.includes(`/versions/${id}/`) ? 'already running this version' : `started: ${lastLine(r.stdout) || 'ok'}`}`);
  }
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '';
}
