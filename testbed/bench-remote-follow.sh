#!/usr/bin/env bash
# Append-to-output latency of a remote node's message file, seen from the controller (issue
# #13): (A) `tt-ha follow --node replicant`, the replicant reached through its agent over ssh,
# against (B) `ssh HOST tail -F -n 0 FILE` with the same ssh options, interleaved A B A B.
#
#   sudo testbed/bench-remote-follow.sh [PAIRS] [RATE] [SECONDS]    (defaults: 5 1000 5)
#
# Brings up a two-host testbed (testbed/hosts.sh up; root), puts a replicant's folders and an
# agent node file on host b's private tmpfs, writes a controller config that reaches it by ssh,
# and runs testbed/bench_remote_follow.py: a writer on host b appends RATE lines a second; each
# line's append time is matched with when the follower's output line arrived. Prints p50 and
# p99 per run, the median and range of the A/B ratios, the controller-side CPU time of each
# follower, the context switches per line on the controller and on the node (load-robust
# counts of the wake-ups on the path), and the load. The testbed is taken down afterwards. BIN=DIR uses DIR/tt-ha
# instead of building the release binary.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench-remote-follow.sh: run as root (the testbed makes network namespaces)" >&2; exit 1; }
if [ -z "${BIN:-}" ]; then
    cargo build -q --release -p tt-ha --bin tt-ha
    bin=$PWD/target/release/tt-ha
else
    bin=$(cd "$BIN" && pwd)/tt-ha
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/tt-ha-bench-remote.XXXXXX")
trap 'testbed/hosts.sh down "$dir/hosts" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
mkdir -p "$dir/hosts"
testbed/hosts.sh up "$dir/hosts" >/dev/null
# shellcheck disable=SC1091
. "$dir/hosts/hosts.env"
n=$(cat "$dir/hosts/instance")
root=/srv/ttha-$n-b
addr=10.213.$n.3
home=$root/var/db
testbed/hosts.sh exec "$dir/hosts" b sh -c '
mkdir -p "$1/var/db" "$1/var/tt-ha"
printf "#rep_set_priority 0\n" > "$1/var/db/DB_CONFIG"
cat > "$1/node.toml" <<TOML
role = "replicant"
[node]
name = "rep"
address = "$2"
home = "$1/var/db"
run_dir = "$1/var/tt-ha"
process = { cmdline_contains = "no-such-server" }
service = { kind = "commands", start = ["true"], stop = ["true"], status = ["sh", "-c", "exit 3"] }
TOML
printf "#!/bin/sh\nexec \"%s\" \"\$@\" --node-config \"%s\"\n" "$3" "$1/node.toml" > "$1/agent.sh"
chmod 755 "$1/agent.sh"
' sh "$root" "$addr" "$bin"
mkdir -p "$dir/master/var/db"
printf '#rep_set_priority 1\n' >"$dir/master/var/db/DB_CONFIG"
cat >"$dir/tt-ha.toml" <<TOML
[master]
name = "mas"
address = "127.0.0.1"
home = "$dir/master/var/db"
backup_dir = "$dir/backup"
service = { kind = "commands", start = ["true"], stop = ["true"], status = ["true"] }
process = { name = "no-such-server" }

[[replicant]]
name = "rep"
address = "$addr"
home = "$home"
run_dir = "$root/var/tt-ha"
service = { kind = "commands", start = ["true"], stop = ["true"], status = ["true"] }
process = { name = "no-such-server" }
ssh = "ttha-b"
ssh_options = ["-F", "$dir/hosts/ssh_config"]
tt_ha = "$root/agent.sh"
TOML
echo "tt-ha $("$bin" --version 2>/dev/null || echo "$bin"); testbed instance $n; $(nproc) cores"
python3 testbed/bench_remote_follow.py "$dir/hosts" b "$dir/tt-ha.toml" "$home/\$DB_Msg.txt" "$bin" "${1:-5}" "${2:-1000}" "${3:-5}"
