#!/usr/bin/env bash
# `tt-ha verify` against what a person would do by hand (issue #15): on a sandbox of VOLUMES
# volumes after `apply`, the whole `tt-ha verify` process (A) against the whole pipeline
# "export both servers, sort both, comm -3" (B: `ttfs-sim export` stands in for TapeTrack's
# export tool), on the same pair, interleaved A B A B, PAIRS pairs. Prints each run's wall
# time and the CPU time (user+sys) of its child processes, then the median and range of the
# B/A wall-time ratio (above 1: tt-ha is faster). Both must find the servers equal. Not run in CI.
#   VOLUMES   volumes in the sandbox (default 1000000)
#   PAIRS     interleaved pairs (default 5)
#   DIR       work folder (default: a new one under /tmp; its servers stopped and removed at the end)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
volumes=${VOLUMES:-1000000}
pairs=${PAIRS:-5}
cargo build --release --manifest-path "$root/Cargo.toml" -p tt-ha --bin tt-ha >&2
cargo build --release --manifest-path "$root/Cargo.toml" -p ttfs-sim --bin ttfs-sim >&2
bin="$root/target/release/tt-ha"
sim="$root/target/release/ttfs-sim"
dir=${DIR:-$(mktemp -d /tmp/tt-ha-bench-verify.XXXXXX)}
trap '"$bin" demo --down "$dir/sb" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
echo "building a sandbox of $volumes volumes and applying (once) ..." >&2
"$bin" demo "$dir/sb" --no-open --volumes "$volumes" >/dev/null
"$bin" --config "$dir/sb/tt-ha.toml" apply --yes >/dev/null
ports=($(sed -n 's/^client_port = //p' "$dir/sb/tt-ha.toml"))
export LC_ALL=C
by_hand="'$sim' export --client-port ${ports[0]} > '$dir/m.csv' 2>/dev/null \
 && '$sim' export --client-port ${ports[1]} > '$dir/r.csv' 2>/dev/null \
 && sort -o '$dir/m.sorted' '$dir/m.csv' && sort -o '$dir/r.sorted' '$dir/r.csv' \
 && test \$(comm -3 '$dir/m.sorted' '$dir/r.sorted' | wc -l) -eq 0"
python3 - "$pairs" "$bin" "$dir/sb/tt-ha.toml" "$by_hand" <<'PY'
import resource, statistics, subprocess, sys, time
pairs, binary, config, by_hand = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
def timed(argv, shell=False):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.monotonic()
    rc = subprocess.run(argv, shell=shell, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    wall = time.monotonic() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert rc == 0, f"{argv} exited {rc}: the two servers must compare equal"
    return wall, cpu
ratios, cpu_ratios = [], []
for i in range(pairs):
    a = timed([binary, "--config", config, "verify"])
    b = timed(by_hand, shell=True)
    ratios.append(b[0] / a[0]); cpu_ratios.append(b[1] / a[1])
    print(f"pair {i+1}: tt-ha verify {a[0]:.2f} s wall, {a[1]:.2f} s cpu | export+sort+comm {b[0]:.2f} s wall, {b[1]:.2f} s cpu | ratio {ratios[-1]:.2f}")
print(f"wall-time ratio (by hand / tt-ha verify): median {statistics.median(ratios):.2f}, range {min(ratios):.2f}-{max(ratios):.2f} over {pairs} pairs")
print(f"client CPU ratio (by hand / tt-ha verify): median {statistics.median(cpu_ratios):.2f}, range {min(cpu_ratios):.2f}-{max(cpu_ratios):.2f}")
PY
