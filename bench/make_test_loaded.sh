#!/usr/bin/env bash
# `make test` with two cores' worth of busy loops beside it (issue 16: the suite must
# hold on a loaded machine); prints the wall time and the load it ran under.
# Usage: bench/make_test_loaded.sh [busy loops, default 2]
set -uo pipefail
cd "$(dirname "$0")/.."
loops=()
for _ in $(seq "${1:-2}"); do
  python3 -c "while True: pass" &
  loops+=($!)
done
trap 'kill "${loops[@]}" 2>/dev/null' EXIT
sleep 5
uptime
start=$(date +%s)
make test
rc=$?
uptime
echo "make test: exit ${rc}, $(( $(date +%s) - start )) s wall with ${#loops[@]} busy loops"
exit "${rc}"
