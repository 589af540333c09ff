// bin/harvester of the offline bundle: a POSIX sh script (login nodes may have no Node.js at all) that runs
// lib/harvester.mjs with the bundle's own runtime when it has one, else with `node` from PATH, refusing in one
// line, with exit 127 (command not found), a node that is missing or too old.
import { MIN_NODE_VERSION } from './runtime-packages.js';

const [minMajor, minMinor] = MIN_NODE_VERSION.split('.');

/** The launcher's text (the same for every bundle: it is part of the bundle id's inputs all the same). */
export function launcherScript(): string {
  return `#!/bin/sh
# harvester-ts offline bundle: runs lib/harvester.mjs with runtime/bin/node when the bundle has it, else with
# node from PATH (>= ${MIN_NODE_VERSION}). Installed as versions/<id>/ and reached through a current -> versions/<id>
# link, or through a link to this file: the bundle root is found with the links resolved.
# (Shell built-ins only, but readlink for a linked launcher: PATH may hold next to nothing.)
parent() { case $1 in */*) printf '%s' "\${1%/*}" ;; *) echo . ;; esac; }
self=$0
while [ -L "$self" ]; do
  link=$(readlink "$self") || break
  case $link in
    /*) self=$link ;;
    *) self=$(parent "$self")/$link ;;
  esac
done
dir=$(CDPATH= cd -- "$(parent "$self")/.." && pwd -P) || exit 1

if [ -f "$dir/runtime/bin/node" ]; then
  node=$dir/runtime/bin/node
  if ! version=$("$node" --version 2>&1); then
    echo "harvester: the bundled Node.js does not run on this host (\${version:-$node --version failed}); install the bundle built for this platform, or with --node system" >&2
    exit 127
  fi
else
  node=$(command -v node 2>/dev/null) || node=
  found=none
  ok=
  if [ -n "$node" ]; then
    version=$("$node" --version 2>/dev/null) || version=
    found="\${version:-a node that does not run} at $node"
    digits=\${version#v}
    major=\${digits%%.*}
    rest=\${digits#*.}
    minor=\${rest%%.*}
    case "$major.$minor" in
      *[!0-9.]*|.*|*.) ;;
      *) if [ "$major" -gt ${minMajor} ] || { [ "$major" -eq ${minMajor} ] && [ "$minor" -ge ${minMinor} ]; }; then ok=1; fi ;;
    esac
  fi
  if [ -z "$ok" ]; then
    echo "harvester: no Node.js >= ${MIN_NODE_VERSION} on PATH (found $found); install the bundle with its runtime (remote-install --node bundled)" >&2
    exit 127
  fi
fi
exec "$node" "$dir/lib/harvester.mjs" "$@"
`;
}
