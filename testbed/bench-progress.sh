#!/usr/bin/env bash
# Measures the initial copy's percent and time left against the truth.
#
#   testbed/bench-progress.sh                 replay the recorded copies (tests/fixtures/progress)
#   testbed/bench-progress.sh 3000000 10000000  also run live copies of that many volumes
#
# Replay: examples/progress_replay.rs feeds a replicant's message file at its own stamps and
# compares, every 0.25 s, the time left the monitor would show with the real time left to
# `Start-up is done`. Live: `tt-ha demo DIR --no-open --volumes N`, then `tt-ha apply --yes`
# with each output line stamped; testbed/bench_progress.py judges the `start pending` lines
# against the copy's real end, and the run's message file is replayed too. The bar: after the
# first tenth of the copy every time left within ±30% (or 2 s when less than 5 s are left),
# the percent never goes back, no false diagnosis. Sandboxes are stopped and deleted after.
set -euo pipefail
cd "$(dirname "$0")/.."
# BIN=DIR runs DIR/tt-ha (ttfs-sim beside it) and DIR/progress_replay instead of building.
if [ -z "${BIN:-}" ]; then
    cargo build -q --workspace --examples
    bin=target/debug/tt-ha
    replay=target/debug/examples/progress_replay
else
    bin=$BIN/tt-ha
    replay=$BIN/progress_replay
fi
fx=tests/fixtures/progress

echo "== replay of recorded copies (with the master's sizes)"
for f in "$fx"/*-replicant.txt; do
    run=$(basename "$f" -replicant.txt)
    printf '%-6s ' "$run"
    "$replay" "$f" "$fx/$run.sizes" | grep '^summary'
done

for n in "$@"; do
    dir=$(mktemp -d "${TMPDIR:-/tmp}/tt-ha-bench-progress.XXXXXX")
    trap '"$bin" demo --down "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
    echo "== live copy of $n volumes in $dir (load $(cat /proc/loadavg))"
    start=$(date +%s)
    "$bin" demo "$dir/s" --no-open --volumes "$n" >/dev/null
    echo "seeded in $(($(date +%s) - start)) s"
    stamp() { python3 -u -c 'import sys,time
for l in sys.stdin: print("%.3f %s" % (time.time(), l.rstrip()), flush=True)'; }
    # A 10M-volume master can take longer than the default 60 s to serve after its regions
    # moved: apply then stops at master.start, and a second apply resumes there.
    "$bin" --config "$dir/s/tt-ha.toml" apply --yes 2>&1 | stamp >"$dir/apply.log" ||
        "$bin" --config "$dir/s/tt-ha.toml" apply --yes 2>&1 | stamp >>"$dir/apply.log"
    msg="$dir/s/replicant/TapeTrack Framework Server/var/db/\$DB_Msg.txt"
    home="$dir/s/master/TapeTrack Framework Server/var/db"
    grep 'start pending\|proof:' "$dir/apply.log" || true
    python3 testbed/bench_progress.py "$dir/apply.log" "$msg" | tail -1
    printf 'replay '
    "$replay" "$msg" "$home" | grep '^summary'
    if [ -n "${KEEP:-}" ]; then
        mkdir -p "$KEEP"
        cp "$msg" "$KEEP/$n-replicant.txt"
        cp "$dir/apply.log" "$KEEP/$n-apply.log"
        # The master's database files and sizes (`name bytes`), for the replay.
        python3 - "$home" >"$KEEP/$n.sizes" <<'PY'
import os, struct, sys
MAGICS = {0x053162, 0x061561, 0x042253, 0x074582}
for n in sorted(os.listdir(sys.argv[1])):
    p = os.path.join(sys.argv[1], n)
    if os.path.isfile(p) and not os.path.islink(p):
        h = open(p, "rb").read(16)
        if len(h) == 16 and {struct.unpack("<I", h[12:])[0], struct.unpack(">I", h[12:])[0]} & MAGICS:
            print(n, os.path.getsize(p))
PY
        echo "load after: $(cat /proc/loadavg)" >"$KEEP/$n.load"
    fi
    "$bin" demo --down "$dir/s" >/dev/null 2>&1 || true
    rm -rf "$dir"
    trap - EXIT
done
