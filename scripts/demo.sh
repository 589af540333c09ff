#!/usr/bin/env bash
# The README's first command (`make demo`): the main job on the embedded default. A fresh harvester home
# (.demo-home in the checkout, unless HARVESTER_HOME is set) with no configuration at all: the shipped example's
# online queue "local" runs jobs as local processes. Adds a few sample jobs to the embedded job queue, runs the
# agents until every job has finished, and shows the final workers and jobs.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${HARVESTER_HOME:-}" ]; then
  export HARVESTER_HOME="$PWD/.demo-home"
  rm -rf "$HARVESTER_HOME"   # each demo starts from a first run
fi
harvester() { bin/harvester "$@"; }

echo "== harvester queues list   (the shipped example: examples/panda_queueconfig.json)"
harvester queues list
echo
echo "== harvester jobs add   (4 sample jobs in the embedded job queue; the last one fails on purpose)"
harvester jobs add --queue local --count 3 --command 'echo "job $HARVESTER_PANDA_ID, worker $HARVESTER_WORKER_ID, in $PWD"; sleep 1'
# A short stderr line, so that the workers table shows it whole (tables cut texts at 60 characters).
harvester jobs add --queue local --command 'echo "bad input" >&2; exit 3'
echo
echo "== harvester run --until-done   (every agent, pass after pass, until no job or worker is in progress)"
harvester run --until-done --timeout 300
echo
echo "== harvester workers list"
harvester workers list
echo
echo "== harvester jobs list"
harvester jobs list
echo
echo "demo done: home $HARVESTER_HOME (database harvester.db, logs/harvester.log, worker access points under workdir/)"
