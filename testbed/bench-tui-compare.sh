#!/usr/bin/env bash
# The compare of records in the terminal app (`v` on the monitor screen) against its anchor,
# `tt-ha verify` (issue #15): on a sandbox of VOLUMES volumes after `apply`, the whole
# `tt-ha verify` process (A) and the whole `tt-ha monitor` process in tmux, `v`, waiting for
# EQUAL on the screen, Esc Esc (B), interleaved A B A B, PAIRS pairs; then the monitor alone
# for as long (C: what the screen costs without the compare). Prints each run's CPU time
# (user+sys, load-robust) and wall time, then the medians and ranges of the CPU times. B's wall
# time includes the screen-reading waits of this script: compare CPU, not wall. Not run in CI.
#   VOLUMES   volumes in the sandbox (default 200000)
#   PAIRS     interleaved pairs (default 5)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
volumes=${VOLUMES:-200000}
pairs=${PAIRS:-5}
cargo build --release --manifest-path "$root/Cargo.toml" -p tt-ha --bin tt-ha -p ttfs-sim >&2
bin="$root/target/release/tt-ha"
dir=$(mktemp -d /tmp/tt-ha-bench-tui-compare.XXXXXX)
sock="$dir/tmux.sock"
trap 'tmux -S "$sock" kill-server 2>/dev/null || true; "$bin" demo --down "$dir/sb" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
"$bin" demo "$dir/sb" --no-open --volumes "$volumes" >/dev/null
cfg="$dir/sb/tt-ha.toml"
"$bin" --config "$cfg" apply --yes >/dev/null
# CPU (user+sys of the child) and wall seconds of one command, into $1.
cat >"$dir/ru.py" <<'PY'
import resource, subprocess, sys, time
t = time.monotonic()
subprocess.call(sys.argv[2:], stdout=subprocess.DEVNULL if not sys.stdout.isatty() else None)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write(f"{r.ru_utime + r.ru_stime:.3f} {time.monotonic() - t:.3f}\n")
PY
tui() { # $1 out file, $2 yes: press v and wait for EQUAL
  tmux -S "$sock" new-session -d -s tt -x 80 -y 24 -e LANG=C.UTF-8 -- python3 "$dir/ru.py" "$1" "$bin" --config "$cfg" monitor
  sleep 1
  if [ "$2" = yes ]; then
    tmux -S "$sock" send-keys -t tt v
    for _ in $(seq 1 1200); do tmux -S "$sock" capture-pane -p -t tt | grep -q EQUAL && break; sleep 0.1; done
    tmux -S "$sock" capture-pane -p -t tt | grep -q "equal  *$(echo "$volumes" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta')" || echo "warning: the counts were not read on the screen" >&2
    tmux -S "$sock" send-keys -t tt Escape; sleep 0.3
  else
    sleep 0.8
  fi
  tmux -S "$sock" send-keys -t tt Escape
  for _ in $(seq 1 100); do [ -s "$1" ] && break; sleep 0.1; done
  tmux -S "$sock" kill-server 2>/dev/null || true
}
for i in $(seq 1 "$pairs"); do
  python3 "$dir/ru.py" "$dir/a.$i" "$bin" --config "$cfg" verify >/dev/null
  tui "$dir/b.$i" yes
  echo "pair $i: A verify $(cat "$dir/a.$i")  B monitor+v $(cat "$dir/b.$i")  (cpu s, wall s)"
done
for i in $(seq 1 "$pairs"); do tui "$dir/c.$i" no; done
for k in a b c; do
  cat "$dir"/$k.* | awk '{print $1}' | sort -n | awk -v k=$k '{v[NR]=$1} END {m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%s cpu median %.3f s, range %.3f-%.3f s\n", (k=="a"?"A verify":k=="b"?"B monitor+v":"C monitor alone"), m, v[1], v[NR]}'
done
