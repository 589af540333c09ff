// What remote-install needs to know about the remote host, asked in one shell session: OS, architecture and
// C library (which Node runtime runs there), a Node on PATH after the queue's remoteSetup, the tools the
// install uses, free space, and what is already installed.
import type { SshLink } from '../middleware/ssh/index.js';
import { shellQuote } from '../plugins/shell-quote.js';
import { RemoteInstallError, type InstallTarget } from './install-errors.js';

export interface RemoteFacts {
  /** `uname -s`, e.g. Linux. */
  readonly os: string;
  /** `uname -m`, e.g. x86_64. */
  readonly machine: string;
  readonly libc: { readonly kind: 'glibc' | 'musl' | 'unknown'; readonly version?: string };
  /** `node` on PATH after remoteSetup, with its version, when there is one that runs. */
  readonly systemNode?: { readonly path: string; readonly version: string };
  readonly home: string;
  /** The install directory, absolute. */
  readonly dir: string;
  /** Bytes free where the install directory is (or would be created). */
  readonly freeBytes: number;
  /** The command that prints a file's sha256 ("sha256sum", "shasum -a 256", "openssl dgst -sha256 -r"). */
  readonly sha256Command?: string;
  readonly missingTools: readonly string[];
  /** Version ids that `current` and `previous` point to. */
  readonly current?: string;
  readonly previous?: string;
  /** Version ids fully unpacked and verified. */
  readonly complete: readonly string[];
}

/** The probe, run by /bin/sh from stdin after remoteSetup; prints key=value lines. */
function probeScript(dir: string): string {
  return `
dir=${shellQuote(dir)}
case "$dir" in /*) ;; *) dir="$HOME/$dir" ;; esac
echo "home=$HOME"
echo "dir=$dir"
echo "os=$(uname -s 2>/dev/null)"
echo "machine=$(uname -m 2>/dev/null)"
if ls /lib/ld-musl-* >/dev/null 2>&1; then echo "libc=musl"
elif v=$(getconf GNU_LIBC_VERSION 2>/dev/null); then echo "libc=glibc \${v#glibc }"
else echo "libc=unknown"; fi
if n=$(command -v node 2>/dev/null) && v=$("$n" -e 'process.stdout.write(process.versions.node)' 2>/dev/null); then echo "node=$n"; echo "nodeVersion=$v"; fi
for t in tar gzip mkdir mv ln rm; do command -v "$t" >/dev/null 2>&1 || echo "missing=$t"; done
if command -v sha256sum >/dev/null 2>&1; then echo "sha256=sha256sum"
elif command -v shasum >/dev/null 2>&1; then echo "sha256=shasum -a 256"
elif command -v openssl >/dev/null 2>&1; then echo "sha256=openssl dgst -sha256 -r"
else echo "missing=sha256sum"; fi
d="$dir"; while [ ! -d "$d" ]; do d=$(dirname "$d"); done
echo "freeKb=$(df -Pk "$d" 2>/dev/null | awk 'NR==2 {print $4}')"
if [ -d "$dir" ]; then
  c=$(readlink "$dir/current" 2>/dev/null) && echo "current=\${c#versions/}"
  p=$(readlink "$dir/previous" 2>/dev/null) && echo "previous=\${p#versions/}"
  for v in "$dir"/versions/*; do [ -f "$v/.complete" ] && echo "complete=\${v##*/}"; done
fi
echo "end=1"
`;
}

export async function probeRemote(link: SshLink, target: InstallTarget, remoteSetup: string | undefined): Promise<RemoteFacts> {
  const command = remoteSetup ? `${remoteSetup} && exec /bin/sh -s` : 'exec /bin/sh -s';
  let result;
  try {
    result = await link.exec(command, { input: probeScript(target.dir), timeoutMs: 60_000 });
  } catch (error) {
    throw new RemoteInstallError(target, 'probe', (error as Error).message, { cause: error });
  }
  const lines = result.stdout.split('\n');
  if (result.code !== 0 || !lines.includes('end=1')) {
    const detail = lastLine(result.stderr) || lastLine(result.stdout) || `exit ${result.code}`;
    throw new RemoteInstallError(target, remoteSetup ? 'remote-setup' : 'probe', remoteSetup ? `"${remoteSetup}" failed (exit ${result.code}): ${detail}` : `the probe failed (exit ${result.code}): ${detail}`);
  }
  return parseFacts(lines, target);
}

export function parseFacts(lines: readonly string[], target: InstallTarget): RemoteFacts {
  const values = new Map<string, string>();
  const missing: string[] = [];
  const complete: string[] = [];
  for (const line of lines) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === 'missing') missing.push(value);
    else if (key === 'complete') complete.push(value);
    else values.set(key, value);
  }
  const libcText = values.get('libc') ?? 'unknown';
  const [libcKind, libcVersion] = libcText.split(' ');
  const freeKb = Number(values.get('freeKb'));
  if (!Number.isFinite(freeKb)) throw new RemoteInstallError(target, 'probe', `cannot tell the free space of ${values.get('dir') ?? target.dir} (df printed nothing usable)`);
  const node = values.get('node');
  const nodeVersion = values.get('nodeVersion');
  return {
    os: values.get('os') ?? '',
    machine: values.get('machine') ?? '',
    libc: { kind: libcKind === 'glibc' || libcKind === 'musl' ? libcKind : 'unknown', ...(libcVersion ? { version: libcVersion } : {}) },
    ...(node && nodeVersion ? { systemNode: { path: node, version: nodeVersion } } : {}),
    home: values.get('home') ?? '',
    dir: values.get('dir') ?? target.dir,
    freeBytes: freeKb * 1024,
    ...(values.has('sha256') ? { sha256Command: values.get('sha256') } : {}),
    missingTools: missing,
    ...(values.get('current') ? { current: values.get('current') } : {}),
    ...(values.get('previous') ? { previous: values.get('previous') } : {}),
    complete,
  };
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '';
}
