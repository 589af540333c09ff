#!/usr/bin/env bash
# The README's first command (`make demo`): check and show the shipped example configuration, then run one
# make -> submit -> check -> kill/sweep round of the dummy plugins of the local queue. Uses a harvester home
# inside the checkout (.demo-home) unless HARVESTER_HOME is set, so it never touches ~/.harvester.
set -euo pipefail
cd "$(dirname "$0")/.."
export HARVESTER_HOME="${HARVESTER_HOME:-$PWD/.demo-home}"
harvester() { node dist/src/cli/main.js "$@"; }

echo "== harvester queues check   (examples/panda_queueconfig.json, the shipped example)"
harvester queues check
echo
echo "== harvester queues show NERSC_Cori_rpc   (the wiki's seed queue: remote plugins, password masked)"
harvester queues show NERSC_Cori_rpc
echo
echo "== harvester plugins try --queue local --workers 5"
harvester plugins try --queue local --workers 5
echo
echo "demo done; logs in $HARVESTER_HOME/logs, worker access points under $HARVESTER_HOME/workdir"
