#!/usr/bin/env bash
# `tt-ha check` repeated with nothing appended (issue #11 §2, bar: under 50 ms): two message
# files of ~1 GB each made of real lines (tests/fixtures/bdb/*.txt repeated), a first check
# (reads both whole and writes the seek file), then the same check timed RUNS times as a
# process. Prints the median and range. Not run in CI.
#   TT_HA_BIN   binary to time (default: builds and uses target/release/tt-ha)
#   GB          size of each file in GB (default 1)
#   RUNS        timed runs (default 7)
#   DIR         work folder (default: a new one under /tmp; removed at the end)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${TT_HA_BIN:-}
if [ -z "$bin" ]; then
    cargo build --release --manifest-path "$root/Cargo.toml" -p tt-ha >&2
    bin="$root/target/release/tt-ha"
fi
gb=${GB:-1}
runs=${RUNS:-7}
dir=${DIR:-$(mktemp -d /tmp/tt-ha-bench-check.XXXXXX)}
trap 'rm -rf "$dir"' EXIT
want=$((gb * 1000000000))
for node in master replicant; do
    home="$dir/$node/var/db"
    mkdir -p "$home"
    cp "$root/templates/DB_CONFIG" "$home/DB_CONFIG"
    f="$home/\$DB_Msg.txt"
    cat "$root"/tests/fixtures/bdb/*-"$node".txt > "$dir/one"
    : > "$f"
    while [ "$(stat -c %s "$f")" -lt "$want" ]; do cat "$dir/one" >> "$f"; done
done
mkdir -p "$dir/backup"
cat > "$dir/tt-ha.toml" <<'TOML'
[master]
name = "ttmaster"
address = "127.0.0.1"
replication_port = 5110
home = "master/var/db"
backup_dir = "backup"
service = { kind = "commands", start = ["true"], stop = ["true"], status = ["true"] }
process = { name = "ttfs-sim" }

[[replicant]]
name = "ttreplicant"
address = "127.0.0.1"
replication_port = 5111
client_port = 5001
home = "replicant/var/db"
service = { kind = "commands", start = ["true"], stop = ["true"], status = ["true"] }
process = { name = "ttfs-sim" }
TOML
sizes=$(stat -c %s "$dir"/master/var/db/\$DB_Msg.txt "$dir"/replicant/var/db/\$DB_Msg.txt | tr '\n' ' ')
t0=$(date +%s.%N)
"$bin" check --config "$dir/tt-ha.toml" > "$dir/first.out" || true
t1=$(date +%s.%N)
echo "files: $sizes bytes; first check (whole read): $(echo "$t1 - $t0" | bc) s: $(head -1 "$dir/first.out")"
times=()
for _ in $(seq "$runs"); do
    s=$(date +%s%N)
    "$bin" check --config "$dir/tt-ha.toml" > "$dir/again.out" || true
    e=$(date +%s%N)
    times+=($(( (e - s) / 1000 )))
    cmp -s <(head -1 "$dir/first.out") <(head -1 "$dir/again.out") || { echo "the repeated check answered otherwise" >&2; exit 1; }
done
sorted=($(printf '%s\n' "${times[@]}" | sort -n))
n=${#sorted[@]}
echo "repeated check, nothing appended, $n runs: median $(echo "scale=1; ${sorted[$((n / 2))]} / 1000" | bc) ms, range $(echo "scale=1; ${sorted[0]} / 1000" | bc)-$(echo "scale=1; ${sorted[$((n - 1))]} / 1000" | bc) ms"
